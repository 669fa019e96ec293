"""`mnistlab sweep`: a grid (or list) of recipe variations, each repeated with its own seed.

A sweep file (YAML):

    name: 003-l2                     # optional; default: the file name
    recipe: ../recipes/003-mlp.yaml  # base recipe, relative to this file (or an inline dict)
    set: {epochs: 40}                # optional fixed overrides of the base recipe
    grid:                            # every combination of these values
      model.layers.*.l2: [0.001, 0.00075, 0.0005, 0.00025, 0.000001]
    list:                            # optional explicit configurations (crossed with grid)
      - {batch_size: 64, optimizer.lr: 0.05}
    repeats: 3                       # each repeat a different, recorded seed
    seed: 0                          # repeat r uses seed + r (default: the recipe's seed)
    metrics: [max_val_accuracy, test_accuracy]   # summarised; the first is plotted
    plot: {x: model.layers.*.l2}     # optional; default: the first swept key

Keys are described in `mnistlab.sweep.keys`. Every trial is a normal run directory made by
`mnistlab.train.fit` under SWEEP_DIR/trials/<trial>/. A trial is done when its run
directory holds metrics.json; results.csv is rebuilt from the trial folders after every
trial, so a sweep killed at any point and started again runs only what is missing (a
trial killed half-way continues from the checkpoint of its last finished epoch).
"""
from __future__ import annotations

import contextlib
import copy
import fcntl
import itertools
import json
import math
import os
import shutil
import time
import warnings
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mnistlab.errors import MnistlabError, as_number, did_you_mean, unknown_key_error
from mnistlab.io import load_yaml
from mnistlab.sweep import keys as K
from mnistlab.sweep import results as R

SWEEP_KEYS = ["name", "recipe", "set", "grid", "list", "repeats", "seed", "seeds",
              "metrics", "plot"]
RANGE_FORMS = {"linspace": np.linspace, "geomspace": np.geomspace, "logspace": np.logspace,
               "range": np.arange}


@dataclass
class Trial:
    id: str                        # "<config>-r<repeat>", e.g. "003-r1"
    config: int
    repeat: int
    seed: int
    values: dict[str, Any]         # swept key (as written) -> value
    recipe: dict = field(repr=False)   # as written: trial.json and the shared study compare it
    checked: Any = field(default=None, repr=False, compare=False)  # the Recipe, validated once


@dataclass
class Sweep:
    name: str
    base: dict                     # base recipe with `set` applied
    keys: list[str]                # swept keys, in column order
    configs: list[dict[str, Any]]  # one dict of swept values per configuration
    seeds: list[int]               # one per repeat
    metrics: list[str]
    plot_x: str | None
    _trials: list | None = field(default=None, repr=False, compare=False)

    def trials(self) -> list[Trial]:
        """Every configuration x repeat, each recipe validated into a Recipe once (here;
        fit takes that Recipe and does not check it again)."""
        if self._trials is None:
            out = []
            for c, values in enumerate(self.configs):
                recipe = K.apply(self.base, values)
                for r, seed in enumerate(self.seeds):
                    tid = f"{c:03d}-r{r}"
                    written = {**recipe, "seed": seed, "name": f"{self.name}-{tid}"}
                    out.append(Trial(tid, c, r, seed, values, written, _check_recipe(written, values)))
            self._trials = out
        return self._trials


# ----------------------------------------------------------------------------------------
# reading a sweep file

