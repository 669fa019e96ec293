"""Quantisation-aware training (recipe key `quantize_aware: true`).

The int8 export (`mnistlab export --int8` / `--format c`) quantises weights per output channel,
symmetric int8, and activations per tensor, asymmetric uint8 over their calibrated min..max.
Training with the same rounding in the forward pass (a straight-through estimator for the
gradient) lets the weights settle where rounding costs little. Use it when the export reports
that post-training int8 loses more than 0.3 points against fp32.

The module's parameters, state_dict and saved weights are unchanged (plain fp32, nothing new to
load): only the forward pass of the training run rounds.
"""
from __future__ import annotations

import types

import torch
from torch import nn


def fake_quantize_weight(w: torch.Tensor) -> torch.Tensor:
    """Per-output-channel symmetric int8 rounding of w, gradient passed straight through."""
    scale = w.detach().abs().flatten(1).amax(1).clamp_min(1e-12) / 127
    scale = scale.view(-1, *([1] * (w.dim() - 1)))
    q = torch.clamp(torch.round(w / scale), -127, 127) * scale
    return w + (q - w).detach()


class ActivationRange:
    """Running min/max of one activation tensor (as calibration would see it) and its uint8 rounding."""

    def __init__(self, momentum: float = 0.01):
        self.lo = self.hi = None
        self.momentum = momentum

    def __call__(self, module, args, x: torch.Tensor) -> torch.Tensor:
        if module.training:
            lo, hi = float(x.detach().min()), float(x.detach().max())
            m = self.momentum
            self.lo = lo if self.lo is None else (1 - m) * self.lo + m * lo
            self.hi = hi if self.hi is None else (1 - m) * self.hi + m * hi
        if self.lo is None:
            return x
        lo, hi = min(self.lo, 0.0), max(self.hi, 0.0)  # zero must be exact, as onnxruntime makes it
        scale = max(hi - lo, 1e-8) / 255
        zero = round(-lo / scale)
        q = (torch.clamp(torch.round(x / scale) + zero, 0, 255) - zero) * scale
        return x + (q - x).detach()


def _conv_forward(self, x, weight, bias):
    return nn.Conv2d._conv_forward(self, x, fake_quantize_weight(weight), bias)


def _linear_forward(self, x):
    return nn.functional.linear(x, fake_quantize_weight(self.weight), self.bias)


def enable(model: nn.Module) -> nn.Module:
    """Round weights (conv, dense) and the outputs of every conv, dense and activation in forward."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module._conv_forward = types.MethodType(_conv_forward, module)
        elif isinstance(module, nn.Linear):
            module.forward = types.MethodType(_linear_forward, module)
        else:
            continue
        module.register_forward_hook(ActivationRange())
    for module in model.modules():
        if isinstance(module, (nn.ReLU, nn.ELU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU)):
            module.register_forward_hook(ActivationRange())
    return model
