"""mnistlab: the classic MNIST-family experiments, one command each, and a Keras-shaped
Python API for notebooks (mnistlab/api.py; see docs/api.md).

Names are imported lazily so `import mnistlab` is cheap. `mnistlab.evaluate` and
`mnistlab.sweep` are both public functions and subpackages: the subpackages are callable
(calling one calls mnistlab.api's function), so `mnistlab.evaluate(run)` works whatever was
imported before (mnistlab/callable_package.py).
"""
from __future__ import annotations

import importlib

from mnistlab.version import __version__

# public name -> module that defines it
_API = {
    "MnistlabError": "mnistlab.errors",
    "MnistlabWarning": "mnistlab.errors",
    "load_dataset": "mnistlab.data",
    "Dataset": "mnistlab.data",
    "build": "mnistlab.models",
    "summary": "mnistlab.api",
    "fit": "mnistlab.api",
    "Callback": "mnistlab.api",
    "TensorBoard": "mnistlab.api",
    # the classes the recipe's callbacks section builds (one implementation; config.yaml records them)
    "EarlyStopping": "mnistlab.train.callbacks",
    "ReduceLROnPlateau": "mnistlab.train.callbacks",
    "ModelCheckpoint": "mnistlab.train.callbacks",
    "sweep": "mnistlab.sweep",
    "tune": "mnistlab.api",
    "Recipe": "mnistlab.train",
    "load_run": "mnistlab.api",
    "Run": "mnistlab.api",
    "History": "mnistlab.api",
    "Evaluation": "mnistlab.api",
    "evaluate": "mnistlab.evaluate",  # callable subpackages (see above)
}

_CALLABLE_PACKAGES = ("evaluate", "sweep")  # mnistlab/callable_package.py
__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    if name in _CALLABLE_PACKAGES:
        return importlib.import_module(f"mnistlab.{name}")
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'mnistlab' has no attribute {name!r}")
