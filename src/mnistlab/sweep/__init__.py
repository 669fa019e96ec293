"""Many runs of `mnistlab.train.fit`: grid sweeps with repeats (grid.py) and Optuna tuning
(tune.py). Keys reaching into a recipe are resolved by keys.py; results.py aggregates."""
from mnistlab.sweep.grid import Sweep, load_sweep, run_sweep
from mnistlab.sweep.tune import load_space, tune

__all__ = ["Sweep", "load_sweep", "load_space", "run_sweep", "tune"]