def _expand_values(key: str, spec: Any) -> list:
    """A grid entry: a list of values, or {linspace|geomspace|logspace|range: [a, b, n]}."""
    if isinstance(spec, list) and spec:
        return spec
    if isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in RANGE_FORMS:
        form, args = next(iter(spec.items()))
        if isinstance(args, list):  # '1e-4' from a dict built in Python reads as a number too
            args = [a if as_number(a) is None else as_number(a) for a in args]
        try:
            vals = RANGE_FORMS[form](*args)
        except TypeError as err:
            raise MnistlabError(f"grid key '{key}': {form} takes [start, stop, n]"
                                f"{' (n is the step for range)' if form == 'range' else ''}: {err}")
        # round off float noise (0.30000000000000004) so values print and group cleanly;
        # integer ends giving whole numbers (geomspace 16..256) stay integers (batch sizes)
        vals = [float(f"{v:.12g}") for v in vals]
        if all(isinstance(a, int) for a in args[:2]) and all(v.is_integer() for v in vals):
            vals = [int(v) for v in vals]
        return vals
    raise MnistlabError(f"grid key '{key}' needs a non-empty list of values or one of "
                        f"{{{', '.join(RANGE_FORMS)}: [start, stop, n]}}, got {spec!r}")


def load_sweep(source: str | os.PathLike | dict, *, base_dir: Path | None = None,
               overrides: dict | None = None) -> Sweep:
    """Validate a sweep file (path or dict) into a Sweep; every configuration is checked
    as a recipe now, so a typo fails before any training."""
    name = None
    if not isinstance(source, dict):
        path = Path(source)
        if not path.is_file():
            from mnistlab.recipes import packaged  # a shipped sweep file, e.g. nb003-l2-sweep
            path = packaged(str(source)) or path
        if not path.is_file():
            raise MnistlabError(f"sweep file '{path}' not found")
        try:
            spec = load_yaml(path.read_text())
        except yaml.YAMLError as err:
            raise MnistlabError(f"sweep file '{path}' is not valid YAML: {err}".splitlines()[0])
        base_dir, name = path.resolve().parent, path.stem
    else:
        spec = source
    if not isinstance(spec, dict):
        raise MnistlabError("a sweep file is a mapping with at least `recipe` and `grid` or `list`")
    for k in spec:
        if k not in SWEEP_KEYS:
            raise unknown_key_error(k, SWEEP_KEYS, "sweep key")
    base_dir = base_dir or Path.cwd()

    recipe = spec.get("recipe")
    if isinstance(recipe, (str, os.PathLike)):
        rpath = Path(recipe) if Path(recipe).is_absolute() else base_dir / recipe
        base = _load_recipe_dict(rpath)
    elif isinstance(recipe, dict):
        base = copy.deepcopy(recipe)
    else:
        raise MnistlabError("sweep file needs `recipe:` (a recipe path relative to the sweep "
                            "file, or an inline recipe)")
    base = K.apply(base, spec.get("set") or {})
    if overrides:  # the command line's --set / --epochs, applied as `mnistlab train` does
        from mnistlab.train.recipe import apply_overrides
        base = apply_overrides(copy.deepcopy(base), overrides)
    name = str(spec.get("name") or name or base.get("name") or "sweep")

    grid = spec.get("grid") or {}
    items = spec.get("list") or [{}]
    if not isinstance(grid, dict) or not isinstance(items, list) or not all(
            isinstance(i, dict) for i in items):
        raise MnistlabError("`grid` is a mapping KEY: [values...]; `list` is a list of "
                            "mappings KEY: value")
    if not grid and items == [{}]:
        raise MnistlabError("sweep file needs `grid:` or `list:` (what to vary)")
    grid_vals = {k: _expand_values(k, v) for k, v in grid.items()}
    configs = [{**item, **dict(zip(grid_vals, combo))}
               for item in items for combo in itertools.product(*grid_vals.values())]
    swept = list(dict.fromkeys([k for item in items for k in item] + list(grid_vals)))

    repeats = spec.get("repeats", 1)
    if not isinstance(repeats, int) or repeats < 1:
        raise MnistlabError(f"`repeats` must be a positive integer, got {repeats!r}")
    if "seeds" in spec:
        seeds = spec["seeds"]
        if (not isinstance(seeds, list) or len(seeds) != repeats
                or not all(isinstance(s, int) for s in seeds) or len(set(seeds)) != len(seeds)):
            raise MnistlabError(f"`seeds` must list {repeats} different integers (one per repeat)")
    else:
        first = spec.get("seed", base.get("seed", 0))
        if not isinstance(first, int):
            raise MnistlabError(f"`seed` must be an integer, got {first!r}")
        seeds = [first + r for r in range(repeats)]

    metrics = spec.get("metrics") or ["max_val_accuracy", "test_accuracy"]
    if isinstance(metrics, str):
        metrics = [metrics]
    for m in metrics:
        if m not in R.TRIAL_METRICS:
            raise MnistlabError(f"unknown sweep metric '{m}'{did_you_mean(m, R.TRIAL_METRICS)}; "
                                f"known: {', '.join(R.TRIAL_METRICS)}")
    plot_x = (spec.get("plot") or {}).get("x") or (swept[0] if swept else None)
    if plot_x is not None and plot_x not in swept:
        raise MnistlabError(f"plot x '{plot_x}' is not a swept key{did_you_mean(plot_x, swept)}")

    sweep = Sweep(name, base, swept, configs, seeds, metrics, plot_x)
    sweep.trials()  # every trial's recipe validated now: fail before hours of the other trials
    return sweep


