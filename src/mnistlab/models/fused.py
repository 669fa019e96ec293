"""The fused tail: max pooling -> ReLU -> dropout (or any contiguous part of it) as one
native forward pass and one backward pass (kernels/pooltail.c, built by models/native.py).

Why: for the zoo's small CNNs, torch's CPU max pooling, dropout (uniform draws, compare,
multiply) and ReLU's backward vectorise over channels, and 10 channels fill less than one
vector; with a zero fill and a copy per op they took about half of an nb000 step
(benchmarks/profile_step.py, docs/speed.md). The kernel reads the convolution's output once,
writes the result and one byte per output element (window argmax, dropout keep, ReLU pass),
and backward gathers each input's gradient in one pass.

Numbers: pooling, ReLU and the gradients are exactly torch's (same tie rule: the first
maximum in window order, NaN wins); dropout keeps each element with probability 1 - rate and
scales by 1 / (1 - rate) as layers.Dropout does, but the mask comes from a counter-based
draw keyed by one 63-bit draw of the dropout generator per call (the run's torch generator,
or the batch-split worker's), so it depends on the seed, the step and the element index
only: the same mask for any thread count, and a resumed run (whose checkpoint restores the
generators) continues identically. It is a different mask from torch's, so a run's numbers
differ from the reference path's within the run-to-run spread (docs/speed.md).

Where it runs: training steps (a forward that will run backward) on a CPU; inference is
left to torch's ops, which are as fast without backward. Float32 and bfloat16, NHWC
(channels_last) or NCHW tensors, windows up to 16 cells (pool 4x4), any strides and Keras
padding. Everything else (a GPU, tracing, ONNX export, torch.compile, hooks on the layers,
float64) runs the modules themselves. Which path a run's steps take is its recipe's
`kernels` setting (auto | torch | fused; layers.use_kernels sets it on the built model):
`auto` times both on the run's own step and keeps the fused tail only where it is clearly
faster (train/kernels.py; docs/speed.md says why it is not simply on). Without a C
compiler they run with one `mnistlab: warning:` line; `status()` says which (`mnistlab doctor`).
"""
from __future__ import annotations

import contextlib
import ctypes
import math
import struct
from pathlib import Path
import threading
from dataclasses import dataclass

import torch

from mnistlab.errors import warn
from mnistlab.models.native import library

MAX_WINDOW = 16  # the code byte holds the window position in 4 bits
MAX_ROW = 1 << 15  # W * C elements: the kernels keep a few rows on the thread's stack


class _Args(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int64), ("h", ctypes.c_int64), ("w", ctypes.c_int64), ("c", ctypes.c_int64),
                ("oh", ctypes.c_int64), ("ow", ctypes.c_int64),
                ("kh", ctypes.c_int32), ("kw", ctypes.c_int32), ("sh", ctypes.c_int32), ("sw", ctypes.c_int32),
                ("pt", ctypes.c_int32), ("pl", ctypes.c_int32), ("relu", ctypes.c_int32), ("dropout", ctypes.c_int32),
                ("cut", ctypes.c_uint32), ("scale", ctypes.c_float), ("key", ctypes.c_uint64),
                ("threads", ctypes.c_int32)]


@dataclass(frozen=True)
class Tail:
    """One fused span: pool (kh, kw, sh, sw) with Keras pads (left, right, top, bottom), or a
    1x1 window for ReLU/dropout alone; `relu`; dropout `rate` (0: none)."""
    kh: int = 1
    kw: int = 1
    sh: int = 1
    sw: int = 1
    pads: tuple = (0, 0, 0, 0)
    relu: bool = False
    rate: float = 0.0

    def out_hw(self, h: int, w: int) -> tuple[int, int]:
        left, right, top, bottom = self.pads
        return (h + top + bottom - self.kh) // self.sh + 1, (w + left + right - self.kw) // self.sw + 1


_lock = threading.Lock()
_warned: set = set()


