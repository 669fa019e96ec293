"""Run a notebook's experiments through mnistlab.train / mnistlab.sweep and tabulate them.

Nothing here trains by itself: single experiments call `train.fit`, notebook 003's L2 sweep
(`run_grid` below) calls `mnistlab.sweeps.run_sweep`, and notebook 001's cumulative sweeps fork
the previous run (`runs.fork_run`) and continue it with `train_run(..., resume=)`. `--quick` keeps
every model and parameter count exact but trains one epoch on a small slice of the data, so
CI can run all five notebooks as a wiring check.

Every step reuses what an earlier `reproduce` into the same folder finished, seed by seed (a
finished run of the same recipe and seed; a chain step that continues the same run; the
sweep's own trial folders), and continues a run killed half-way from its last checkpoint, so
an interrupted reproduction started again trains only what is missing.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import json
import time
import warnings
from pathlib import Path


from mnistlab.errors import MnistlabError, option
from mnistlab.runs.fork import fork_run, merge
from mnistlab.io import load_yaml, make_dirs, write_cache
from mnistlab.data import fashion5
from mnistlab.reproduce.notebooks import L2_MAX_VAL, NOTEBOOKS, Experiment

QUICK_TRAIN, QUICK_TEST = 512, 256    # images per split in --quick
QUICK_SEEDS = 1


@dataclasses.dataclass
class Result:
    exp: Experiment
    params: int | None = None
    accuracies: list[float] = dataclasses.field(default_factory=list)
    losses: list[float] = dataclasses.field(default_factory=list)
    test_accuracies: list[float] = dataclasses.field(default_factory=list)
    epochs: list[int] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    runs: list[str] = dataclasses.field(default_factory=list)
    speed: list[dict] = dataclasses.field(default_factory=list)  # precision/threads per run


def recipe_path(rel: str) -> Path:
    """A recipe named in notebooks.py (recipes/<file>.yaml): from the working directory,
    else the copy shipped in the package (so an installed wheel runs from any folder)."""
    from mnistlab.recipes import find
    return find(rel)


def load_recipe_dict(exp: Experiment) -> dict:
    cfg = load_yaml(recipe_path(exp.recipe).read_text())
    cfg.pop("sweep", None)  # the grid section is read by run_grid, not by fit
    return merge(cfg, exp.overrides if exp.kind != "grid" else {})


def seeds_for(exp: Experiment, quick: bool, seeds: int | None) -> int:
    """--seeds when given; else the row's default in a full run, one in --quick."""
    if seeds is not None:
        return seeds
    return QUICK_SEEDS if quick else exp.seeds


# ------------------------------------------------------------------ data

def _subset(ds, n_train: int, n_test: int):
    """The first n images of each split, named as such (Dataset.take: `mnist[:3000,:1000]`),
    so a quick run records the data it really used."""
    return ds.take(n_train, n_test)


class DataCache:
    """Loads each dataset once per notebook; slices it in --quick. Notebook 004's file is
    built for `grouping` (fashion5.GROUPINGS) in `data_dir`."""

    def __init__(self, quick: bool, data_dir: Path, grouping: str = fashion5.DEFAULT_GROUPING):
        self.quick, self.data_dir, self.grouping, self._cache = quick, Path(data_dir), grouping, {}

    def for_recipe(self, cfg: dict):
        """(dataset or None, data-section updates) for one recipe."""
        name = cfg["data"]["dataset"]
        if fashion5.grouping_of_file(name) is not None:  # notebook 004: this folder's own file,
            # built for this reproduction's grouping (whichever the recipe names), loaded by path
            path = self.data_dir / fashion5.file_name(self.grouping)
            fashion5.build(path, limit=QUICK_TRAIN if self.quick else None, grouping=self.grouping)
            return None, {"dataset": str(path)}
        if name not in self._cache:
            from mnistlab.data import load_dataset
            ds = load_dataset(name)
            self._cache[name] = _subset(ds, QUICK_TRAIN, QUICK_TEST) if self.quick else ds
        return self._cache[name], {}


# ------------------------------------------------------------------ running