def _load_recipe_dict(path: Path) -> dict:
    if not path.is_file():
        raise MnistlabError(f"base recipe '{path}' not found (a relative `recipe:` is read "
                            "relative to the sweep file)")
    try:
        data = load_yaml(path.read_text())
    except yaml.YAMLError as err:
        raise MnistlabError(f"recipe '{path}' is not valid YAML: {err}".splitlines()[0])
    if not isinstance(data, dict):
        raise MnistlabError(f"recipe '{path}' must be a mapping of recipe keys")
    return data


def _check_recipe(recipe: dict, values: dict):
    """The Recipe of a configuration (recipe keys, then the model spec checked), or one
    MnistlabError naming the configuration."""
    from mnistlab.models.spec import resolve_spec
    from mnistlab.train.recipe import Recipe

    try:
        checked = Recipe(recipe)
        resolve_spec(checked.model)
        return checked
    except MnistlabError as err:
        where = ", ".join(f"{k}={R.format_value(v)}" for k, v in values.items())
        raise MnistlabError(f"sweep configuration {where or '(base)'}: {err}") from None


# ----------------------------------------------------------------------------------------
# trial folders: the source of truth for what is done

def _run_dir(trial_dir: Path) -> Path | None:
    """The finished run in a trial folder (one with metrics.json), or None."""
    done = sorted(p.parent for p in trial_dir.glob("*/metrics.json"))
    return done[-1] if done else None


def _status(trial_dir: Path) -> str:
    if _run_dir(trial_dir) is not None:
        return "done"
    return "failed" if (trial_dir / "failed.json").exists() else "pending"


def _claim(trial: Trial, trial_dir: Path) -> None:
    """Record what the trial is; refuse a folder that belongs to a different sweep."""
    record = {"id": trial.id, "config": trial.config, "repeat": trial.repeat,
              "seed": trial.seed, "values": trial.values, "recipe": trial.recipe}
    marker = trial_dir / "trial.json"
    if marker.exists():
        old = json.loads(marker.read_text())
        new = json.loads(json.dumps(record))
        if (old["values"], old["seed"]) != (new["values"], new["seed"]):
            raise MnistlabError(
                f"{trial_dir} was made by a different sweep ({old['values']}, seed "
                f"{old['seed']}) than this one ({trial.values}, seed {trial.seed}); "
                "use a new --out directory for a changed sweep file")
        if old != new:
            raise MnistlabError(
                f"{trial_dir} was trained from a different base recipe than this sweep's "
                "(the recipe file changed?); use a new --out directory")
        return
    trial_dir.mkdir(parents=True, exist_ok=True)
    R.write_text_atomic(marker, json.dumps(record, indent=1))


