"""Training: recipes, Keras-faithful optimisers and callbacks, the on-device loop, runs.

    from mnistlab.train import fit, load_run
    run_dir = fit("recipes/demo.yaml")          # or a dict / Recipe; dataset=... for own data
    run = load_run(run_dir)                      # .history, .metrics, .model, .splits()
"""
from mnistlab.train.recipe import Recipe, load_recipe
from mnistlab.train.run import Run, fit, load_run

__all__ = ["Recipe", "Run", "fit", "load_recipe", "load_run"]
