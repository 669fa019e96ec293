"""THE step from stored images to model input (Contract 1): uint8 (N, H, W, C) -> float (N, C, H, W) in [0, 1].

Pixels are stored as uint8 so datasets stay small and move to the device cheaply; scaling
happens where the batch already is (on the GPU for a GPU run).
"""
from __future__ import annotations


def to_model_input(x_u8):
    """uint8 NHWC tensor -> float32 NCHW in [0, 1] on the same device."""
    return x_u8.permute(0, 3, 1, 2).float().div_(255)


def to_numpy(x):
    """numpy view of a numpy array, a torch tensor (any device) or a nested list."""
    import numpy as np
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x)
