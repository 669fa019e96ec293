"""`mnistlab tune`: Optuna over recipe keys, with per-epoch pruning, on one study that any
number of processes on any number of machines can share.

A search space file (YAML), keys as in `mnistlab.sweeps.keys`:

    optimizer.lr: {low: 1.0e-4, high: 0.3, log: true}     # float (int when low/high are ints)
    model.layers.*.l2: {low: 1.0e-6, high: 1.0e-3, log: true}
    model.layers.1.units: {low: 16, high: 256, step: 16}   # int
    batch_size: [32, 64, 128, 256]                         # a list: one of these

Each trial is a normal run made by `mnistlab.train.fit` under STUDY_DIR/trials/<number>/.
After every epoch the validation metric is reported to the pruner (median by default),
which stops trials that fall behind. The objective is measured on the validation split,
never on the test set. The study records the data it tunes on (reference and content hash,
data/identity.py): continuing it on other data is refused in one line.
"""
from __future__ import annotations

import copy
import math
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

import yaml

from mnistlab.errors import MnistlabError, as_number, did_you_mean, option, unknown_key_error
from mnistlab.io import read_yaml_file, save_figure, writable_dir
from mnistlab.sweeps import keys as K
from mnistlab.sweeps import results as R
from mnistlab.sweeps.study import check_data, open_storage, optimize, redact
from mnistlab.sweeps.sweepfile import check_recipe, read_recipe_file
from mnistlab.train.callback import Callback
from mnistlab.train.recipe import Recipe

# objective -> (per-epoch history column reported to the pruner, direction)
OBJECTIVES = {"max_val_accuracy": ("val_accuracy", "maximize"),
              "val_accuracy": ("val_accuracy", "maximize"),
              "min_val_loss": ("val_loss", "minimize"),
              "val_loss": ("val_loss", "minimize")}
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")
DIST_KEYS = {"type", "low", "high", "log", "step", "choices"}


# ----------------------------------------------------------------------------------------
# search space

def load_space(source: str | os.PathLike | dict) -> dict[str, dict]:
    """Validate a space file into {key: {"type": float|int|categorical, ...}}."""
    if not isinstance(source, dict):
        source = read_yaml_file(source, "search space file")
    if not isinstance(source, dict) or not source:
        raise MnistlabError("a search space maps recipe keys to {low, high[, log, step]} or a "
                            "list of choices, e.g. `optimizer.lr: {low: 1.0e-4, high: 0.1, log: true}`")
    space = {}
    for key, spec in source.items():
        space[str(key)] = _distribution(str(key), spec)
    return space


def _distribution(key: str, spec: Any) -> dict:
    if isinstance(spec, list):
        spec = {"choices": spec}
    if not isinstance(spec, dict):
        raise MnistlabError(f"search space '{key}': give {{low, high}} or a list of choices, "
                            f"got {spec!r}")
    for k in spec:
        if k not in DIST_KEYS:
            raise unknown_key_error(k, sorted(DIST_KEYS), "field", context=f"search space '{key}': ")
    if "choices" in spec:
        choices = spec["choices"]
        if (not isinstance(choices, list) or not choices or not all(
                c is None or isinstance(c, (bool, int, float, str)) for c in choices)):
            raise MnistlabError(f"search space '{key}': choices must be a non-empty list of "
                                "numbers, strings or booleans")
        return {"type": "categorical", "choices": choices}
    low, high = as_number(spec.get("low")), as_number(spec.get("high"))
    if low is None or high is None:
        raise MnistlabError(f"search space '{key}': low and high must be numbers, "
                            f"got low={spec.get('low')!r}, high={spec.get('high')!r}")
    kind = spec.get("type") or ("int" if isinstance(low, int) and isinstance(high, int) else "float")
    if kind not in ("int", "float"):
        raise MnistlabError(f"search space '{key}': type must be int, float or categorical")
    log = bool(spec.get("log", False))
    if not low < high or (log and low <= 0):
        raise MnistlabError(f"search space '{key}': need low < high{' and low > 0 for log' if log else ''}"
                            f", got low={low}, high={high}")
    dist = {"type": kind, "low": low, "high": high, "log": log}
    if spec.get("step") is not None:
        if log:
            raise MnistlabError(f"search space '{key}': use either step or log, not both")
        dist["step"] = spec["step"]
    return dist


def suggest(trial, key: str, dist: dict):
    if dist["type"] == "categorical":
        return trial.suggest_categorical(key, dist["choices"])
    if dist["type"] == "int":
        return trial.suggest_int(key, int(dist["low"]), int(dist["high"]),
                                 step=int(dist.get("step", 1)), log=dist["log"])
    return trial.suggest_float(key, float(dist["low"]), float(dist["high"]),
                               step=dist.get("step"), log=dist["log"])