def _prepare(exp: Experiment, cfg: dict, data: DataCache, quick: bool, seed: int):
    cfg = copy.deepcopy(cfg)
    ds, data_updates = data.for_recipe(cfg)
    cfg["data"].update(data_updates)
    cfg["seed"] = seed
    if exp.precision is not None:
        cfg["precision"] = exp.precision
    if exp.kind == "chain":  # one run directory per step, named after it
        cfg["name"] = f"{cfg.get('name', 'step')}-{exp.key}"
    if quick:
        cfg["epochs"] = 1
    return cfg, ds


def _metrics(run_dir: Path) -> dict:
    from mnistlab.runs.files import read_metrics
    return read_metrics(run_dir)


def _on_all_training_images(run_dir: Path, ds) -> tuple[float, float]:
    """(loss, accuracy) of notebook 001's model.evaluate(x_train, y_train): every training
    image, the validation part included (`ds` None: the run's own data), through the one
    owner of that number, mnistlab.evaluate's split "train+val". The loss is Keras'
    (cross-entropy with the recipe's label smoothing plus the layers' L2 terms)."""
    from mnistlab.evaluation.predictions import split_predictions
    from mnistlab.runs import open_run

    run = open_run(run_dir)
    p = split_predictions(run, "train+val", splits=run.splits(ds))
    return float(p.loss), float((p.probs.argmax(axis=1) == p.y_true).mean())


def all_training_images(run_dir: Path, ds) -> tuple[float, float]:
    """_on_all_training_images, kept beside the run's folder (`<run>.all-train.json`, not in
    the run directory, which belongs to fit) so that a resumed reproduction does not evaluate
    60,000 images again for every finished run."""
    run_dir = Path(run_dir)
    cache = run_dir.parent / f"{run_dir.name}.all-train.json"
    stamp = (run_dir / "metrics.json").stat().st_mtime_ns
    if cache.is_file():
        old = json.loads(cache.read_text())
        if old.get("metrics_mtime_ns") == stamp:
            return old["loss"], old["accuracy"]
    loss, acc = _on_all_training_images(run_dir, ds)
    write_cache(cache, json.dumps({"loss": loss, "accuracy": acc, "metrics_mtime_ns": stamp}))
    return loss, acc


def _last_train_loss(run_dir: Path) -> float:
    from mnistlab.runs.files import read_history
    return float(read_history(run_dir)[-1]["loss"])


def _record(res: Result, run_dir: Path, ds, seconds: float) -> None:
    from mnistlab.runs.files import read_config

    run_dir = Path(run_dir)
    m = _metrics(run_dir)
    res.params = int(m["params"])  # Keras' total, BatchNorm statistics included
    res.test_accuracies.append(float(m["test_accuracy"]))
    res.epochs.append(int(m.get("epochs_run") or 0))
    res.seconds += seconds
    res.runs.append(str(run_dir))
    cfg = read_config(run_dir)
    res.speed.append({k: cfg.get(k) for k in ("precision", "threads", "batch_split")})
    if res.exp.evaluated_on == "train":
        loss, acc = all_training_images(run_dir, ds)
    else:
        loss, acc = float(m["test_loss"]), float(m["test_accuracy"])
    res.accuracies.append(acc)
    res.losses.append(_last_train_loss(run_dir) if res.exp.loss_from == "history" else loss)


# What makes two runs the same experiment: everything but the name and the speed settings
# (precision, threads, ...), which change how a run is computed, not what it is; the table
# prints the speed settings its runs used.
_SAME_RUN_KEYS = ("data", "model", "optimizer", "loss", "batch_size", "epochs", "seed",
                  "callbacks", "augment", "quantize_aware")


def _identity(cfg: dict) -> dict:
    from mnistlab.train.recipe import load_recipe
    full = load_recipe(cfg).to_dict()
    same = {k: full.get(k) for k in _SAME_RUN_KEYS}
    # Notebook 004's file is this output folder's own (DataCache), recorded by its path from
    # wherever the command ran: `reproduce 004` from the repository root records
    # reproduce/004/..., the example notebook in examples/ ../reproduce/004/...; one file,
    # so compare its name (one per grouping), which every run in this folder shares.
    data = same.get("data") or {}
    name = Path(str(data.get("dataset") or "")).name
    if fashion5.grouping_of_file(name) is not None:
        same["data"] = {**data, "dataset": name}
    return same


