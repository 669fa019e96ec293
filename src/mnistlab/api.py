"""The notebook surface: Keras-shaped calls that return objects which show themselves.

    ds = mnistlab.load_dataset("mnist")          # card: sizes, classes, per-class counts
    ds.show(40)                                  # Figure
    mnistlab.summary("nb000-cnn")                # Keras table (HTML in Jupyter)
    run = mnistlab.fit("nb000-cnn", dataset=ds, epochs=3)   # -> Run
    run.history["val_accuracy"]; run.plot(); run.evaluate(); run.predict(x)

This module composes the packages (data, models, train, evaluation, serve, sweeps); with the
views it returns (runview.py: Run, Evaluation; sweepview.py) and fit's argument reading
(fitrequest.py) it is the notebook surface, which nothing below imports. The verbs read
top to bottom: each argument form is checked once, in fitrequest.FitRequest.
"""
from __future__ import annotations

from pathlib import Path

from mnistlab.display import enable_notebook_figures
from mnistlab.errors import MnistlabError
from mnistlab.fitrequest import fit_keywords, fit_request, is_keras, is_spec, make_recipe, recipe_keys  # noqa: F401
from mnistlab.models.own import import_object
from mnistlab.runs.history import History  # noqa: F401  (mnistlab.History: the runs' one History)
from mnistlab.runs.run import save_test_split
from mnistlab.runview import Evaluation, Run, load_run  # noqa: F401  (what fit/load_run/evaluate return)
from mnistlab.train.callback import Callback, LambdaCallback  # noqa: F401  (re-exported; torch-free)
from mnistlab.train.tensorboard import TensorBoard  # noqa: F401

enable_notebook_figures()  # returned Figures display as images in Jupyter/Colab


def summary(model, input_shape=None):
    """Keras-style summary of a zoo name, a recipe (file or dict), a spec (a mapping or a
    Keras-style layer list), a Keras model or file (.keras, .h5, to_json(); `input_shape`
    (H, W, C) for one never built), or any torch nn.Module (class or instance; `input_shape`
    (C, H, W))."""
    from mnistlab.models import summary as _summary
    if is_keras(model):  # before the nn.Module test: on the torch backend a keras.Model is one
        from mnistlab.models.keras import read_keras
        return _summary(read_keras(model, input_shape=input_shape).spec)
    if isinstance(model, str) and ":" in model and not Path(model).exists():
        model = import_object(model)
    if isinstance(model, dict) and "model" in model and not is_spec(model):  # a recipe dict: its model
        model = model["model"]
    return _summary(model, input_shape) if input_shape is not None else _summary(model)


def evaluate(run, x=None, y=None, *, split: str | None = None, dataset=None) -> Evaluation:
    """Evaluate a run (a Run, or its folder): Run.evaluate (Keras' evaluate(x, y), or a split)."""
    if not isinstance(run, Run):  # a folder, or the reader of one (mnistlab.runs.open_run)
        run = load_run(getattr(run, "dir", run))
    return run.evaluate(x, y, split=split, dataset=dataset)


# ---------------------------------------------------------------- fit


def fit(source=None, x=None, y=None, *, model=None, dataset=None, validation_data=None, resume=None,
        callbacks=None, out="runs", quiet=False, report=True, **overrides) -> Run:
    """Train and return the Run (history, plot, evaluate, predict); Keras-shaped keywords.

    source: a packaged recipe name or YAML path ("nb000-cnn", "recipe.yaml"), a recipe dict,
    a Recipe, a zoo model name, a model spec ({"input_shape": ..., "layers": [...]} or a
    Keras-style layer list), or your own model (a torch nn.Module instance or class, or
    "module:Class"); `model=` takes the same model forms. The data: `x, y` arrays as in
    Keras' model.fit(x, y) (with `validation_data=(x_val, y_val)`), or `dataset=`: a Dataset,
    a built-in name or a path (recorded in config.yaml as the recipe's data.dataset), or
    arrays as load_dataset takes them. A Dataset in memory has its test split kept beside the
    run for later evaluation. `resume=`: an interrupted run (a Run or its folder) continues
    where it stopped, or a finished one trains further with `epochs=N` (more than it ran).
    `callbacks`: a list (or one) of Keras-style callbacks (mnistlab.Callback subclasses,
    mnistlab.LambdaCallback, mnistlab.TensorBoard, and mnistlab.EarlyStopping /
    ReduceLROnPlateau / ModelCheckpoint, recorded in config.yaml); a plain function is one
    error line that says to wrap it in LambdaCallback. Any
    recipe key is a keyword: epochs=3, batch_size=512, optimizer="rmsprop", lr=1e-3,
    validation_split=0.2, seed=1, device="cuda", early_stopping={"patience": 5}, ...
    """
    from mnistlab.train import train_run

    req = fit_request(source, x, y, model=model, dataset=dataset, validation_data=validation_data, resume=resume,
                      overrides=overrides)
    run_dir = _interruptible(lambda: train_run(req.recipe, dataset=req.dataset, out=out, quiet=quiet,
                                               callbacks=callbacks, model=req.module, resume=req.resume,
                                               **req.resume_keys), req)
    run = Run(run_dir, model=req.module)
    splits = None
    if req.dataset is not None:  # in memory: split once, kept beside the run and reported from
        splits = run.splits(req.dataset)
        save_test_split(run_dir, splits)
    if report:
        _report(run, splits, quiet)
    return run