def corners(space: dict) -> list[dict]:
    """Two assignments touching every bound/choice end, to validate the space up front."""
    out = []
    for end in (0, -1):
        out.append({k: (d["choices"][end] if d["type"] == "categorical"
                        else (d["low"] if end == 0 else d["high"])) for k, d in space.items()})
    return out


# ----------------------------------------------------------------------------------------
# the study

class PruningHook(Callback):
    """Reports the validation metric after each epoch; raises TrialPruned when the pruner
    says so. A callback on the run's CallbackList: on_epoch_end(epoch, logs), logs the
    epoch's history row."""

    def __init__(self, trial, monitor: str):
        self.trial, self.monitor = trial, monitor
        self.reported = 0

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        import optuna

        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return
        step = int(logs.get("epoch", epoch + 1))  # 1-based, as in history.csv
        self.trial.report(float(value), step=step)
        self.reported += 1
        if self.trial.should_prune():
            self.trial.set_user_attr("pruned_at_epoch", step)
            raise optuna.TrialPruned(f"pruned after epoch {step}: {self.monitor}={value:.4f}")


def run_tune(recipe, space, *, trials: int, storage: str | None = None, study: str | None = None,
         out: str | os.PathLike | None = None, dataset=None, metric: str = "max_val_accuracy",
         sampler: str = "tpe", pruner: str = "median", seed: int | None = None,
         quiet: bool = False, overrides: dict | None = None) -> Path:
    """Run `trials` trials of the study in this process, then write the study's results.
    `overrides` {recipe key: value} changes the base recipe like `train --set`.
    Several processes (or machines) calling this with the same storage and study share it.
    Returns the study directory."""
    import optuna

    from mnistlab.runs import load_run_dataset
    from mnistlab.train import train_run

    if metric not in OBJECTIVES:
        raise MnistlabError(f"unknown metric '{metric}'{did_you_mean(metric, OBJECTIVES)}; "
                            f"choose one of {', '.join(OBJECTIVES)}")
    if sampler not in SAMPLERS or pruner not in PRUNERS:
        raise MnistlabError(f"{option('sampler', cli='--sampler', python='sampler=')} is one of {', '.join(SAMPLERS)} "
                            f"and {option('pruner', cli='--pruner', python='pruner=')} one of "
                            f"{', '.join(PRUNERS)}")
    if not isinstance(trials, int) or trials < 0:
        raise MnistlabError(f"{option('trials', cli='--trials', python='trials=')} must be 0 or more, got {trials!r}")
    base = (read_recipe_file(Path(recipe)) if isinstance(recipe, (str, os.PathLike))
            else copy.deepcopy(recipe))
    if overrides:
        from mnistlab.train.recipe import apply_overrides
        apply_overrides(base, overrides)
    space = load_space(space)
    for key in space:  # typos and impossible values fail here, not in every trial
        K.resolve(key, K.apply(base, {}))
    for corner in corners(space):
        check_recipe(K.apply(base, corner), corner)
    from mnistlab.train.recipe import Recipe, has_validation
    if not has_validation(Recipe(base).data):  # every objective is a validation number
        raise MnistlabError(f"metric {metric} needs validation data and the recipe has none: set "
                            "data.validation_split (e.g. 0.1) or data.split (tuning on the test set would overfit it)")
    if out is not None:  # a study folder that cannot be written fails before any data loads
        writable_dir(out, option("out", str(out)))
    if dataset is None:  # loaded once here: its identity is the study's, and no trial reloads it
        data = check_recipe(K.apply(base, {}), {}).to_dict()["data"]
        dataset = load_run_dataset(data, quiet=quiet)
    data = dataset.identity
    base["data"] = {**(base.get("data") or {}), "dataset": data.ref}  # best_recipe.yaml names it

    study_name = study or str(base.get("name") or (Path(recipe).stem if isinstance(
        recipe, (str, os.PathLike)) else "study"))
    study_dir = Path(out) if out is not None else Path("studies") / study_name
    writable_dir(study_dir, option("out", str(study_dir)))
    monitor, direction = OBJECTIVES[metric]
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    the_sampler = (optuna.samplers.TPESampler(seed=seed) if sampler == "tpe"
                   else optuna.samplers.RandomSampler(seed=seed))
    the_pruner = (optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
                  if pruner == "median" else optuna.pruners.NopPruner())
    st = optuna.create_study(study_name=study_name, storage=open_storage(storage, study_dir),
                             direction=direction, sampler=the_sampler, pruner=the_pruner,
                             load_if_exists=True)
    if st.direction.name.lower() != direction:
        raise MnistlabError(f"study '{study_name}' was created to {st.direction.name.lower()}; "
                            f"metric {metric} needs {direction}: use another {_study_name()}")
    check_data(st, [data], f"study '{study_name}'", f"use another {_study_name()} or "
               f"{option('out', cli='--out', python='out= folder')} for other data")
    say = (lambda *a: None) if quiet else print
    say(f"study {study_name} ({redact(storage) if storage else study_dir / 'study.db'}): "
        f"{len(st.trials)} trials so far, running {trials} here")

    def objective(trial) -> float:
        values = {key: suggest(trial, key, dist) for key, dist in space.items()}
        # the trial's Recipe, validated here once, is what train_run gets (as a sweep's trials)
        recipe = Recipe({**K.apply(base, values), "name": f"{study_name}-t{trial.number:04d}"})
        trial_dir = study_dir / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("trial_dir", str(trial_dir.resolve()))
        trial.set_user_attr("host", socket.gethostname())
        start = time.perf_counter()
        try:
            run = train_run(recipe, dataset=dataset, out=trial_dir, quiet=True, callbacks=[PruningHook(trial, monitor)])
        except optuna.TrialPruned:
            say(f"trial {trial.number}: pruned at epoch {trial.user_attrs.get('pruned_at_epoch')} "
                f"({time.perf_counter() - start:.1f} s) {values}")
            raise
        except Exception as err:
            trial.set_user_attr("error", f"{type(err).__name__}: {str(err).strip()[:300]}")
            say(f"trial {trial.number}: FAILED {type(err).__name__}: {err}")
            raise
        trial.set_user_attr("run_dir", str(Path(run).resolve()))
        value = R.trial_metrics(Path(run))[metric]
        say(f"trial {trial.number}: {metric} {value:.4f} ({time.perf_counter() - start:.1f} s) {values}")
        return value

    if trials:
        # catch: a trial that crashes (e.g. a diverging learning rate) is recorded as FAIL
        # and the study goes on
        optimize(st, objective, n_trials=trials, gc_after_trial=True)
    write_results(st, base, space, study_dir, metric=metric, quiet=quiet, data=data)
    return study_dir


