"""The zoo's few-channel 3x3 convolutions alone, forward + backward: oneDNN (torch's CPU
path, as mnistlab trains them), torch's unfold + matmul, and a plain direct C kernel
(benchmarks/c/direct_conv.c, built here with the machine's compiler), interleaved rounds.

    .venv/bin/python benchmarks/conv_speed.py [--model nb000-cnn|nb002-cnn] [--batch N]
        [--threads 1] [--rounds 7] [--reps 5]

Shapes are the model's convolutions (valid padding, stride 1, channels_last, fp32) at its
seed's batch (nb000: 512, nb002: 128). The first layer computes no input gradient. Each
round times --reps passes of each formulation back to back (order reversed every other
round); prints each one's median ms per pass, the median per-round ratio to oneDNN, the
largest difference of each formulation's output and gradients from oneDNN's, and, for the
direct kernel, its forward alone with the output kept in cache ("no write": the ceiling of
fusing the convolution with the pooling after it). What it is for: whether these
convolutions, half or more of a zoo CNN's step (docs/speed.md), leave room that a native
kernel could take. Without a C compiler the direct kernel is left out, with a line saying so.
"""
from __future__ import annotations

import argparse
import ctypes
import statistics
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from interleaved import time_rounds  # benchmarks/ is the script's own folder
from mnistlab.hardware import machine_line
from mnistlab.models import native

# (in channels, out channels, input height = width) per model; batch as the seed trains it
MODELS = {"nb000-cnn": (512, [(1, 10, 28), (10, 4, 13)]),
          "nb002-cnn": (128, [(1, 8, 28), (8, 8, 26), (8, 16, 12), (16, 16, 10)])}
VL = 16  # the kernel pads rows to whole 16-float vectors


class _Shape(ctypes.Structure):
    _fields_ = [(k, ctypes.c_int64) for k in ("n", "h", "w", "ci", "co", "kh", "kw")] + [("threads", ctypes.c_int32)]


def _up(a: int) -> int:
    return (a + VL - 1) // VL * VL


def _tiled(w: torch.Tensor, width: int) -> torch.Tensor:
    """w [co, ci, 3, 3] -> [ci*9, up(width*co)]: row (c, ky, kx) holds w[o, c, ky, kx] at x*co + o."""
    co = w.shape[0]
    t = w.permute(1, 2, 3, 0).reshape(-1, 1, co).expand(-1, width, co).reshape(-1, width * co)
    return F.pad(t, (0, _up(width * co) - width * co)).contiguous()


def _build() -> ctypes.CDLL | None:
    cc = native.compiler()
    if cc is None:
        print("direct C kernel: no C compiler, left out")
        return None
    flags = ["-O3", "-march=native", "-std=gnu11", "-fPIC", "-shared", "-fno-math-errno", "-fopenmp"]
    src = (Path(__file__).parent / "c" / "direct_conv.c").read_bytes()
    with tempfile.TemporaryDirectory(prefix="mnistlab-conv-") as tmp:  # a loaded library outlives its file
        out = Path(tmp) / "direct_conv.so"
        err = native._build(cc, flags, src, out)  # mnistlab's own build step (atomic, first error line)
        if err is not None:
            print(f"direct C kernel: building it failed ({err}), left out")
            return None
        return ctypes.CDLL(str(out))


def _p(t: torch.Tensor):
    return ctypes.c_void_p(t.data_ptr())


