"""mnistlab: the classic MNIST-family experiments, one command each.

The Python API mirrors the CLI; names are imported lazily so `import mnistlab` is cheap.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    "MnistlabError": "mnistlab.errors",
    "load_dataset": "mnistlab.data",
    "Dataset": "mnistlab.data",
    "build": "mnistlab.models",
    "summary": "mnistlab.models",
    "fit": "mnistlab.train",
    "Recipe": "mnistlab.train",
    "load_run": "mnistlab.train",
    "evaluate": "mnistlab.evaluate",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'mnistlab' has no attribute {name!r}")
