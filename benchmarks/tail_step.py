"""One default training step (or one evaluation) per tail path, in alternating rounds:
the fused tail (models/fused.py), the fused tail on dropout spans only, and torch's ops.

    .venv/bin/python benchmarks/tail_step.py nb002-cnn [--batch 128] [--optimizer adam]
                                             [--precision bf16] [--split 2] [--rounds 6] [--eval]

The model as mnistlab.models.build makes it, channels_last, one thread per chunk of the
batch split (as fit runs it on a CPU), random images; process CPU ms per step (all threads;
wall time on a shared machine mostly measures its load), median over the rounds, each round
20 steps after 3 warm-up steps. --eval times mnistlab.train.loop.evaluate on 4,096 images
instead (inference: the fused tail leaves it to torch since 2026-12-07, so it shows parity).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from mnistlab.hardware import machine_line
from mnistlab.models import ZOO, build, layers
from mnistlab.train.loop import autocast, evaluate
from mnistlab.train.optim import check_optimizer, make_optimizer
from mnistlab.train.parallel import BatchSplit

DEFAULTS = {"nb000-cnn": (512, "rmsprop"), "nb002-cnn": (128, "adam")}


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("model", help="a zoo model, or a recipe whose model to build (e.g. fast)")
    p.add_argument("--batch", type=int)
    p.add_argument("--optimizer")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    p.add_argument("--split", type=int, default=2)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--eval", action="store_true")
    a = p.parse_args(argv)
    batch, opt_name = DEFAULTS.get(a.model, (256, "adam"))
    batch, opt_name = a.batch or batch, a.optimizer or opt_name
    torch.set_num_threads(1 if a.split > 1 else torch.get_num_threads())
    spec = a.model
    if a.model not in ZOO:
        from mnistlab.train import load_recipe
        spec = load_recipe(a.model).to_dict()["model"]
    torch.manual_seed(0)
    net = build(spec).to(memory_format=torch.channels_last).train()
    opt = make_optimizer(net.parameters(), check_optimizer({"name": opt_name}))
    h, w, c = net.input_shape
    x = torch.rand(batch, c, h, w).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    xe = torch.randint(0, 256, (4096, h, w, c), dtype=torch.uint8)
    ye = torch.randint(0, 10, (4096,))
    split = BatchSplit(net, a.split, 0) if a.split > 1 else None
    plan = layers._fused_plan

    def dropout_spans_only(n):
        return [s for s in plan(n) if s[2].rate > 0]

    def step():
        if split is not None:
            split.step(x, y, penalty=None, label_smoothing=0.0, autocast=lambda: autocast(x.device, a.precision))
        else:
            with autocast(x.device, a.precision):
                loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        opt.step()

    def evaluation():
        evaluate(net, xe, ye, split=split)
        net.train()

    work, reps = (evaluation, 3) if a.eval else (step, 20)
    res = {"fused": [], "fused, dropout spans only": [], "torch ops": []}
    try:
        for r in range(a.rounds):
            for k in (list(res) if r % 2 == 0 else list(res)[::-1]):
                layers.use_kernels(net, "torch" if k == "torch ops" else "fused")
                layers._fused_plan = dropout_spans_only if k.endswith("only") else plan
                net.__dict__.pop("_fused_cache", None)
                for _ in range(3):
                    work()
                t = time.process_time()
                for _ in range(reps):
                    work()
                res[k].append((time.process_time() - t) / reps * 1e3)
    finally:
        layers._fused_plan = plan
        if split is not None:
            split.close()
    print(machine_line())
    print(f"{a.model}, batch {batch}, {opt_name}, {a.precision}, batch split {a.split}, "
          f"{'evaluation of 4096 images' if a.eval else 'training step'}; process CPU ms, "
          f"median of {a.rounds} alternating rounds")
    for k, v in res.items():
        print(f"  {k:<26} {statistics.median(v):8.2f}  ({', '.join(f'{t:.1f}' for t in v)})")


if __name__ == "__main__":
    main()
