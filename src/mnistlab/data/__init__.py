"""Datasets (Contract 1): built-ins and the user's own files as uint8 NHWC tensors, plus splits.

Names load on first use (PEP 562), so the CLI, which imports data.commands, starts
without torch.
"""
from __future__ import annotations

from mnistlab.lazy import lazy_names

_API = {
    "Dataset": "mnistlab.data.datasets", "from_arrays": "mnistlab.data.datasets",
    "load_dataset": "mnistlab.data.datasets",
    "Splits": "mnistlab.data.splits", "make_splits": "mnistlab.data.splits",
}

__getattr__, __all__ = lazy_names(__name__, _API)