def _precision_matches(wanted: str | None, recorded: str | None) -> bool:
    """`auto` reuses a run of either precision (the table's Runs line says which); an explicit
    --precision reuses only runs that trained in it (config.yaml records the resolved one)."""
    return wanted in (None, "auto") or wanted == recorded


def previous_runs(folder: Path, cfg: dict, ds=None) -> tuple[Path | None, Path | None]:
    """(finished run, unfinished run) of this recipe and seed already in `folder`, so that a
    long reproduction killed half-way continues where it stopped when started again. A run of
    a changed recipe (other epochs, data file, optimiser, ...) is not reused, nor one of
    another precision than an explicit `precision`. `ds`: the Dataset handed to fit, whose
    reference fit records as the run's data.dataset."""
    from mnistlab.runs.files import read_config

    want = _identity(cfg)
    if ds is not None:
        want["data"]["dataset"] = ds.reference
    done = unfinished = None
    for conf in sorted(Path(folder).glob("*/config.yaml")):
        try:
            old = read_config(conf.parent)
            same = (_identity(old) == want
                    and _precision_matches(cfg.get("precision"), old.get("precision")))
        except MnistlabError:  # a damaged or foreign folder: not ours to reuse
            continue
        if not same:
            continue
        if (conf.parent / "metrics.json").is_file():
            done = conf.parent
        elif (conf.parent / "checkpoint.pt").is_file():
            unfinished = conf.parent
    return done, unfinished


def run_single(exp, data, out, quick, seeds) -> Result:
    from mnistlab.evaluation.report import report_line
    from mnistlab.train import train_run

    res = Result(exp)
    base = load_recipe_dict(exp)
    for seed in range(seeds):
        cfg, ds = _prepare(exp, base, data, quick, seed)
        done, unfinished = previous_runs(out / exp.key, cfg, ds)
        if done is not None:  # an earlier `reproduce` already trained this seed
            run_dir = done
        elif unfinished is not None:  # interrupted: continue from its last checkpoint
            run_dir = train_run(dataset=ds, quiet=True, resume=unfinished)
        else:
            run_dir = train_run(cfg, dataset=ds, out=str(out / exp.key), quiet=True)
        if not quick:
            report_line(run_dir, lambda *a: None, dataset=ds)
        # the run's own training time (all epochs, across resumes)
        _record(res, Path(run_dir), ds, float(_metrics(run_dir)["train_seconds"]))
    return res


def _continues(child: Path, parent: Path) -> bool:
    """`child` was forked from `parent`: its history starts with all of parent's epochs."""
    from mnistlab.runs.files import read_history
    ph, ch = read_history(parent), read_history(child)
    return len(ch) >= len(ph) and ch[:len(ph)] == ph


def _chain_step(folder: Path, prev_dir: Path, name: str, epochs: int) -> tuple[Path | None, Path | None]:
    """(finished, unfinished) earlier run of this chain step continuing `prev_dir`."""
    from mnistlab.runs.files import read_config

    done = unfinished = None
    for conf in sorted(Path(folder).glob("*/config.yaml")):
        run = conf.parent
        cfg = read_config(run)
        if cfg.get("name") != name or cfg.get("epochs") != epochs:
            continue
        if cfg.get("precision") != read_config(prev_dir).get("precision"):
            continue
        if not (run / "history.csv").is_file() or not _continues(run, prev_dir):
            continue
        if (run / "metrics.json").is_file():
            done = run
        elif (run / "checkpoint.pt").is_file():
            unfinished = run
    return done, unfinished


