"""Many runs of `mnistlab.train.fit`: grid sweeps with repeats (grid.py: sweepfile.py reads
the file, a trial queue hands out the trials, trials.py trains them) and Optuna tuning
(tuning.py). Keys reaching into a recipe are resolved by keys.py; results.py aggregates.

The package is a noun so that the verbs `mnistlab.sweep` and `mnistlab.tune` (the
notebook API) are never shadowed by it. Names load on first use (PEP 562), so the CLI, which imports sweeps.commands, starts
without torch or Optuna.
"""
from __future__ import annotations

from mnistlab.lazy import lazy_names

_API = {
    "Sweep": "mnistlab.sweeps.sweepfile", "load_sweep": "mnistlab.sweeps.sweepfile",
    "run_sweep": "mnistlab.sweeps.grid",
    "load_space": "mnistlab.sweeps.tuning", "run_tune": "mnistlab.sweeps.tuning",
}

__getattr__, __all__ = lazy_names(__name__, _API)


def _import_tqdm_auto_quietly() -> None:
    """Optuna imports tqdm.auto, which in a Jupyter kernel without ipywidgets warns
    (TqdmWarning, with a site-packages path) the first time it is imported. mnistlab draws
    its own progress (display.py) and never shows Optuna's bar, so tqdm.auto is imported
    here, before any Optuna import, with that one warning silenced."""
    import warnings

    from tqdm.std import TqdmWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        import tqdm.auto  # noqa: F401


_import_tqdm_auto_quietly()
