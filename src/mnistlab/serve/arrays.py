"""Arrays a notebook hands to predict: numpy or torch, Keras or torch conventions, checked.

Accepted, for a model taking (H, W, C) images: a batch (N, H, W), (N, H, W, C) (Keras) or
(N, C, H, W) (torch), or one image (H, W), (H, W, C) or (C, H, W); C may also be 1 for a
colour model (gray is replicated). A shape that two of these read differently is refused.
Pixels: uint8 (or any integer type) in 0..255, or float in 0..1 (Keras' `x / 255`). Anything
else is one MnistlabError, never a silent cast: uint8-casting Keras floats turned every
image black.
"""
from __future__ import annotations

import numpy as np

from mnistlab.data.tensors import to_numpy
from mnistlab.errors import MnistlabError


def _readings(shape: tuple, H: int, W: int, C: int) -> dict[str, str]:
    """Every accepted layout `shape` fits: its name -> its code for _as_nhwc."""
    chans = (1, C)
    found = {}
    if len(shape) == 2 and shape == (H, W):
        found["one (H, W) image"] = "hw"
    if len(shape) == 3:
        if shape[1:] == (H, W):
            found["(N, H, W) batch"] = "nhw"
        if shape[:2] == (H, W) and shape[2] in chans:
            found["one (H, W, C) image"] = "hwc"
        if shape[1:] == (H, W) and shape[0] in chans:
            found["one (C, H, W) image"] = "chw"
    if len(shape) == 4:
        if shape[1:3] == (H, W) and shape[3] in chans:
            found["(N, H, W, C) batch"] = "nhwc"
        if shape[2:] == (H, W) and shape[1] in chans:
            found["(N, C, H, W) batch"] = "nchw"
    return found


def _as_nhwc(a: np.ndarray, layout: str) -> np.ndarray:
    if layout == "hw":
        return a[None, ..., None]
    if layout == "nhw":
        return a[..., None]
    if layout == "hwc":
        return a[None]
    if layout == "chw":
        return np.moveaxis(a, 0, -1)[None]
    if layout == "nchw":
        return np.moveaxis(a, 1, -1)
    return a


def to_unit_float(x, input_shape=(28, 28, 1)) -> np.ndarray:
    """float32 (N, H, W, C) in [0, 1] from the accepted inputs; MnistlabError otherwise."""
    H, W, C = (int(d) for d in input_shape)
    a = to_numpy(x)
    readings = _readings(tuple(a.shape), H, W, C)
    if not readings:
        raise MnistlabError(
            f"images have shape {tuple(a.shape)}; the model takes (N, {H}, {W}), (N, {H}, {W}, {C}), "
            f"(N, {C}, {H}, {W}) or one ({H}, {W}), ({H}, {W}, {C}) or ({C}, {H}, {W}) image")
    views = [_as_nhwc(a, layout) for layout in readings.values()]
    # (1, 28, 28) is a batch of one or one (C, H, W) image: the same pixels either way. Two
    # readings that differ (a square colour model given (N, 3, 3, 3)) are refused, not guessed.
    if any(v.shape != views[0].shape or not np.array_equal(v, views[0]) for v in views[1:]):
        raise MnistlabError(f"images of shape {tuple(a.shape)} are ambiguous: they read as "
                            f"{' or as '.join(readings)}; reshape them to (N, {H}, {W}, {C})")
    a = views[0]
    if a.shape[0] == 0:
        raise MnistlabError("no images given (the first dimension is 0)")
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer)
                                   or np.issubdtype(a.dtype, np.floating)):
        raise MnistlabError(f"images have dtype {a.dtype}; give uint8 0..255 or float 0..1")
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise MnistlabError(f"integer pixels must be in 0..255, got {lo}..{hi}")
        out = a.astype(np.float32) / 255.0
    else:
        if not np.isfinite(a).all():
            raise MnistlabError("images contain NaN or infinity")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0 or hi > 1:
            raise MnistlabError(
                f"float pixels must be in [0, 1] (Keras convention: x / 255), got "
                f"{lo:g}..{hi:g}; divide by 255, or pass uint8 0..255")
        out = a.astype(np.float32)
    if out.shape[3] != C:
        out = np.repeat(out, C, axis=3)  # gray replicated for colour models
    return np.ascontiguousarray(out)
