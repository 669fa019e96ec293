"""Steady-state seconds per epoch: mnistlab vs a plain PyTorch loop vs Keras 3 (if installed).

    .venv/bin/python benchmarks/epoch_speed.py [--epochs 4] [--threads N] [--only nb000-cnn] [--bf16]
                                               [--rounds 3] [--backends tensorflow jax]
    .venv/bin/python benchmarks/epoch_speed.py --precisions [--epochs 2] [--rounds 3] [--train-images N]
    .venv/bin/python benchmarks/epoch_speed.py --bridge [--epochs 3] [--rounds 2] [--train-images N]

For notebook 000's CNN (RMSprop, batch 512) and notebook 002's (Adam, batch 128), each
framework trains 4 epochs on MNIST with validation_split=0.2 (48k train + 12k validation,
as in the notebooks); the number reported is the median of epochs 2..4 (epoch 1 pays for
warm-up), training plus validation, which is what Keras' per-epoch time includes.
The "plain PyTorch" loop is the tutorial one: float tensors, DataLoader(shuffle=True),
torch.optim, validation through a DataLoader, the layers in Keras order with nn.Dropout;
"PyTorch, tensors" is the same model and optimiser in a good hand-written loop (one float
tensor in memory, a permutation per epoch, slices, no DataLoader). Keras runs from `.venv-peers` (see
benchmarks/peers/README.md) once per installed backend. All runs happen in this one
invocation, one after the other, so the ratios hold even on a busy shared machine.
With --rounds R, each model is measured R times (all frameworks back to back in every
round) and the summary gives each cell's median and the median of the per-round ratios: on
a shared host, a peer's time can move 2x between rounds. With --bf16, mnistlab also runs with `precision: bf16` (bfloat16 autocast) and Keras with
its `mixed_bfloat16` policy, each compared with its own kind. The "mnistlab" column
runs `precision: auto` and its header says what auto chose.

With --precisions, only mnistlab runs: per model (the two notebook CNNs and recipes/fast.yaml)
and round, `precision: fp32`, `bf16` and `auto` one after the other (the order rotating per
round), auto each time in an empty cache so it measures afresh. The table gives the median
epoch time of each and what auto chose in each round, and how far auto's choice is from the
faster of fp32/bf16 (the issue's target: within 5%).

With --bridge, the Keras bridge's rows: per model, the user's Keras model (built and compiled
by keras_epoch.py, saved as .keras before training) trained by Keras 3 on the torch backend
(this venv's keras, the dev extra) and on TensorFlow/JAX where .venv-peers has them, and the
same saved model handed to mnistlab.fit("model.keras", ...), same data, batch and epochs;
the order alternates per round, and the table gives medians over the rounds.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PEER_ENV = dict(os.environ)  # Keras runs with the environment we were given
# As the mnistlab CLI does. The in-process PyTorch loops run under it too; on an idle machine
# torch's default (active) policy made the "tensors" loop ~8% faster (3.7 vs 4.0 s/epoch for
# nb000-cnn) and mnistlab's batch split ~1.6x slower (4.0 vs 2.5 s).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CASES = [("nb000-cnn", 512, "rmsprop"), ("nb002-cnn", 128, "adam")]
PRECISION_CASES = CASES + [("fast", 256, None)]  # None: the packaged recipe as it is


def steady(seconds: list[float]) -> float:
    return statistics.median(seconds[1:4])


def mnistlab_epochs(model: str, bs: int, opt: str | None, epochs: int, dataset, precision="auto") -> list[float]:
    return mnistlab_run(model, bs, opt, epochs, dataset, precision)[0]


def mnistlab_run(model: str, bs: int, opt: str | None, epochs: int, dataset, precision="auto",
                 fresh_cache=False, kernels=None) -> tuple[list[float], str, str, str]:
    """(seconds per epoch, the precision the run used, how config.yaml says it was chosen, the
    kernels path it used).
    `opt` None: the packaged recipe `model` as it is (data and all), at `epochs`.
    `fresh_cache`: precision auto measures in an empty cache instead of reusing a choice.
    `kernels`: the recipe's `kernels` setting (None: the recipe's own, auto)."""
    from mnistlab.train import train_run, load_recipe, open_run
    if opt is None:
        recipe = load_recipe(model, epochs=epochs, device="cpu", precision=precision, kernels=kernels)
    else:
        recipe = {"model": model, "data": {"validation_split": 0.2}, "optimizer": {"name": opt},
                  "batch_size": bs, "epochs": epochs, "device": "cpu", "precision": precision,
                  **({"kernels": kernels} if kernels else {})}
    with tempfile.TemporaryDirectory() as out:
        old = os.environ.get("XDG_CACHE_HOME")
        if fresh_cache:
            os.environ["XDG_CACHE_HOME"] = str(Path(out) / "cache")
        try:
            run = open_run(train_run(recipe, dataset=dataset, out=out, quiet=True))
        finally:
            if fresh_cache:
                os.environ.pop("XDG_CACHE_HOME") if old is None else os.environ.__setitem__("XDG_CACHE_HOME", old)
        line = next(l for l in (run.dir / "config.yaml").read_text().splitlines() if l.startswith("precision:"))
        return ([row["seconds"] for row in run.history.rows], run.config["precision"], line.partition("#")[2].strip(),
                run.config["kernels"])


def tutorial_model(model: str) -> torch.nn.Sequential:
    """The spec's layers as a tutorial writes them: the Keras order (ReLU, then pooling) and
    nn.Dropout, without mnistlab's speed-ups (pool before ReLU, a cheaper dropout mask)."""
    from mnistlab.models import build, resolve_spec
    from mnistlab.models.layers import Pool2d
    mods = list(build(resolve_spec(model)))
    for i in range(len(mods) - 1):
        if isinstance(mods[i], Pool2d) and type(mods[i + 1]) is torch.nn.ReLU:
            mods[i], mods[i + 1] = mods[i + 1], mods[i]
    return torch.nn.Sequential(*[torch.nn.Dropout(m.p) if isinstance(m, torch.nn.Dropout) else m for m in mods])


