"""Many runs of `mnistlab.train.fit`: grid sweeps with repeats (grid.py: sweepfile.py reads
the file, a trial queue hands out the trials, trials.py trains them) and Optuna tuning
(tune.py). Keys reaching into a recipe are resolved by keys.py; results.py aggregates.

Names load on first use (PEP 562), so the CLI, which imports sweep.commands, starts
without torch or Optuna.
"""
from __future__ import annotations

from mnistlab.lazy import lazy_names

_API = {
    "Sweep": "mnistlab.sweep.sweepfile", "load_sweep": "mnistlab.sweep.sweepfile",
    "run_sweep": "mnistlab.sweep.grid",
    "load_space": "mnistlab.sweep.tune", "tune": "mnistlab.sweep.tune",
}

__getattr__, __all__ = lazy_names(__name__, _API)


# `mnistlab.sweep(...)` is the public function although the name is also this package.
from mnistlab.callable_package import make_callable  # noqa: E402

make_callable(__name__)
