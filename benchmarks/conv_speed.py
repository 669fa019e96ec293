"""nb000-cnn's two convolutions alone, forward + backward: oneDNN (torch's CPU path, as
mnistlab trains them) against an unfold + matmul formulation, interleaved rounds.

    .venv/bin/python benchmarks/conv_speed.py [--batch 512] [--threads 1] [--rounds 7] [--reps 5]

Shapes are nb000-cnn's: 1 -> 10 channels at 28x28 (the first layer: no input gradient) and
10 -> 4 at 13x13, 3x3 kernels, valid padding, channels_last, fp32. Each round times --reps
passes of each formulation back to back (order alternating per round); prints each one's
median ms per pass and the median of the per-round ratios. What it is for: whether these
few-channel convolutions, a fixed half of an nb000 step (docs/speed.md), leave room that a
native kernel could take.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from mnistlab.hardware import machine_line

SHAPES = [(1, 10, 28), (10, 4, 13)]  # (in channels, out channels, input height = width)


def onednn(x, w, b):
    y = F.conv2d(x, w, b)
    y.backward(torch.ones_like(y))


def unfold_matmul(x, w, b):
    n, _, h, wd = x.shape
    cols = F.unfold(x, 3)  # N, cin*9, oh*ow
    y = torch.matmul(w.view(w.shape[0], -1), cols) + b.view(1, -1, 1)
    y.view(n, -1, h - 2, wd - 2).backward(torch.ones(n, w.shape[0], h - 2, wd - 2))


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(machine_line())
    paths = {"oneDNN": onednn, "unfold + matmul": unfold_matmul}
    for cin, cout, hw in SHAPES:
        x = torch.randn(args.batch, cin, hw, hw).contiguous(memory_format=torch.channels_last)
        x.requires_grad_(cin > 1)  # the first layer's input needs no gradient
        w = torch.randn(cout, cin, 3, 3, requires_grad=True)
        b = torch.zeros(cout, requires_grad=True)
        for f in paths.values():
            f(x, w, b)  # warm-up: oneDNN builds its kernels on first use
        times = {k: [] for k in paths}
        for r in range(args.rounds):
            for name in (list(paths) if r % 2 == 0 else list(paths)[::-1]):
                start = time.perf_counter()
                for _ in range(args.reps):
                    paths[name](x, w, b)
                times[name].append((time.perf_counter() - start) / args.reps)
        ratio = statistics.median(u / o for u, o in zip(times["unfold + matmul"], times["oneDNN"]))
        print(f"conv {cin} -> {cout} at {hw}x{hw}, batch {args.batch}, {args.threads} thread(s), forward + backward: "
              + ", ".join(f"{k} {statistics.median(v) * 1e3:.2f} ms" for k, v in times.items())
              + f" (unfold + matmul / oneDNN {ratio:.2f})")


if __name__ == "__main__":
    main()