def _row(trial: Trial, trial_dir: Path) -> dict:
    row = {"trial": trial.id, "config": trial.config, "repeat": trial.repeat,
           "seed": trial.seed, **trial.values, "status": _status(trial_dir)}
    if row["status"] == "done":
        run = _run_dir(trial_dir)
        # relative to the sweep directory, so the folder can be moved as a whole
        row.update(R.trial_metrics(run), run_dir=str(run.relative_to(trial_dir.parent.parent)))
    elif row["status"] == "failed":
        row["error"] = json.loads((trial_dir / "failed.json").read_text())["error"]
    return row


def _columns(sweep: Sweep) -> list[str]:
    return ["trial", "config", "repeat", "seed", *sweep.keys, "status",
            *R.TRIAL_METRICS, "run_dir", "error"]


# ----------------------------------------------------------------------------------------
# running trials (in this process or in worker processes)

_worker_dataset = None


def _init_worker(threads: int, dataset) -> None:
    """Runs once in each worker process: share the cores, keep the dataset in memory."""
    import torch

    global _worker_dataset
    torch.set_num_threads(threads)
    _worker_dataset = dataset


def _pool_trial(recipe, trial_dir: str):
    """run_trial in a worker process, its warnings handed back instead of printed: a worker
    would print Python's raw `file:line: UserWarning:` lines, once in every worker. The
    parent shows each message once, through the CLI's one-line format."""
    with warnings.catch_warnings(record=True) as caught:
        run, failure = run_trial(recipe, trial_dir)
    seen = {}
    for w in caught:
        seen.setdefault(str(w.message), w.category)
    return run, failure, list(seen.items())


def run_trial(recipe, trial_dir: str, quiet: bool = True) -> tuple[str | None, dict | None]:
    """Train one trial with `mnistlab.train.fit`; (run_dir, None) or (None, error record).
    Any exception is caught and recorded so that one bad trial does not stop the others."""
    from mnistlab.train import fit

    trial_dir = Path(trial_dir)
    (trial_dir / "failed.json").unlink(missing_ok=True)
    # A run killed before metrics.json keeps the checkpoint of its last epoch: continue it.
    # Anything else unfinished (a hidden .partial folder, a second leftover) is removed.
    partial = None
    for leftover in sorted(p for p in trial_dir.iterdir() if p.is_dir()):
        if (leftover / "metrics.json").exists():
            continue
        if (partial is None and not leftover.name.startswith(".")
                and (leftover / "checkpoint.pt").exists() and (leftover / "config.yaml").exists()):
            partial = leftover
        else:
            shutil.rmtree(leftover)
    try:
        if partial is not None:
            try:
                run = fit(dataset=_worker_dataset, resume=partial, quiet=quiet)
                return str(run), None
            except Exception:  # noqa: BLE001 - cannot continue it: train it from the start
                shutil.rmtree(partial, ignore_errors=True)
        run = fit(recipe, dataset=_worker_dataset, out=trial_dir, quiet=quiet)
        return str(run), None
    except Exception as err:  # noqa: BLE001 - recorded per trial, see docstring
        msg = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return None, {"error": f"{type(err).__name__}: {msg}" if msg else type(err).__name__,
                      "traceback": traceback.format_exc()}


def _record_failure(trial_dir: Path, failure: dict) -> None:
    R.write_text_atomic(trial_dir / "failed.json", json.dumps(failure, indent=1))


