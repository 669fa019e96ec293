"""Datasets (Contract 1): built-ins and the user's own files as uint8 NHWC tensors, plus splits.

Names load on first use (PEP 562), so the CLI, which imports data.commands, starts
without torch.
"""
from __future__ import annotations

import importlib

_API = {
    "Dataset": "mnistlab.data.datasets", "from_arrays": "mnistlab.data.datasets",
    "load_dataset": "mnistlab.data.datasets",
    "Splits": "mnistlab.data.splits", "make_splits": "mnistlab.data.splits",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'mnistlab.data' has no attribute {name!r}")
