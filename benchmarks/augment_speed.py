"""Cost of on-device augmentation: seconds per training epoch with and without it.

Runs `mnistlab.train.fit` (the real training path) on the same MNIST subset with the
record recipe's model, once with `augment: null` and once per augmentation setting, and
prints the median epoch time of each and its ratio to the plain epoch. Target: <= 1.5x.

    python benchmarks/augment_speed.py [--recipe recipes/records/mnist-6k.yaml]
                                       [--samples 20000] [--epochs 3] [--rounds 2] [--threads 1]

Settings are run in interleaved rounds (none, affine, elastic, none, ...) and each keeps its
fastest round, so load from other processes on a shared machine biases no setting.

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
from mnistlab.train import fit, load_recipe, load_run
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
        run = load_run(fit(recipe, dataset=ds, out=out, quiet=True, report=False))
        seconds = [row["seconds"] for row in run.history]
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


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
    args = ap.parse_args()
    torch.set_num_threads(args.threads)  # a benchmark script: fixed threads for comparable numbers

    ds = load_dataset("mnist")
    ds = dataclasses.replace(ds, x_train=ds.x_train[:args.samples], y_train=ds.y_train[:args.samples],
                             x_test=ds.x_test[:1000], y_test=ds.y_test[:1000])
    base = load_recipe(args.recipe, epochs=args.epochs).to_dict()
    print(f"{args.recipe}: {args.samples} images/epoch, batch {base['batch_size']}, {args.threads} thread(s)")
    print(f"{'augmentation':<20} {'ms/batch (aug only)':>20} {'s/epoch':>9} {'x plain':>8}")
    seconds = {name: math.inf for name in SETTINGS}
    for _ in range(args.rounds):
        for name, cfg in SETTINGS.items():
            seconds[name] = min(seconds[name], epoch_seconds({**base, "augment": cfg}, ds, args.epochs))
    plain = seconds["none"]
    for name, cfg in SETTINGS.items():
        only = batch_ms(cfg, base["batch_size"]) if cfg else 0.0
        print(f"{name:<20} {only:>20.2f} {seconds[name]:>9.2f} {seconds[name] / plain:>8.2f}")


if __name__ == "__main__":
    main()