def paths(lib, n, cin, cout, hw, threads):
    """{name: pass} and {name: (output, weight grad, bias grad, input grad) after one pass}."""
    oh = hw - 2
    x = torch.randn(n, cin, hw, hw).contiguous(memory_format=torch.channels_last)
    # the weights with channels_last strides, as a model moved to channels_last holds them:
    # for one input channel .contiguous(memory_format=...) keeps the NCHW strides, and oneDNN
    # then takes a weight-gradient path 2-3x slower than the one a training step takes
    w = torch.empty((cout, cin, 3, 3), memory_format=torch.channels_last).copy_(torch.randn(cout, cin, 3, 3) * 0.3)
    b = torch.randn(cout)
    go = torch.randn(n, cout, oh, oh).contiguous(memory_format=torch.channels_last)
    need_gi = cin > 1
    out = {}

    def onednn():
        return torch.ops.aten.convolution_backward(go, x, w, [cout], [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
                                                   [need_gi, True, True]), F.conv2d(x, w, b)

    def unfold_matmul():
        cols = F.unfold(x, 3)  # N, cin*9, oh*ow
        y = torch.matmul(w.reshape(cout, -1), cols) + b.view(1, -1, 1)
        g = go.reshape(n, cout, -1)
        gw = torch.matmul(g, cols.transpose(1, 2)).sum(0).view_as(w)
        gi = F.fold(torch.matmul(w.reshape(cout, -1).t(), g), (hw, hw), 3) if need_gi else None
        return (gi, gw, g.sum((0, 2))), y.view(n, cout, oh, oh)

    fns = {"oneDNN": onednn, "unfold + matmul": unfold_matmul}
    for name, f in fns.items():
        (gi, gw, gb), y = f()
        out[name] = (y, gw, gb, gi)
    if lib is not None:
        s = _Shape(n, hw, hw, cin, cout, 3, 3, threads)
        xs = x.permute(0, 2, 3, 1)  # NHWC storage of the channels_last tensor
        gos = go.permute(0, 2, 3, 1)
        wt, bt = _tiled(w, oh), F.pad(b.repeat(oh), (0, _up(oh * cout) - oh * cout)).contiguous()
        wtb, zeros = _tiled(w.flip(2, 3).transpose(0, 1), hw), torch.zeros(_up(hw * cin))
        y = torch.empty(n, oh, oh, cout)
        gw_t, gb_t = torch.empty(cin * 9, _up(oh * cout)), torch.empty(_up(oh * cout))
        gi = torch.empty(n, hw, hw, cin)

        def direct():
            lib.conv_forward(ctypes.byref(s), _p(xs), _p(wt), _p(bt), _p(y))
            lib.conv_wgrad(ctypes.byref(s), _p(xs), _p(gos), _p(gw_t), _p(gb_t))
            if need_gi:
                lib.conv_dgrad(ctypes.byref(s), _p(gos), _p(wtb), _p(zeros), _p(gi))

        sink = torch.empty(1)  # one value written, so the compiler keeps the computation

        def direct_nowrite():
            lib.conv_forward_nowrite(ctypes.byref(s), _p(xs), _p(wt), _p(bt), _p(sink))

        direct()
        gw = gw_t[:, :oh * cout].reshape(cin, 3, 3, oh, cout).sum(3).permute(3, 0, 1, 2)
        out["direct C"] = (y.permute(0, 3, 1, 2), gw, gb_t[:oh * cout].view(oh, cout).sum(0),
                           gi.permute(0, 3, 1, 2) if need_gi else None)
        fns["direct C"] = direct
        fns["direct C forward, no write"] = direct_nowrite
        fns["oneDNN forward"] = lambda: F.conv2d(x, w, b)
    return fns, out


def _difference(ref, got) -> float:
    """The largest difference from oneDNN, relative to the largest magnitude, over the output
    and the gradients."""
    return max(float((g - r).abs().max() / r.abs().max()) for r, g in zip(ref, got) if r is not None)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=sorted(MODELS), default="nb000-cnn")
    p.add_argument("--batch", type=int, default=None, help="default: the seed's batch for --model")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args(argv)
    batch, shapes = MODELS[args.model]
    batch = args.batch or batch
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        print(machine_line())
        lib = _build()
        for cin, cout, hw in shapes:
            fns, outs = paths(lib, batch, cin, cout, hw, args.threads)
            times = time_rounds(fns, args.rounds, args.reps)
            print(f"conv {cin} -> {cout} at {hw}x{hw}, batch {batch}, {args.threads} thread(s):")
            for name, ts in times.items():
                line = f"  {name:28s} {statistics.median(ts) * 1e3:7.2f} ms"
                if name in ("unfold + matmul", "direct C"):
                    ratio = statistics.median(o / u for u, o in zip(ts, times["oneDNN"]))
                    line += f"  oneDNN / this {ratio:.2f}, largest difference {_difference(outs['oneDNN'], outs[name]):.1e}"
                print(line)
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
