"""Run a notebook's experiments through mnistlab.train / mnistlab.sweep and tabulate them.

Nothing here trains by itself: single experiments call `train.fit`, notebook 003's L2 sweep
(`run_grid` below) calls `sweep.grid.run_sweep`, and notebook 001's cumulative sweeps fork
the previous run (`runs.fork_run`) and continue it with `fit(..., resume=)`. `--quick` keeps
every model and parameter count exact but trains one epoch on a small slice of the data, so
CI can run all five notebooks as a wiring check.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path


from mnistlab.errors import MnistlabError
from mnistlab.runs.fork import fork_run, merge
from mnistlab.io import load_yaml
from mnistlab.reproduce import fashion5
from mnistlab.reproduce.notebooks import NOTEBOOKS, Experiment

QUICK_TRAIN, QUICK_TEST = 512, 256    # images per split in --quick
FASHION5 = "fashion-mnist-5class.npy"


@dataclasses.dataclass
class Result:
    exp: Experiment
    params: int | None = None
    accuracies: list[float] = dataclasses.field(default_factory=list)
    test_accuracies: list[float] = dataclasses.field(default_factory=list)
    epochs: list[int] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    runs: list[str] = dataclasses.field(default_factory=list)


def recipe_path(rel: str) -> Path:
    """A recipe named in notebooks.py (recipes/<file>.yaml): from the working directory,
    else the copy shipped in the package (so an installed wheel runs from any folder)."""
    from mnistlab.recipes import find
    return find(rel)


def load_recipe_dict(exp: Experiment) -> dict:
    cfg = load_yaml(recipe_path(exp.recipe).read_text())
    cfg.pop("sweep", None)  # the grid section is read by run_grid, not by fit
    return merge(cfg, exp.overrides if exp.kind != "grid" else {})


# ------------------------------------------------------------------ data

def _subset(ds, n_train: int, n_test: int):
    """The first n images of each split (the Dataset contract: uint8 NHWC + int64 labels)."""
    return dataclasses.replace(
        ds, x_train=ds.x_train[:n_train], y_train=ds.y_train[:n_train],
        x_test=None if ds.x_test is None else ds.x_test[:n_test],
        y_test=None if ds.y_test is None else ds.y_test[:n_test])


class DataCache:
    """Loads each dataset once per notebook; slices it in --quick."""

    def __init__(self, quick: bool, out: Path):
        self.quick, self.out, self._cache = quick, out, {}

    def for_recipe(self, cfg: dict):
        """(dataset or None, data-section updates) for one recipe."""
        name = cfg["data"]["dataset"]
        if name.endswith(FASHION5):  # notebook 004: build the pickled-dict file, load it by path
            path = self.out / FASHION5
            fashion5.build(path, limit=QUICK_TRAIN if self.quick else None)
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
    if exp.kind == "chain":  # one run directory per step, named after it
        cfg["name"] = f"{cfg.get('name', 'step')}-{exp.key}"
    if quick:
        cfg["epochs"] = 1
    return cfg, ds


def _metrics(run_dir: Path) -> dict:
    from mnistlab.runs.files import read_metrics
    return read_metrics(run_dir)


def accuracy_on_all_training_images(run_dir: Path, ds) -> float:
    """Notebook 001's number: model.evaluate(x_train, y_train) over every training image,
    the validation part included (`ds` None: the run's own data)."""
    from mnistlab.models.infer import accuracy
    from mnistlab.runs import load_run

    run = load_run(run_dir)
    if ds is None:
        ds = run.splits()
    return accuracy(run.model, ds.x_train, ds.y_train)


def _record(res: Result, run_dir: Path, ds, seconds: float) -> None:
    m = _metrics(run_dir)
    res.params = int(m["params"])  # Keras' total, BatchNorm statistics included
    res.test_accuracies.append(float(m["test_accuracy"]))
    res.epochs.append(int(m.get("epochs_run") or 0))
    res.seconds += seconds
    res.runs.append(str(run_dir))
    if res.exp.evaluated_on == "train":
        res.accuracies.append(accuracy_on_all_training_images(run_dir, ds))
    else:
        res.accuracies.append(float(m["test_accuracy"]))


def run_single(exp, data, out, quick, seeds) -> Result:
    from mnistlab.evaluate.report import report_line
    from mnistlab.train import fit

    res = Result(exp)
    base = load_recipe_dict(exp)
    for seed in range(seeds):
        cfg, ds = _prepare(exp, base, data, quick, seed)
        done, unfinished = previous_runs(out / exp.key, cfg)
        if done is not None:  # an earlier `reproduce` already trained this seed
            run_dir = done
        elif unfinished is not None:  # interrupted: continue from its last checkpoint
            run_dir = fit(dataset=ds, quiet=True, resume=unfinished)
        else:
            run_dir = fit(cfg, dataset=ds, out=str(out / exp.key), quiet=True)
        if not quick:
            report_line(run_dir, lambda *a: None, dataset=ds)
        # the run's own training time (all epochs, across resumes)
        _record(res, Path(run_dir), ds, float(_metrics(run_dir)["train_seconds"]))
    return res


def previous_runs(folder: Path, cfg: dict) -> tuple[Path | None, Path | None]:
    """(finished run, unfinished run) of this recipe and seed already in `folder`, so that a
    long reproduction killed half-way continues where it stopped when started again."""
    done = unfinished = None
    for conf in sorted(Path(folder).glob("*/config.yaml")):
        old = load_yaml(conf.read_text())
        if (old.get("seed"), old.get("epochs"), old.get("model"), old.get("optimizer", {}).get("name")) != (
                cfg["seed"], cfg["epochs"], cfg["model"], cfg["optimizer"]["name"]):
            continue
        if (conf.parent / "metrics.json").is_file():
            done = conf.parent
        elif (conf.parent / "checkpoint.pt").is_file():
            unfinished = conf.parent
    return done, unfinished


def run_chain(exp, data, out, quick, previous: Result) -> Result:
    """One more epoch on the previous step's model and optimiser (Keras: fit() again)."""
    from mnistlab.train import fit

    res = Result(exp)
    for seed, prev_dir in enumerate(previous.runs):
        ds, data_updates = data.for_recipe(load_recipe_dict(exp))
        steps = {**exp.overrides, "name": f"{exp.recipe.split('/')[-1][:-5]}-{exp.key}"}
        steps["epochs"] = int(_metrics(prev_dir)["epochs_run"]) + 1  # epochs count on
        fork = fork_run(Path(prev_dir), out / exp.key, steps)
        t0 = time.perf_counter()
        run_dir = fit(dataset=ds, quiet=True, resume=fork)
        _record(res, Path(run_dir), ds, time.perf_counter() - t0)
    return res


def run_grid(exps: list[Experiment], data, out, quick, repeats) -> list[Result]:
    """Notebook 003's L2 sweep: the sweep file run by mnistlab.sweep (`repeats` per value)."""
    from mnistlab.sweep.grid import load_sweep, run_sweep
    from mnistlab.sweep.results import read_csv

    path = recipe_path(exps[0].recipe)
    spec = load_yaml(path.read_text())
    (key, _), = spec["grid"].items()
    spec["grid"] = {key: [e.overrides["l2"] for e in exps]}
    spec["repeats"] = repeats
    spec["recipe"], ds = _prepare(exps[0], spec["recipe"], data, quick, spec["recipe"].get("seed", 0))
    t0 = time.perf_counter()
    sweep_dir = run_sweep(load_sweep(spec, base_dir=path.parent), out=out / "l2-sweep",
                          dataset=ds, quiet=True)
    seconds = time.perf_counter() - t0
    results = {float(e.overrides["l2"]): Result(e) for e in exps}
    for row in read_csv(sweep_dir / "results.csv"):
        if row["status"] != "done":
            raise MnistlabError(f"sweep trial {row['trial']} failed: {row.get('error')}")
        run_dir = Path(row["run_dir"])
        _record(results[float(row[key])], run_dir if run_dir.is_absolute() else sweep_dir / run_dir,
                ds, 0.0)
    for res in results.values():
        res.seconds = seconds / len(exps)
    return list(results.values())


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


def run_notebook(nb: str, *, quick: bool = False, out: Path | None = None,
                 seeds: int | None = None, only: list[str] | None = None) -> tuple[list[Result], float]:
    if nb not in NOTEBOOKS:
        raise MnistlabError(f"unknown notebook '{nb}'; choose one of {', '.join(NOTEBOOKS)}")
    out = Path(out or f"reproduce/{nb}") / ("quick" if quick else "full")
    out.mkdir(parents=True, exist_ok=True)
    data = DataCache(quick, out)
    t_start = time.perf_counter()
    results: dict[str, Result] = {}
    exps = select(NOTEBOOKS[nb], only)
    grid_exps = [e for e in exps if e.kind == "grid"]
    for exp in exps:
        n = 1 if quick else (seeds or exp.seeds)
        if exp.kind == "single":
            results[exp.key] = run_single(exp, data, out, quick, n)
        elif exp.kind == "chain":
            if exp.after not in results:
                raise MnistlabError(f"{exp.key} continues '{exp.after}', which was not run")
            results[exp.key] = run_chain(exp, data, out, quick, results[exp.after])
        elif exp.kind == "grid" and exp is grid_exps[0]:
            for res in run_grid(grid_exps, data, out, quick, n):
                results[res.exp.key] = res
    ordered = [results[e.key] for e in exps if e.key in results]
    return ordered, time.perf_counter() - t_start