@contextlib.contextmanager
def _lock(sweep_dir: Path):
    """One sweep process per directory at a time (two would run the same trials)."""
    with open(sweep_dir / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MnistlabError(f"another `mnistlab sweep` is running in {sweep_dir}; wait for "
                                "it or use a different --out")
        yield


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """The cores divided between the worker processes (at least one thread each)."""
    return max(1, (cores or cpu_cores()) // workers)


def run_sweep(source, *, out: str | os.PathLike | None = None, workers: int = 1,
              dataset=None, quiet: bool = False, retry_failed: bool = True,
              storage: str | None = None, overrides: dict | None = None) -> Path:
    """Run (or resume) a sweep; returns the sweep directory.

    `overrides` {recipe key: value} changes the base recipe like `train --set`.

    `dataset` (a mnistlab Dataset) replaces the recipe's data source, as in `fit`.
    Failed trials are retried when the sweep is started again unless retry_failed=False.
    `storage` (an RDB URL: sqlite:///..., postgresql://...) shares the grid with every
    other process running the same sweep file against it (mnistlab.sweep.gridstudy);
    without it the trial folders under `out` are the record and one process runs them.
    """
    sweep = source if isinstance(source, Sweep) else load_sweep(source, overrides=overrides)
    if workers < 1:
        raise MnistlabError(f"--workers must be at least 1, got {workers}")
    sweep_dir = Path(out) if out is not None else Path("sweeps") / sweep.name
    sweep_dir.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: None) if quiet else print

    # With a storage the study hands out the trials, so processes may share a directory.
    with _lock(sweep_dir) if storage is None else contextlib.nullcontext():
        trials = sweep.trials()
        tdir = {t.id: sweep_dir / "trials" / t.id for t in trials}
        shared = None
        if storage is None:
            for t in trials:
                _claim(t, tdir[t.id])
        else:
            from mnistlab.sweep.gridstudy import SharedGrid

            shared = SharedGrid(sweep, trials, storage, sweep_dir, retry_failed=retry_failed)
        R.write_text_atomic(sweep_dir / "sweep.yaml", yaml.safe_dump(
            {"name": sweep.name, "keys": sweep.keys, "configs": sweep.configs,
             "seeds": sweep.seeds, "metrics": sweep.metrics, "base_recipe": sweep.base},
            sort_keys=False))

        def save_results() -> list[dict]:
            if shared is None:
                rows = [_row(t, tdir[t.id]) for t in trials]
                R.write_csv(sweep_dir / "results.csv", rows, _columns(sweep))
            else:
                rows = shared.rows()
                R.write_csv(sweep_dir / "results.csv", rows, [*_columns(sweep), "host"])
            return rows

        try:
            rows = save_results()  # also picks up trials that finished just before a kill
            if shared is None:
                wanted = {"pending", "failed"} if retry_failed else {"pending"}
                todo = iter([t for t in trials if _status(tdir[t.id]) in wanted])
                n_todo = len([r for r in rows if r["status"] in wanted])
                next_trial = lambda: next(todo, None)  # noqa: E731
                say(f"sweep {sweep.name}: {len(trials)} trials ({len(sweep.configs)} "
                    f"configurations x {len(sweep.seeds)} repeats), {len(trials) - n_todo} "
                    f"already done or skipped, {n_todo} to run -> {sweep_dir}")
            else:
                from mnistlab.sweep.study import redact

                def next_trial() -> Trial | None:
                    t = shared.claim()
                    if t is not None:
                        _claim(t, tdir[t.id])
                    return t
                n_done = sum(r["status"] == "done" for r in rows)
                say(f"sweep {sweep.name}: {len(trials)} trials ({len(sweep.configs)} "
                    f"configurations x {len(sweep.seeds)} repeats) shared through "
                    f"{redact(storage)}, {n_done} done so far; running what is left -> {sweep_dir}")

            finished = 0
            of = "" if shared is not None else f"/{n_todo}"  # a shared grid: others take some

            def record(t: Trial, run: str | None, failure: dict | None, seconds: float) -> None:
                nonlocal finished
                finished += 1
                m = shared.finish(t, run, failure) if shared is not None else None
                if failure is not None:
                    _record_failure(tdir[t.id], failure)
                    say(f"[{finished}{of}] {t.id} seed {t.seed} FAILED: {failure['error']}")
                else:
                    m = m or R.trial_metrics(Path(run))
                    say(f"[{finished}{of}] {t.id} seed {t.seed} "
                        f"{sweep.metrics[0]} {R.format_value(m[sweep.metrics[0]])} ({seconds:.1f} s)")
                save_results()

            if workers == 1:
                global _worker_dataset
                _worker_dataset = dataset
                try:
                    while (t := next_trial()) is not None:
                        start = time.perf_counter()
                        run, failure = run_trial(t.checked, str(tdir[t.id]))
                        record(t, run, failure, time.perf_counter() - start)
                finally:
                    _worker_dataset = None
            else:
                _run_in_pool(next_trial, tdir, workers, dataset, record)
            rows = save_results()
        finally:
            if shared is not None:
                shared.close()

        summary = R.summarize(rows, sweep.keys, sweep.metrics)
        R.write_csv(sweep_dir / "summary.csv", summary, R.summary_columns(sweep.keys, sweep.metrics))
        plotted = [e for e in summary if not math.isnan(e[f"{sweep.metrics[0]}_mean"])]
        if plotted:
            R.plot_errorbars(plotted, sweep.keys, sweep.metrics[0],
                             sweep_dir / f"{sweep.metrics[0]}.png", x_key=sweep.plot_x,
                             title=f"{sweep.name}: {sweep.metrics[0]} (mean ± std over repeats)")
        say("\n" + R.format_summary(summary, sweep.keys, sweep.metrics))
        say(f"\nper trial: {sweep_dir / 'results.csv'}\nper configuration: "
            f"{sweep_dir / 'summary.csv'}, {sweep_dir / (sweep.metrics[0] + '.png')}")
        failed = [r for r in rows if r["status"] == "failed"]
        if failed:
            say(f"{len(failed)} trial(s) failed (see results.csv and trials/*/failed.json); "
                "run the same command again to retry them")
        running = [r for r in rows if r["status"] in ("running", "pending")]
        if shared is not None and running:
            say(f"{len(running)} trial(s) still running or waiting in other processes; "
                "results.csv and summary.csv are rebuilt by every process as it finishes")
    return sweep_dir


def _run_in_pool(next_trial, tdir: dict, workers: int, dataset, record) -> None:
    """At most `workers` trials in flight, taken from `next_trial()` until it returns None,
    so a worker that dies (e.g. out of memory) costs only the trials it was running: those
    are recorded as failed and a new pool goes on."""
    import multiprocessing as mp

    threads = threads_per_worker(workers)
    # fresh processes (never a fork of this one); a fork server imports torch and the
    # training code once for all of them. Not torch._dynamo: our optimisers avoid it
    # (mnistlab.train.optim), so a trial never needs it.
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["torch", "mnistlab.train.training"])
    else:
        ctx = mp.get_context("spawn")
    exhausted = False
    warned: set[str] = set()
    while not exhausted:
        with ProcessPoolExecutor(workers, mp_context=ctx,
                                 initializer=_init_worker, initargs=(threads, dataset)) as pool:
            running: dict = {}
            try:
                while True:
                    while not exhausted and len(running) < workers:
                        t = next_trial()
                        if t is None:
                            exhausted = True
                            break
                        fut = pool.submit(_pool_trial, t.checked, str(tdir[t.id]))
                        running[fut] = (t, time.perf_counter())
                    if not running:
                        break
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        t, start = running[fut]
                        run, failure, caught = fut.result()  # BrokenProcessPool if a worker died
                        del running[fut]
                        for message, category in caught:
                            if message not in warned:  # once per sweep, not once per worker
                                warned.add(message)
                                warnings.warn(message, category, stacklevel=1)
                        record(t, run, failure, time.perf_counter() - start)
            except BrokenProcessPool:
                for t, start in running.values():
                    record(t, None, {"error": "the worker process died (out of memory?)",
                                     "traceback": ""}, time.perf_counter() - start)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
