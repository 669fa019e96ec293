"""Arrays a notebook hands to predict: numpy or torch, Keras or MNIST conventions, checked.

Accepted: (N, H, W), (N, H, W, C) with C = 1 or the model's channels, or one (H, W) image;
uint8 (or any integer type) in 0..255, or float in 0..1 (Keras' `x / 255`). Anything else is
one MnistlabError, never a silent cast: uint8-casting Keras floats turned every image black.
"""
from __future__ import annotations

import numpy as np

from mnistlab.errors import MnistlabError


def to_numpy(x) -> np.ndarray:
    """numpy view of a numpy array, a torch tensor (any device) or a nested list."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def to_unit_float(x, input_shape=(28, 28, 1)) -> np.ndarray:
    """float32 (N, H, W, C) in [0, 1] from the accepted inputs; MnistlabError otherwise."""
    H, W, C = (int(d) for d in input_shape)
    a = to_numpy(x)
    if a.ndim == 2:
        a = a[None]
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4 or a.shape[1:3] != (H, W) or a.shape[3] not in (1, C):
        raise MnistlabError(
            f"images have shape {tuple(to_numpy(x).shape)}; the model takes (N, {H}, {W}), "
            f"(N, {H}, {W}, {C}) or one ({H}, {W}) image")
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
    return out