# ----------------------------------------------------------------------------------------
# results

def write_results(st, base: dict, space: dict, study_dir: Path, *, metric: str,
                  quiet: bool = False, data=None) -> None:
    """trials.csv, best_recipe.yaml, optimization_history.png, param_importances.png.
    `data` (the study's DataIdentity) is named in best_recipe.yaml's header."""
    import optuna

    say = (lambda *a: None) if quiet else print
    trials = sorted(st.get_trials(deepcopy=False), key=lambda t: t.number)
    rows = []
    for t in trials:
        duration = (t.datetime_complete - t.datetime_start).total_seconds() if (
            t.datetime_complete and t.datetime_start) else None
        rows.append({"number": t.number, "state": t.state.name, "value": t.value,
                     **{f"params.{k}": v for k, v in t.params.items()},
                     "last_epoch": t.last_step, "seconds": duration,
                     "host": t.user_attrs.get("host"), "run_dir": t.user_attrs.get("run_dir"),
                     "error": t.user_attrs.get("error")})
    columns = ["number", "state", "value", *[f"params.{k}" for k in space],
               "last_epoch", "seconds", "host", "run_dir", "error"]
    R.write_csv(study_dir / "trials.csv", rows, columns)

    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    counts = {s: sum(t.state.name == s for t in trials) for s in ("COMPLETE", "PRUNED", "FAIL")}
    say(f"{len(trials)} trials: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, "
        f"{counts['FAIL']} failed -> {study_dir / 'trials.csv'}")
    if not complete:
        return
    best = st.best_trial
    recipe = {**K.apply(base, {k: v for k, v in best.params.items() if k in space}),
              "name": f"{st.study_name}-best"}
    if data is not None and data.in_memory:
        run_it = ("# tuned on a dataset given in memory (not saved): run it with\n"
                  "#   mnistlab.fit('best_recipe.yaml', dataset=<the same dataset>)\n")
    else:
        run_it = "# run it: mnistlab train best_recipe.yaml\n"
    header = (f"# best trial {best.number} of study {st.study_name}: {metric} = {best.value:.6g}\n"
              + "".join(f"#   {k}: {v!r}\n" for k, v in best.params.items())
              + (f"# data: {data}\n" if data is not None else "") + run_it)
    R.write_text_atomic(study_dir / "best_recipe.yaml",
                        header + yaml.safe_dump(recipe, sort_keys=False))
    say(f"best trial {best.number}: {metric} {best.value:.4f} {best.params} -> "
        f"{study_dir / 'best_recipe.yaml'}")
    _plots(st, study_dir, metric, say)


def _plots(st, study_dir: Path, metric: str, say) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    for name, draw in (("optimization_history", ovm.plot_optimization_history),
                       ("param_importances", ovm.plot_param_importances)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = draw(st, target_name=metric)
            fig = ax.figure if hasattr(ax, "figure") else ax.flatten()[0].figure
            fig.set_size_inches(7, 4.5)
            fig.tight_layout()
            save_figure(fig, study_dir / f"{name}.png", dpi=100)
            plt.close(fig)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            # e.g. importances need at least two complete trials that differ
            say(f"{name}.png not written: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
            plt.close("all")


def _study_name() -> str:
    return option("study", cli="--study name", python="study= name")