def run_chain(exp, data, out, quick, previous: Result) -> Result:
    """One more epoch on the previous step's model and optimiser (Keras: fit() again)."""
    from mnistlab.train import train_run

    res = Result(exp)
    for prev_dir in previous.runs:
        prev_dir = Path(prev_dir)
        ds, data_updates = data.for_recipe(load_recipe_dict(exp))
        steps = {**exp.overrides, "name": f"{exp.recipe.split('/')[-1][:-5]}-{exp.key}"}
        if exp.precision is not None:
            steps["precision"] = exp.precision
        steps["epochs"] = int(_metrics(prev_dir)["epochs_run"]) + 1  # epochs count on
        done, unfinished = _chain_step(out / exp.key, prev_dir, steps["name"], steps["epochs"])
        if done is not None:
            run_dir = done
        else:
            fork = unfinished or fork_run(prev_dir, out / exp.key, steps)
            run_dir = train_run(dataset=ds, quiet=True, resume=fork)
        # train_seconds accumulates over the chain: this step's own share
        seconds = float(_metrics(run_dir)["train_seconds"]) - float(_metrics(prev_dir)["train_seconds"])
        _record(res, Path(run_dir), ds, max(0.0, seconds))
    return res


def run_grid(exps: list[Experiment], data, out, quick, repeats) -> list[Result]:
    """Notebook 003's L2 sweep: the sweep file run by mnistlab.sweeps.run_sweep (`repeats` per value),
    then the notebook's error-bar plot with the notebook's own values beside ours."""
    from mnistlab.sweeps import load_sweep, run_sweep

    path = recipe_path(exps[0].recipe)
    spec = load_yaml(path.read_text())
    (key, _), = spec["grid"].items()
    spec["grid"] = {key: [e.overrides["l2"] for e in exps]}
    spec["repeats"] = repeats
    spec["recipe"], ds = _prepare(exps[0], spec["recipe"], data, quick, spec["recipe"].get("seed", 0))
    sweep_dir = run_sweep(load_sweep(spec, base_dir=path.parent), out=out / "l2-sweep",
                                dataset=ds, quiet=True)
    results = {float(e.overrides["l2"]): Result(e) for e in exps}
    max_val: dict[float, list[float]] = {k: [] for k in results}
    with open(sweep_dir / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if row["status"] != "done":
            raise MnistlabError(f"sweep trial {row['trial']} failed: {row.get('error')}; "
                                "run the same command again to retry it")
        run_dir = Path(row["run_dir"])
        l2 = float(row[key])
        # each trial's own training time (a resumed sweep's wall clock would miss earlier trials)
        _record(results[l2], run_dir if run_dir.is_absolute() else sweep_dir / run_dir, ds,
                float(row["train_seconds"] or 0.0))
        max_val[l2].append(float(row["max_val_accuracy"]))
    if not quick:
        plot_l2(max_val, out / "l2-max-val-accuracy.png")
    return list(results.values())


def plot_l2(ours: dict[float, list[float]], path: Path) -> Path:
    """Notebook 003's figure (mean ± std of each repeat's highest val_accuracy per L2 factor),
    ours beside the notebook's (notebooks.L2_MAX_VAL), std as numpy's default (ddof=0) as the
    notebook's plot used."""
    import numpy as np
    from matplotlib.figure import Figure

    from mnistlab.io import save_figure

    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    for label, values, shift, fmt in (("notebook 003", L2_MAX_VAL, 0.97, "s"),
                                      ("mnistlab", ours, 1.03, "o")):
        xs = sorted(k for k in values if values[k])
        ys = [float(np.mean(values[k])) for k in xs]
        es = [float(np.std(values[k])) for k in xs]
        n = sorted({len(values[k]) for k in xs})
        ax.errorbar([x * shift for x in xs], ys, yerr=es, fmt=fmt, capsize=4,
                    label=f"{label} (n={','.join(map(str, n))} per factor)")
    ax.set_xscale("log")
    ax.set_xlabel("L2 factor (both hidden layers)")
    ax.set_ylabel("max val_accuracy (= test set), mean ± std")
    ax.set_title("Notebook 003: L2 sweep, 500-300 MLP, 40 epochs")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def select(exps: list[Experiment], only: list[str] | None) -> list[Experiment]:
    """The rows named in `only` (all when empty), plus the chain steps they continue."""
    if not only:
        return list(exps)
    by_key = {e.key: e for e in exps}
    unknown = [k for k in only if k not in by_key]
    if unknown:
        raise MnistlabError(f"unknown experiment {unknown[0]!r}; this notebook has: {', '.join(by_key)}")
    keep = set()
    for key in only:
        while key and key not in keep:
            keep.add(key)
            key = by_key[key].after
    return [e for e in exps if e.key in keep]


def with_precision(exps: list[Experiment], precision: str | None) -> list[Experiment]:
    """The rows with `precision` set on each recipe (a chain step's fork and a grid's recipe
    too): the seeds trained in float32, so `--precision fp32` is the seeds' own."""
    if precision is None:
        return exps
    from mnistlab.train.recipe import PRECISIONS
    if precision not in PRECISIONS:
        raise MnistlabError(f"{option('precision', cli='--precision', python='precision=')} must be one "
                            f"of {', '.join(PRECISIONS)}, got {precision!r}")
    return [dataclasses.replace(e, precision=precision) for e in exps]


def output_dir(nb: str, out, quick: bool) -> Path:
    return Path(out or f"reproduce/{nb}") / ("quick" if quick else "full")


def run_experiments(exps: list[Experiment], data: DataCache, out: Path, quick: bool,
                    seeds: int | None) -> list[Result]:
    results: dict[str, Result] = {}
    grid_exps = [e for e in exps if e.kind == "grid"]
    for exp in exps:
        n = seeds_for(exp, quick, seeds)
        if exp.kind == "single":
            results[exp.key] = run_single(exp, data, out, quick, n)
        elif exp.kind == "chain":
            if exp.after not in results:
                raise MnistlabError(f"{exp.key} continues '{exp.after}', which was not run")
            results[exp.key] = run_chain(exp, data, out, quick, results[exp.after])
        elif exp.kind == "grid" and exp is grid_exps[0]:
            for res in run_grid(grid_exps, data, out, quick, n):
                results[res.exp.key] = res
    return [results[e.key] for e in exps if e.key in results]


@contextlib.contextmanager
def each_warning_once():
    """A notebook's runs share their warnings (003's "validation: test", 004's pickled file,
    once per run): record them and show each distinct one once, also when a run fails."""
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        seen: dict[str, type] = {}
        for w in caught:
            seen.setdefault(str(w.message), w.category)
        for message, category in seen.items():
            warnings.warn(message, category, stacklevel=3)


def runs_dir(nb: str, base: Path, grouping: str) -> Path:
    """Where a notebook's runs go under its output folder: notebook 004's per grouping, so that
    runs on different data never share a folder (and a changed default finds its runs)."""
    return base / "groupings" / grouping if nb == "004" else base


def run_notebook(nb: str, *, quick: bool = False, out: Path | None = None,
                 seeds: int | None = None, only: list[str] | None = None,
                 grouping: str | None = None,
                 precision: str | None = None) -> tuple[list[Result], float]:
    """`precision`: every run's (auto | fp32 | bf16); None keeps each recipe's own (auto)."""
    if nb not in NOTEBOOKS:
        raise MnistlabError(f"unknown notebook '{nb}'; choose one of {', '.join(NOTEBOOKS)}")
    if grouping is not None and nb != "004":
        raise MnistlabError(f"{option('grouping', cli='--grouping', python='grouping=')} chooses notebook 004's "
                            f"5-class data; notebook {nb} has none")
    grouping = grouping or fashion5.DEFAULT_GROUPING
    fashion5.target_of_label(grouping)  # an unknown name fails before any training
    base = output_dir(nb, out, quick)
    run_out = runs_dir(nb, base, grouping)
    make_dirs(run_out)
    t_start = time.perf_counter()
    data = DataCache(quick, base, grouping)
    with each_warning_once():
        results = run_experiments(with_precision(select(NOTEBOOKS[nb], only), precision),
                                  data, run_out, quick, seeds)
    return results, time.perf_counter() - t_start
