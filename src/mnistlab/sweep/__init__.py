"""Many runs of `mnistlab.train.fit`: grid sweeps with repeats (grid.py) and Optuna tuning
(tune.py). Keys reaching into a recipe are resolved by keys.py; results.py aggregates.

Names load on first use (PEP 562), so the CLI, which imports sweep.commands, starts
without torch or Optuna.
"""
from __future__ import annotations

import importlib

_API = {
    "Sweep": "mnistlab.sweep.grid", "load_sweep": "mnistlab.sweep.grid",
    "run_sweep": "mnistlab.sweep.grid",
    "load_space": "mnistlab.sweep.tune", "tune": "mnistlab.sweep.tune",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'mnistlab.sweep' has no attribute {name!r}")


# `mnistlab.sweep(...)` is the public function although the name is also this package.
from mnistlab.callable_package import make_callable  # noqa: E402

make_callable(__name__)