def plain_torch_epochs(model: str, bs: int, opt: str, epochs: int, dataset) -> list[float]:
    """The tutorial loop: DataLoader(shuffle=True) for training, a DataLoader for validation."""
    from torch.utils.data import DataLoader, TensorDataset
    x_tr, y_tr, x_va, y_va = _float_split(dataset)
    train = DataLoader(TensorDataset(x_tr, y_tr), batch_size=bs, shuffle=True)
    val = DataLoader(TensorDataset(x_va, y_va), batch_size=bs)
    return _torch_epochs(model, opt, epochs, lambda: train, lambda: val)


def tensor_torch_epochs(model: str, bs: int, opt: str, epochs: int, dataset) -> list[float]:
    """A good hand-written loop: one float tensor in memory, a permutation per epoch and
    slices (no DataLoader), torch's threads."""
    x_tr, y_tr, x_va, y_va = _float_split(dataset)

    def train():
        perm = torch.randperm(len(x_tr))
        return ((x_tr[idx], y_tr[idx]) for idx in perm.split(bs))

    return _torch_epochs(model, opt, epochs, train, lambda: zip(x_va.split(bs), y_va.split(bs)))


def _float_split(dataset):
    """Float NCHW training images split 80/20 like validation_split=0.2: (x_tr, y_tr, x_va, y_va)."""
    x = dataset.x_train.permute(0, 3, 1, 2).float() / 255
    n_train = int(len(x) * 0.8)
    return x[:n_train], dataset.y_train[:n_train], x[n_train:], dataset.y_train[n_train:]


