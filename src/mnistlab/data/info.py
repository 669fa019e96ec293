"""What `mnistlab data info` reports, as plain data: sizes, class counts, pixel stats."""
from __future__ import annotations

import torch


def pixel_stats(x: torch.Tensor) -> tuple[float, float]:
    """Exact mean and std of uint8 pixels in 0..1 units, from a 256-bin histogram
    (no float copy of the whole tensor)."""
    counts = torch.bincount(x.reshape(-1), minlength=256).double()
    v = torch.arange(256, dtype=torch.float64) / 255
    n = counts.sum()
    mean = (counts * v).sum() / n
    var = (counts * (v - mean) ** 2).sum() / n
    return float(mean), float(var.sqrt())


def describe(ds) -> dict:
    k = len(ds.classes)
    out = {
        "name": ds.name,
        "source": ds.source,
        "image_shape": list(ds.x_train.shape[1:]),
        "train": len(ds.x_train),
        "test": 0 if ds.x_test is None else len(ds.x_test),
        "classes": list(ds.classes),
        "train_counts": torch.bincount(ds.y_train, minlength=k).tolist(),
        "test_counts": None if ds.y_test is None else torch.bincount(ds.y_test, minlength=k).tolist(),
        "checksums": dict(ds.checksums),
    }
    out["pixel_mean"], out["pixel_std"] = pixel_stats(ds.x_train)
    return out
