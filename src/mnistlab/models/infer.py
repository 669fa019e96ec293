"""A model's outputs on uint8 images, in batches, and the Keras loss: one copy of each.

Training (train.loop), evaluation (evaluate.evaluation), serving (serve.predict,
serve.export) and search (sweep.search) all call these, so "the loss" and "the
probabilities" mean the same thing everywhere.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mnistlab.data.tensors import to_model_input


def l2_of(model: torch.nn.Module):
    """models.l2_penalty when some layer of `model` has L2, else None (saves a call per step)."""
    if not any(getattr(m, "l2", 0) for m in model.modules()):
        return None
    from mnistlab.models.layers import l2_penalty
    return l2_penalty


def keras_loss(logits, y, *, model=None, penalty=None, label_smoothing: float = 0.0,
               reduction: str = "mean") -> torch.Tensor:
    """Keras' reported loss: cross-entropy (with label smoothing) plus the L2 penalty of the
    model's layers (Keras adds regularisation losses to the loss it reports).

    `penalty(model)` is the L2 term (`l2_of(model)`; None for none). With reduction="sum"
    the penalty counts once per sample, so summing batches and dividing by N gives the mean.
    """
    loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing, reduction=reduction)
    if penalty is not None:
        term = penalty(model)
        loss = loss + (term * y.shape[0] if reduction == "sum" else term)
    return loss


def device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device


def logits(model: torch.nn.Module, x_uint8, *, batch_size: int = 2048) -> torch.Tensor:
    """float32 logits on the CPU for NHWC images (numpy or torch): uint8 0..255 (scaled by
    data.tensors.to_model_input) or float already in [0, 1]; in eval mode and inference
    mode, `batch_size` images at a time on the model's device."""
    model.eval()
    device = device_of(model)
    x = torch.as_tensor(x_uint8)
    out = []
    with torch.inference_mode():
        for i in range(0, x.shape[0], batch_size):
            xb = x[i:i + batch_size].to(device)
            xb = to_model_input(xb) if xb.dtype == torch.uint8 else xb.permute(0, 3, 1, 2).float()
            out.append(model(xb.contiguous()).float().cpu())
    if not out:
        return torch.empty(0, 0)
    return torch.cat(out)


def probabilities(model: torch.nn.Module, x_uint8, *, batch_size: int = 2048) -> np.ndarray:
    """(N, K) softmax outputs as numpy, for uint8 NHWC images."""
    return logits(model, x_uint8, batch_size=batch_size).softmax(dim=1).numpy()


def accuracy(model: torch.nn.Module, x_uint8, y, *, batch_size: int = 2048) -> float:
    """Fraction of images whose largest logit is their label."""
    pred = logits(model, x_uint8, batch_size=batch_size).argmax(1)
    return float((pred == torch.as_tensor(y).long().cpu()).double().mean())