def _torch_epochs(model: str, opt: str, epochs: int, train_batches, val_batches) -> list[float]:
    """The PyTorch peers' shared loop: the tutorial model, torch.optim with Keras' defaults,
    seconds per epoch (training + validation) over the given batch iterables."""
    torch.manual_seed(0)
    net = tutorial_model(model)
    optimizer = (torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7) if opt == "rmsprop"
                 else torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7))
    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        net.train()
        for xb, yb in train_batches():
            loss = F.cross_entropy(net(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            for xb, yb in val_batches():
                F.cross_entropy(net(xb), yb)
        times.append(time.perf_counter() - t)
    return times


def keras_epochs(model: str, bs: int, opt: str, epochs: int, backend: str, precision="fp32", save=None,
                 train_images=None) -> list[float] | None:
    python = ROOT / ".venv-peers" / "bin" / "python"
    if backend == "torch":  # Keras 3 on torch runs from this venv (keras is in the dev extra)
        python = Path(sys.executable)
    if not python.exists():
        return None
    from mnistlab.models import resolve_spec
    env = {**PEER_ENV, "MNISTLAB_DATA": os.environ["MNISTLAB_DATA"], "KERAS_BACKEND": backend,
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [str(python), str(ROOT / "benchmarks" / "peers" / "keras_epoch.py"), "--spec",
           json.dumps(resolve_spec(model)), "--batch-size", str(bs), "--optimizer", opt, "--epochs", str(epochs), "--precision", precision]
    cmd += ["--save", str(save)] if save else []
    cmd += ["--train-images", str(train_images)] if train_images else []
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return None  # backend not installed
    return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, help="torch.set_num_threads for both torch runs (default: torch's)")
    ap.add_argument("--only", help="one model name")
    ap.add_argument("--no-keras", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="add bfloat16 rows for mnistlab and Keras (TensorFlow)")
    ap.add_argument("--rounds", type=int, default=1, help="measure each model this many times")
    ap.add_argument("--backends", nargs="+", default=["tensorflow", "jax"], help="Keras backends to time")
    ap.add_argument("--precisions", action="store_true",
                    help="mnistlab only: fp32 vs bf16 vs auto per model (nb000-cnn, nb002-cnn, fast)")
    ap.add_argument("--train-images", type=int, metavar="N", help="use the first N training images (default: all)")
    ap.add_argument("--bridge", action="store_true",
                    help="the Keras bridge: a Keras model trained by Keras (torch backend, and TensorFlow/JAX "
                         "from .venv-peers) vs the same saved model handed to mnistlab.fit")
    ap.add_argument("--kernels", action="store_true",
                    help="mnistlab only: the fused CPU tail (kernels: fused) vs torch's ops (kernels: torch), "
                         "interleaved")
    ap.add_argument("--precision", default="auto", help="with --kernels: the precision both paths run")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("MNISTLAB_DATA", str(ROOT.parent / "shared" / "data"))
    from mnistlab.data import load_dataset
    dataset = load_dataset("mnist")
    if args.train_images:
        dataset = dataset.take(args.train_images)
    from mnistlab.hardware import machine_line, precision_auto
    print(machine_line())
    if args.precisions:
        return precision_table(args, dataset)
    if args.bridge:
        return bridge_table(args, dataset)
    if args.kernels:
        return kernels_table(args, dataset)
    print(f"mnistlab runs its per-machine defaults (precision auto: {precision_auto(torch.device('cpu'))} "
          f"here; 'measure': timed per model, the choice printed per round); the peers run fp32")
    rows = []
    for model, bs, opt in CASES:
        if args.only and model != args.only:
            continue
        for _ in range(args.rounds):
            res = measure(model, bs, opt, args, dataset)
            rows.append((model, bs, res))
            print(model, {k: round(v, 2) for k, v in res.items()}, flush=True)
    print_table(rows)
    if args.rounds > 1:
        print(f"\nMedians over {args.rounds} rounds (the ratio column: median of the per-round ratios):")
        summary = []
        for model, bs, _ in rows[::args.rounds]:
            mine = [res for m, _, res in rows if m == model]
            cells = {k: statistics.median(r[k] for r in mine) for k in mine[0]}
            summary.append((model, bs, cells, statistics.median(fp32_ratio(r) for r in mine)))
        print_table([(m, b, c) for m, b, c, _ in summary], ratios=[r for *_, r in summary])


def kernels_table(args, dataset) -> None:
    """The fused tail (models/fused.py) against torch's ops, per model, in rounds whose order
    alternates (A B, B A, ...); both paths in one process, the same precision setting."""
    from mnistlab.models.fused import status
    print(f"fused kernels: {status()[1]}")
    results = {}
    for model, bs, opt in PRECISION_CASES:
        if args.only and model != args.only:
            continue
        for r in range(args.rounds):
            for k in (["fused", "torch"] if r % 2 == 0 else ["torch", "fused"]):
                secs, used, how, _ = mnistlab_run(model, bs, opt, args.epochs, dataset, args.precision, kernels=k)
                results.setdefault(model, {}).setdefault(k, []).append(steady(secs))
                print(f"{model} round {r + 1} kernels {k}: {steady(secs):.2f} s/epoch ({used}; "
                      f"all epochs {', '.join(f'{x:.2f}' for x in secs)})", flush=True)
    print(f"\nSeconds per epoch (median of epochs 2..{min(args.epochs, 4)}), medians over {args.rounds} rounds:")
    print("| model | fused | torch ops | torch / fused (median of rounds; min..max) |")
    print("|---|---|---|---|")
    for model, cells in results.items():
        ratios = [t / f for t, f in zip(cells["torch"], cells["fused"])]
        print(f"| {model} | {statistics.median(cells['fused']):.2f} | {statistics.median(cells['torch']):.2f} | "
              f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}..{max(ratios):.2f}) |")


def precision_table(args, dataset) -> None:
    """fp32, bf16 and auto per model, interleaved over rounds; auto measures afresh each round."""
    results = {}
    for model, bs, opt in PRECISION_CASES:
        if args.only and model != args.only:
            continue
        for r in range(args.rounds):
            order = ["fp32", "bf16", "auto"]
            order = order[r % 3:] + order[:r % 3]  # each precision takes each slot in turn
            for p in order:
                secs, used, how, _ = mnistlab_run(model, bs, opt, args.epochs, dataset, p, fresh_cache=True)
                results.setdefault((model, bs), {}).setdefault(p, []).append((steady(secs), used))
                print(f"{model} round {r + 1} {p}: {steady(secs):.2f} s/epoch"
                      + (f" -> {used} ({how})" if p == "auto" else ""), flush=True)
    print(f"\nMedian seconds per epoch (epochs 2..{min(args.epochs, 4)}) over {args.rounds} rounds; "
          "auto measured afresh each round:")
    print("| model (batch) | fp32 | bf16 | auto | auto chose | auto's choice vs the faster |")
    print("|---|---|---|---|---|---|")
    for (model, bs), cells in results.items():
        med = {p: statistics.median(t for t, _ in cells[p]) for p in cells}
        chose = [used for _, used in cells["auto"]]
        # what choosing costs, independent of the auto runs' own noise: the chosen
        # precision's median against the faster one's, averaged over the rounds' choices
        cost = statistics.mean(med[c] for c in chose) / min(med["fp32"], med["bf16"]) - 1
        tally = ", ".join(f"{c} {chose.count(c)}/{len(chose)}" for c in sorted(set(chose)))
        print(f"| {model} ({bs}) | {med['fp32']:.2f} s | {med['bf16']:.2f} s | {med['auto']:.2f} s | {tally} | "
              f"{cost * 100:+.1f}% |")


def bridge_table(args, dataset) -> None:
    """Keras trains its model; mnistlab.fit trains the same saved .keras file; interleaved."""
    import mnistlab
    backends = ["torch"] + [b for b in args.backends if (ROOT / ".venv-peers" / "bin" / "python").exists()]
    results = {}
    for model, bs, opt in CASES:
        if args.only and model != args.only:
            continue
        for r in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                saved = Path(tmp) / "model.keras"
                jobs = [(f"Keras 3 ({b})", b) for b in backends] + [("mnistlab.fit(model.keras)", None)]
                if r % 2:
                    jobs.reverse()  # each side goes first in every other round
                for label, backend in jobs:
                    if backend is None:
                        if not saved.exists():  # the first Keras run saves the model
                            keras_epochs(model, bs, opt, 1, "torch", save=saved, train_images=64)
                        run = mnistlab.fit(str(saved), dataset=dataset, batch_size=bs, epochs=args.epochs,
                                           validation_split=0.2, device="cpu", precision="fp32", quiet=True,
                                           report=False,
                                           out=Path(tmp) / "runs")
                        secs = list(run.history["seconds"])
                    else:
                        secs = keras_epochs(model, bs, opt, args.epochs, backend, save=saved,
                                            train_images=args.train_images)
                    if secs is None:
                        continue
                    results.setdefault((model, bs), {}).setdefault(label, []).append(steady(secs))
                    print(f"{model} round {r + 1} {label}: {steady(secs):.2f} s/epoch", flush=True)
    print(f"\nThe Keras bridge: median seconds per epoch (epochs 2..{min(args.epochs, 4)}) over {args.rounds} "
          "rounds, training + validation (validation_split=0.2), fp32:")
    labels = list(next(iter(results.values())))
    print("| model (batch) | " + " | ".join(labels) + " | Keras (torch) / mnistlab |")
    print("|---" * (len(labels) + 2) + "|")
    for (model, bs), cells in results.items():
        med = {k: statistics.median(v) for k, v in cells.items()}
        ratio = med["Keras 3 (torch)"] / med["mnistlab.fit(model.keras)"]
        print(f"| {model} ({bs}) | " + " | ".join(f"{med[k]:.2f} s" for k in labels) + f" | {ratio:.2f}x |")


def measure(model, bs, opt, args, dataset) -> dict:
    secs, used, _, kernels = mnistlab_run(model, bs, opt, args.epochs, dataset)
    print(f"{model}: mnistlab's precision auto chose {used}, kernels auto {kernels}", flush=True)
    res = {"mnistlab": steady(secs),
           "plain PyTorch": steady(plain_torch_epochs(model, bs, opt, args.epochs, dataset)),
           "PyTorch, tensors": steady(tensor_torch_epochs(model, bs, opt, args.epochs, dataset))}
    if not args.no_keras:
        for backend in args.backends:
            secs = keras_epochs(model, bs, opt, args.epochs, backend)
            if secs is not None:
                res[f"Keras 3 ({backend})"] = steady(secs)
    if args.bf16:
        res["mnistlab bf16"] = steady(mnistlab_epochs(model, bs, opt, args.epochs, dataset, "bf16"))
        if not args.no_keras:
            secs = keras_epochs(model, bs, opt, args.epochs, "tensorflow", "bf16")
            if secs is not None:
                res["Keras 3 (tensorflow) bf16"] = steady(secs)
    return res


def fp32_ratio(res: dict) -> float:
    """How many times faster mnistlab (its defaults) is than the fastest fp32 Keras backend (the
    issue's target), or than the fastest PyTorch loop when Keras is not installed."""
    keras = [v for k, v in res.items() if k.startswith("Keras") and "bf16" not in k]
    peers = keras or [v for k, v in res.items() if "PyTorch" in k]
    return min(peers) / res["mnistlab"]


def print_table(rows, ratios=None) -> None:
    bf16 = any("mnistlab bf16" in res for _, _, res in rows)
    against = "Keras" if any(k.startswith("Keras") for k in rows[0][2]) else "PyTorch loop"
    print("\n| model (batch) | " + " | ".join(rows[0][2]) + f" | mnistlab vs fastest fp32 {against} |"
          + (" bf16 vs fastest peer |" if bf16 else ""))
    print("|---" * (len(rows[0][2]) + 2 + bf16) + "|")
    for i, (model, bs, res) in enumerate(rows):
        cells = " | ".join(f"{v:.2f} s" for v in res.values())
        ratio = ratios[i] if ratios else fp32_ratio(res)
        line = f"| {model} ({bs}) | {cells} | {ratio:.2f}x |"
        if bf16:
            peers = [v for k, v in res.items() if not k.startswith("mnistlab")]
            line += f" {min(peers) / res['mnistlab bf16']:.2f}x |"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