def _lib():
    """The loaded kernels, or None (with one warning per process saying why it is slower)."""
    lib, how = library("pooltail")
    if lib is None:
        warn_once(f"the fused max-pool/ReLU/dropout kernels are not available ({how}); training uses "
                   "torch's ops, which are slower on CPU (install gcc or set CC; docs/speed.md)")
        return None
    if not getattr(lib, "_mnistlab_checked", False):
        with _lock:
            lib.tail_args_size.restype = ctypes.c_int64
            if lib.tail_args_size() != ctypes.sizeof(_Args):  # pragma: no cover - a stale or foreign build
                warn_once(f"the fused kernels in {how} do not match this mnistlab; using torch's ops")
                return None
            for fn in ("tail_forward_f32", "tail_forward_bf16", "tail_backward_f32", "tail_backward_bf16"):
                getattr(lib, fn).restype = ctypes.c_int
            lib._mnistlab_checked = True
    return lib


def warn_once(message: str) -> None:
    with _lock:
        if message in _warned:
            return
        _warned.add(message)
    warn(message)


def available() -> bool:
    """The kernels build and load here; when they do not, the one warning line says why
    (once per process). Asked only where they would run: `kernels: fused`, or `kernels: auto`
    on a model it would time."""
    return _lib() is not None


def status() -> tuple[bool, str]:
    """(whether the kernels load here, the cached library or why not), without a warning
    (`mnistlab doctor`)."""
    lib, how = library("pooltail")
    return lib is not None, how


def build_id() -> str | None:
    """The loaded library's file name (its name holds the hash of the source, compiler, flags
    and CPU: models/native.py), or None: part of the key of a cached timing of it."""
    lib = library("pooltail")[0]
    return Path(lib._name).name if lib is not None else None


def fits(shape, t: Tail) -> bool:
    """A tensor of `shape` (N, C, H, W or N, F) fits the kernels' row buffers for span `t`."""
    row = shape[1] * shape[3] if len(shape) == 4 else shape[1]  # W * C (at most, in either layout)
    return row * max(t.kw, 2) <= MAX_ROW


def usable(x: torch.Tensor) -> bool:
    """The fused kernels can take this tensor in this context."""
    return (type(x) is torch.Tensor and x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16)
            and x.dim() in (2, 4) and not torch.jit.is_tracing() and not torch.jit.is_scripting() and not torch.onnx.is_in_onnx_export()
            and not torch.compiler.is_compiling() and not _has_global_hooks())


def _has_global_hooks() -> bool:
    from torch.nn.modules import module as m
    return bool(m._global_forward_hooks or m._global_forward_pre_hooks)


def _nhwc(x: torch.Tensor):
    """(x as stored, N, H, W, C of its NHWC view, memory format) or None when not contiguous."""
    if x.dim() == 2:
        return (x, x.shape[0], 1, 1, x.shape[1], torch.contiguous_format) if x.is_contiguous() else None
    n, c, h, w = x.shape
    if x.is_contiguous(memory_format=torch.channels_last):
        return x, n, h, w, c, torch.channels_last
    if x.is_contiguous():  # NCHW: N*C one-channel images
        return x, n * c, h, w, 1, torch.contiguous_format
    return None


def _args(t: Tail, n, h, w, c, key: int) -> _Args:
    oh, ow = t.out_hw(h, w)
    left, _, top, _ = t.pads
    # batch split sets torch's threads to 1 (each worker thread owns a core), and so do we
    threads = torch.get_num_threads()
    # keep when the draw's top 24 bits u * 2^24 >= cut: u >= rate, with u in [0, 1) as torch's draws
    cut = math.ceil(t.rate * (1 << 24))
    return _Args(n, h, w, c, oh, ow, t.kh, t.kw, t.sh, t.sw, top, left, int(t.relu), int(t.rate > 0),
                 cut, 0.0, key, max(1, threads))


def _scale(t: Tail, dtype) -> float:
    """1 / (1 - rate) rounded to the tensor's type, as the reference's mask of that type is
    (computed here in Python: a tensor read would count as a host read)."""
    if t.rate == 0:
        return 1.0
    bits = struct.unpack("<I", struct.pack("<f", 1.0 / (1.0 - t.rate)))[0]
    if dtype == torch.bfloat16:  # round to nearest even on the top 16 bits
        bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def _ptr(x: torch.Tensor):
    return ctypes.c_void_p(x.data_ptr())


