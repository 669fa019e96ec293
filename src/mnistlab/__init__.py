"""mnistlab: the classic MNIST-family experiments, one command each, and a Keras-shaped
Python API for notebooks (mnistlab/api.py; see docs/api.md).

Names are imported lazily so `import mnistlab` is cheap. `mnistlab.evaluate` is both the
public function and the subpackage of that name: the subpackage is callable (calling it
calls mnistlab.api.evaluate), so whichever of the two Python binds to the name, importing
any subpackage first included, `mnistlab.evaluate(run)` works.
"""
from __future__ import annotations

import importlib

from mnistlab.version import __version__

# public name -> module that defines it
_API = {
    "MnistlabError": "mnistlab.errors",
    "load_dataset": "mnistlab.api",
    "Dataset": "mnistlab.data",
    "build": "mnistlab.models",
    "summary": "mnistlab.api",
    "fit": "mnistlab.api",
    "Callback": "mnistlab.api",
    "TensorBoard": "mnistlab.api",
    "Recipe": "mnistlab.train",
    "load_run": "mnistlab.api",
    "Run": "mnistlab.api",
    "History": "mnistlab.api",
    "Evaluation": "mnistlab.api",
    "evaluate": None,  # the callable subpackage (see above)
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    if name == "evaluate":
        return importlib.import_module("mnistlab.evaluate")
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'mnistlab' has no attribute {name!r}")