def _interruptible(train, req):
    """Run `train()`; when it is interrupted after a checkpoint (the kernel's stop button),
    say the Python call that continues it, below training's CLI line."""
    import sys
    try:
        return train()
    except KeyboardInterrupt as err:
        run_dir = getattr(err, "run_dir", None)
        if run_dir is not None:
            again = ", dataset=..." if req.in_memory else ""
            note = "  (the same data again)" if again else ""
            print(f"In Python: mnistlab.fit(resume={str(run_dir)!r}{again}){note}", file=sys.stderr)
        raise


def _report(run: Run, splits, quiet: bool) -> None:
    """report.html with the run's own predictions (so an own module or in-memory data work);
    `splits` None: the data the recipe names."""
    from mnistlab.evaluation.predictions import split_predictions
    from mnistlab.evaluation.report import write_report
    try:
        splits = splits if splits is not None else run.splits()
        if getattr(splits, "x_test", None) is None:
            return
        path = write_report(run.path, predictions=split_predictions(run, "test", splits=splits))
    except MnistlabError as err:
        if not quiet:
            print(f"Report not written: {err}")
        return
    if not quiet:
        print(f"Report: {path}")


# ---------------------------------------------------------------- sweeps and tuning


def sweep(source, *, grid: dict | None = None, repeats: int | None = None, metrics=None, dataset=None,
          workers: int = 1, out=None, quiet: bool = False, **overrides):
    """Run (or resume) a sweep; returns a SweepResult (table + error-bar figure).

    source: a sweep file or packaged sweep ("nb003-l2-sweep"), or, with `grid=`, any recipe
    fit() takes: mnistlab.sweep("nb003-mlp-500-300", grid={"model.layers.*.l2": [1e-3, 1e-6]},
    repeats=3, epochs=5). Keywords are recipe overrides as in fit()."""
    from mnistlab.sweeps.grid import run_sweep
    from mnistlab.sweepview import SweepResult
    if grid is not None:
        spec = {"recipe": make_recipe(source, overrides).to_dict(), "grid": grid, "repeats": repeats or 1}
        if metrics:
            spec["metrics"] = list(metrics)
        path = run_sweep(spec, out=out, workers=workers, dataset=dataset, quiet=quiet)
    else:
        if repeats is not None or metrics is not None:
            raise MnistlabError("repeats= and metrics= go with grid=; a sweep file sets its own")
        updates = recipe_keys(overrides)
        make_recipe({"model": "nb000-cnn"}, overrides)  # the same keyword check as fit()
        path = run_sweep(source, out=out, workers=workers, dataset=dataset, quiet=quiet, overrides=updates or None)
    return SweepResult(path)


def tune(source, space, *, trials: int, metric: str = "max_val_accuracy", dataset=None, out=None,
         storage=None, study=None, sampler: str = "tpe", pruner: str = "median", seed=None,
         quiet: bool = False, **overrides):
    """Optuna tuning of a recipe over `space` (a dict or YAML file); returns a TuneResult
    (trials table + best-so-far figure; .best_recipe is the best trial's recipe file)."""
    from mnistlab.sweeps.tuning import OBJECTIVES, run_tune
    from mnistlab.sweepview import TuneResult
    recipe = make_recipe(source, overrides).to_dict()
    path = run_tune(recipe, space, trials=trials, storage=storage, study=study, out=out, dataset=dataset,
                    metric=metric, sampler=sampler, pruner=pruner, seed=seed, quiet=quiet)
    return TuneResult(path, metric, OBJECTIVES[metric][1])
