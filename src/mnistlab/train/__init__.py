"""Training: recipes, Keras-faithful optimisers and callbacks, the on-device loop, runs.

    from mnistlab.train import train_run
    run_dir = train_run("recipes/demo.yaml")          # or a dict / Recipe; dataset=... for own data
    run = open_run(run_dir)                      # .history, .metrics, .model, .splits()

Names load on first use (PEP 562), so the CLI, which imports train.commands, starts
without torch.
"""
from __future__ import annotations

from mnistlab.lazy import lazy_names

_API = {
    "Recipe": "mnistlab.train.recipe", "load_recipe": "mnistlab.train.recipe",
    "train_run": "mnistlab.train.training",
    "fit": "mnistlab.train.training",  # the old name of train_run (the public fit is mnistlab.fit)
    # the run folder is mnistlab.runs'; its reader stays here for `from mnistlab.train import ...`
    "open_run": "mnistlab.runs.run",
}

__getattr__, __all__ = lazy_names(__name__, _API)
