"""mnistlab: the classic MNIST-family experiments, one command each, and a Keras-shaped
Python API for notebooks (mnistlab/api.py; see docs/api.md).

Names are imported lazily so `import mnistlab` is cheap. Each public name is one thing of
one type: the verbs `evaluate`, `sweep` and `tune` are functions of mnistlab.api, and the
subpackages that do the work are nouns (`mnistlab.evaluation`, `mnistlab.sweeps`), so
importing a subpackage never replaces a function.
"""
from __future__ import annotations

from mnistlab.lazy import lazy_names
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
    "Callback": "mnistlab.train.callback",
    "LambdaCallback": "mnistlab.train.callback",
    "TensorBoard": "mnistlab.train.tensorboard",
    # the classes the recipe's callbacks section builds (one implementation; config.yaml records them)
    "EarlyStopping": "mnistlab.train.early_stopping",
    "ReduceLROnPlateau": "mnistlab.train.schedules",
    "ModelCheckpoint": "mnistlab.train.model_checkpoint",
    "sweep": "mnistlab.api",
    "tune": "mnistlab.api",
    "Recipe": "mnistlab.train",
    "load_run": "mnistlab.api",
    "Run": "mnistlab.api",
    "History": "mnistlab.api",
    "Evaluation": "mnistlab.api",
    "evaluate": "mnistlab.api",
}

__getattr__, _names = lazy_names(__name__, _API)
__all__ = _names + ["__version__"]
