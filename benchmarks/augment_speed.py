"""Cost of on-device augmentation: a training epoch with it vs without it (target <= 1.5x).

Two measurements with the record recipe's model on real MNIST batches:
1. steps: training steps (uint8 -> float, [augment], forward, backward, update) for the
   settings interleaved step by step, median per setting, times the steps of a 60k epoch.
   Interleaving makes it robust to other processes on a shared machine.
2. --fit: whole epochs through `mnistlab.train.fit` (history.csv seconds), each setting in
   interleaved rounds keeping its fastest; closer to real use but noisy on a busy machine.

    python benchmarks/augment_speed.py [--recipe recipes/records/mnist-6k.yaml]
                                       [--steps 300] [--threads 1] [--fit [--samples 20000] [--epochs 3] [--rounds 2]]

Run by hand (never in CI); MNISTLAB_DATA must point at the data (e.g. ../shared/data).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import tempfile
import time

import torch

from mnistlab.data import load_dataset
from mnistlab.train import train_run, load_recipe, open_run
from mnistlab.train.augment import augment_batch

SETTINGS = {
    "none": None,
    "affine (records)": {"rotation_range": 8, "width_shift_range": 0.08, "height_shift_range": 0.08,
                         "zoom_range": 0.08},
    "affine + elastic": {"rotation_range": 8, "width_shift_range": 0.08, "height_shift_range": 0.08,
                         "zoom_range": 0.08, "elastic": {"alpha": 1.5, "sigma": 7.0}},
}


def epoch_seconds(recipe, ds, epochs: int) -> float:
    """Median training-epoch seconds (history.csv's `seconds`), first epoch left out as warm-up."""
    with tempfile.TemporaryDirectory() as out:
        run = open_run(train_run(recipe, dataset=ds, out=out, quiet=True))
        seconds = [row["seconds"] for row in run.history.rows]
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


def step_times(recipe: dict, ds, steps: int) -> dict[str, float]:
    """Median ms per training step for each setting, run interleaved on the same batches."""
    import torch.nn.functional as F

    from mnistlab.models import build
    from mnistlab.train.augment import validate_augment
    from mnistlab.train.optim import make_optimizer

    model = build(recipe["model"])
    optimizer = make_optimizer(model.parameters(), recipe["optimizer"])
    cfgs = {name: validate_augment(cfg) for name, cfg in SETTINGS.items()}
    g = torch.Generator().manual_seed(0)
    bs, n = recipe["batch_size"], len(ds.x_train)
    times: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for i in range(steps):
        name = list(SETTINGS)[i % len(SETTINGS)]
        at = (i * bs) % (n - bs)
        start = time.perf_counter()
        x = ds.x_train[at:at + bs].permute(0, 3, 1, 2).float().div_(255)
        x = augment_batch(x, cfgs[name], g)
        loss = F.cross_entropy(model(x), ds.y_train[at:at + bs])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t[2:]) * 1000 for name, t in times.items()}


def batch_ms(cfg: dict, batch: int, repeats: int = 30) -> float:
    x = torch.rand(batch, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    augment_batch(x, cfg, g)
    start = time.perf_counter()
    for _ in range(repeats):
        augment_batch(x, cfg, g)
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="recipes/records/mnist-6k.yaml")
    ap.add_argument("--samples", type=int, default=20000, help="training images per epoch")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per setting (first is warm-up)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved repetitions; the fastest counts")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=300, help="interleaved training steps in all")
    ap.add_argument("--fit", action="store_true", help="also time whole epochs through train_run()")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)  # a benchmark script: fixed threads for comparable numbers

    ds = load_dataset("mnist")
    base = load_recipe(args.recipe, epochs=args.epochs).to_dict()
    bs = base["batch_size"]
    from mnistlab.hardware import machine_line
    print(machine_line())
    print(f"{args.recipe}: batch {bs}, {args.threads} thread(s)")
    step_ms = step_times(base, ds, args.steps)
    epoch_steps = math.ceil(len(ds.x_train) / bs)
    print(f"{'augmentation':<18} {'aug ms/batch':>12} {'step ms':>8} {'s/epoch (60k)':>14} {'x plain':>8}")
    for name, cfg in SETTINGS.items():
        only = batch_ms(cfg, bs) if cfg else 0.0
        print(f"{name:<18} {only:>12.2f} {step_ms[name]:>8.2f} {step_ms[name] * epoch_steps / 1000:>14.2f} "
              f"{step_ms[name] / step_ms['none']:>8.2f}")
    if not args.fit:
        return
    sub = dataclasses.replace(ds, x_train=ds.x_train[:args.samples], y_train=ds.y_train[:args.samples],
                              x_test=ds.x_test[:1000], y_test=ds.y_test[:1000])
    seconds = {name: math.inf for name in SETTINGS}
    for _ in range(args.rounds):
        for name, cfg in SETTINGS.items():
            seconds[name] = min(seconds[name], epoch_seconds({**base, "augment": cfg}, sub, args.epochs))
    print(f"train_run(): {args.samples} images/epoch, fastest of {args.rounds} rounds")
    for name in SETTINGS:
        print(f"{name:<18} {seconds[name]:>9.2f} s/epoch {seconds[name] / seconds['none']:>8.2f}x")

if __name__ == "__main__":
    main()
