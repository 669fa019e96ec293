"""The fused tail alone: max pool -> ReLU -> dropout, forward + backward, fused kernel vs
torch's ops (layers.Pool2d, ReLU, layers.Dropout), interleaved rounds.

    .venv/bin/python benchmarks/tail_speed.py [--shape 512 10 26 26] [--pool 2] [--rate 0.1]
                                              [--dtype fp32|bf16] [--threads 2] [--rounds 7]

Each round times --reps forward+backward passes of each path back to back (order
alternating per round); prints each path's median ms per pass, the ratio's median over
rounds and the spread (min..max of the per-round ratios), and a plain copy of the input
as the memory floor.
"""
from __future__ import annotations

import argparse
import statistics

import torch

from interleaved import time_rounds  # benchmarks/ is the script's own folder
from mnistlab.hardware import machine_line
from mnistlab.models import fused
from mnistlab.models.layers import Dropout, Pool2d


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--shape", type=int, nargs=4, default=[512, 10, 26, 26], metavar=("N", "C", "H", "W"))
    p.add_argument("--pool", type=int, default=2)
    p.add_argument("--padding", default="valid")
    p.add_argument("--rate", type=float, default=0.1)
    p.add_argument("--no-relu", action="store_true")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--reps", type=int, default=20)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    n, c, h, w = a.shape
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    x = torch.randn(n, c, h, w).to(dtype).contiguous(memory_format=torch.channels_last).requires_grad_()
    pool = Pool2d("max", (h, w, c), a.pool, a.pool, a.padding)
    drop = Dropout(a.rate).train()
    relu = not a.no_relu
    t = fused.Tail(a.pool, a.pool, a.pool, a.pool, pool.pads or (0, 0, 0, 0), relu, a.rate)
    lib = fused._lib()
    assert lib is not None, fused.status()[1]

    def ref():
        y = pool(x)
        y = drop(torch.relu(y) if relu else y)
        y.backward(gy)

    def fus():
        fused._TailFn.apply(x, lib, t, 1234).backward(gy)

    def copy():
        x.detach().clone()

    with torch.no_grad():
        gy = torch.randn_like(pool(x.detach()))
    paths = {"torch ops": ref, "fused": fus, "copy of x": copy}
    for f in paths.values():
        for _ in range(3):
            f()
    times = {k: [t * 1e3 for t in v] for k, v in time_rounds(paths, a.rounds, a.reps).items()}
    print(machine_line())
    print(f"NHWC {n}x{h}x{w}x{c} {a.dtype}, pool {a.pool} {a.padding}, relu {relu}, dropout {a.rate}, "
          f"forward + backward, {a.threads} threads, {a.rounds} rounds x {a.reps} passes")
    for k, v in times.items():
        print(f"  {k:<10} {statistics.median(v):7.2f} ms  (rounds: {', '.join(f'{x:.2f}' for x in v)})")
    ratios = [r / f for r, f in zip(times["torch ops"], times["fused"])]
    print(f"  torch ops / fused: median {statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})")


if __name__ == "__main__":
    main()
