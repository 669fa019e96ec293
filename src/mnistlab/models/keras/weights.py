"""Keras weight arrays <-> the torch modules `build(spec)` makes, one layer at a time.

Keras keeps kernels channels-last: Conv2D (kh, kw, C_in, C_out), Dense (in, out),
SeparableConv2D depthwise (kh, kw, C_in, depth_multiplier) and pointwise (1, 1, C_in*dm, F)
(depthwise output channel c*dm + m, as torch's grouped convolution numbers them),
BatchNormalization gamma, beta, moving mean, moving variance. Dense inputs after a Flatten
line up unchanged because mnistlab's Flatten reads (H, W, C) like Keras'.
"""
from __future__ import annotations

import numpy as np
import torch

from mnistlab.errors import MnistlabError
from mnistlab.models.layers import Conv2d, KerasBatchNorm1d, KerasBatchNorm2d, Linear, ResidualBlock, SeparableConv2d

WEIGHTED = (Conv2d, SeparableConv2d, Linear, KerasBatchNorm1d, KerasBatchNorm2d, ResidualBlock)


def weighted_modules(net) -> list:
    """The built network's layers that hold weights, in spec order (one per weighted spec layer)."""
    return [m for m in net.children() if isinstance(m, WEIGHTED)]


# ---------------------------------------------------------------- torch -> Keras

def to_keras_arrays(module) -> list[np.ndarray]:
    """One torch layer's weights as the Keras layer stores them (fp32)."""
    def a(t):
        return t.detach().cpu().float().numpy()
    if isinstance(module, SeparableConv2d):
        dw, pw = module.depthwise.weight, module.pointwise.weight  # (C*dm, 1, kh, kw), (F, C*dm, 1, 1)
        c = module.depthwise.in_channels
        dm = dw.shape[0] // c
        depth = a(dw)[:, 0].reshape(c, dm, *dw.shape[2:]).transpose(2, 3, 0, 1)
        out = [depth, a(pw).transpose(2, 3, 1, 0)]
        return out + ([a(module.pointwise.bias)] if module.pointwise.bias is not None else [])
    if isinstance(module, Conv2d):
        return [a(module.weight).transpose(2, 3, 1, 0)] + ([a(module.bias)] if module.bias is not None else [])
    if isinstance(module, Linear):
        return [a(module.weight).T.copy()] + ([a(module.bias)] if module.bias is not None else [])
    if isinstance(module, (KerasBatchNorm1d, KerasBatchNorm2d)):
        return [a(module.weight), a(module.bias), a(module.running_mean), a(module.running_var)]
    raise AssertionError(type(module))  # pragma: no cover - residual blocks are split by the caller


# ---------------------------------------------------------------- Keras -> torch

def load_keras_arrays(module, arrays: list, where: str) -> None:
    """Set one torch layer's weights from the Keras layer's arrays, checking every shape."""
    expected = to_keras_arrays(module)
    if len(arrays) != len(expected):
        raise MnistlabError(f"{where}: has {len(arrays)} weight arrays but its config implies {len(expected)}; "
                            "the weights do not belong to this config")
    for k, (got, want) in enumerate(zip(arrays, expected)):
        got = np.asarray(got)
        if got.shape != want.shape:
            raise MnistlabError(f"{where}: weight {k} has shape {got.shape} but the config implies {want.shape}; "
                                "the weights do not belong to this config")
        if not np.issubdtype(got.dtype, np.floating):
            raise MnistlabError(f"{where}: weight {k} is {got.dtype}, not floating point")
    t = [torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) for x in arrays]
    with torch.no_grad():
        if isinstance(module, SeparableConv2d):
            kh, kw, c, dm = t[0].shape
            module.depthwise.weight.copy_(t[0].permute(2, 3, 0, 1).reshape(c * dm, 1, kh, kw))
            module.pointwise.weight.copy_(t[1].permute(3, 2, 0, 1))
            if len(t) > 2:
                module.pointwise.bias.copy_(t[2])
        elif isinstance(module, Conv2d):
            module.weight.copy_(t[0].permute(3, 2, 0, 1))
            if len(t) > 1:
                module.bias.copy_(t[1])
        elif isinstance(module, Linear):
            module.weight.copy_(t[0].T)
            if len(t) > 1:
                module.bias.copy_(t[1])
        else:  # BatchNormalization
            for name, value in zip(("weight", "bias", "running_mean", "running_var"), t):
                getattr(module, name).copy_(value)