def _forward(lib, t: Tail, x: torch.Tensor, key, save: bool):
    """key: an int, or a 0-d int64 tensor the kernel reads it from."""
    stored = _nhwc(x)
    if stored is None:
        x = x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x.contiguous()
        stored = _nhwc(x)
    x, n, h, w, c, fmt = stored
    key_tensor = key if isinstance(key, torch.Tensor) else None
    a = _args(t, n, h, w, c, 0 if key_tensor is not None else key)
    a.scale = _scale(t, x.dtype)
    if x.dim() == 2:
        y = torch.empty_like(x)
    else:
        y = torch.empty((x.shape[0], x.shape[1], a.oh, a.ow), dtype=x.dtype, memory_format=fmt)
    code = torch.empty(y.shape, dtype=torch.uint8, memory_format=fmt if x.dim() == 4 else torch.contiguous_format) \
        if save else None
    fn = lib.tail_forward_bf16 if x.dtype == torch.bfloat16 else lib.tail_forward_f32
    fn(ctypes.byref(a), _ptr(x), _ptr(y), _ptr(code) if save else None,
       _ptr(key_tensor) if key_tensor is not None else None)
    if key_tensor is not None:
        a.key = 0  # backward does not draw
    return y, code, a, fmt


class _TailFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lib, t, key):
        y, code, a, fmt = _forward(lib, t, x, key, save=True)
        ctx.lib, ctx.t, ctx.a, ctx.fmt, ctx.xshape, ctx.dtype = lib, t, a, fmt, x.shape, x.dtype
        ctx.save_for_backward(code)
        ctx.mark_non_differentiable(code)
        return y

    @staticmethod
    def backward(ctx, gy):
        (code,) = ctx.saved_tensors
        a = ctx.a
        a.threads = max(1, torch.get_num_threads())
        gy = gy.to(ctx.dtype)
        gy = gy.contiguous(memory_format=ctx.fmt) if gy.dim() == 4 else gy.contiguous()
        gx = torch.empty(ctx.xshape, dtype=ctx.dtype, memory_format=ctx.fmt)
        fn = ctx.lib.tail_backward_bf16 if ctx.dtype == torch.bfloat16 else ctx.lib.tail_backward_f32
        fn(ctypes.byref(a), _ptr(gy), _ptr(code), _ptr(gx))
        return gx, None, None, None


def _key(generator: torch.Generator | None) -> torch.Tensor:
    """One draw of the generator (63 bits) as a tensor: the kernel reads it from its storage."""
    return torch.empty((), dtype=torch.int64).random_(generator=generator)


def tail(x: torch.Tensor, t: Tail, *, training: bool, generator: torch.Generator | None = None):
    """What Net.forward calls: the span's output through the kernels in a step that will run
    backward, or None (the caller runs the modules). Inference is left to torch: its max_pool2d
    without indices and in-place ReLU were faster than the fused forward alone (fast.yaml's
    evaluation: 158 vs 184 ms CPU, docs/speed.md), and the fusion pays off in backward."""
    if not (torch.is_grad_enabled() and x.requires_grad):
        return None
    return apply(x, t, training=training, generator=generator)


def apply(x: torch.Tensor, t: Tail, *, training: bool, generator: torch.Generator | None = None):
    """The span's output through the kernels, or None when they do not take x.
    Dropout applies only when `training`."""
    lib = _lib()
    if lib is None or x.numel() == 0:
        return None
    if not training and t.rate > 0:
        t = Tail(t.kh, t.kw, t.sh, t.sw, t.pads, t.relu, 0.0)
    if t == Tail():
        return x  # an identity: eval-mode dropout alone
    if not fits(x.shape, t):
        warn_once(f"a {tuple(x.shape)} tensor is wider than the fused kernels take ({MAX_ROW} values per "
                  "row); its max pooling / dropout run on torch's ops, which are slower on CPU")
        return None
    key = _key(generator) if t.rate > 0 else 0
    # named for benchmarks/profile_step.py; the label costs tens of microseconds, so only then
    with torch.profiler.record_function("mnistlab::pool_tail") if torch.autograd._profiler_enabled() \
            else contextlib.nullcontext():
        if torch.is_grad_enabled() and x.requires_grad:
            return _TailFn.apply(x, lib, t, key)
        return _forward(lib, t, x, key, save=False)[0]
