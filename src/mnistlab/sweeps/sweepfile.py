"""Reading a sweep file into a Sweep: its trials, each recipe validated once, and their data.

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

Keys are described in `mnistlab.sweeps.keys`.
"""
from __future__ import annotations

import copy
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnistlab.errors import MnistlabError, as_number, did_you_mean, unknown_key_error
from mnistlab.io import read_yaml_file
from mnistlab.sweeps import keys as K
from mnistlab.sweeps import results as R

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
    data: Any = field(default=None, repr=False, compare=False)  # DataIdentity, set by bind_data


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
                    out.append(Trial(tid, c, r, seed, values, written, check_recipe(written, values)))
            self._trials = out
        return self._trials


def bind_data(sweep: Sweep, dataset=None, *, quiet: bool = False) -> list:
    """Give every trial its DataIdentity (the data it trains on: `dataset`, else the one its
    recipe names, each loaded once through runs.load_run_dataset, as training loads it);
    returns the distinct ones. With `dataset`, the recipes name it too (its reference), so
    trial.json and sweep.yaml say which data it was."""
    from mnistlab.runs import load_run_dataset

    if dataset is not None:
        ident = dataset.identity
        sweep.base = _naming(sweep.base, ident.ref)
        for t in sweep.trials():
            t.recipe, t.data = _naming(t.recipe, ident.ref), ident
        return [ident]
    seen: dict = {}
    for t in sweep.trials():
        data = t.checked.to_dict()["data"]
        key = (data["dataset"], data["allow_pickle"])
        if key not in seen:
            seen[key] = load_run_dataset(data, quiet=quiet).identity
        t.data = seen[key]
    return list(dict.fromkeys(seen.values()))


def _naming(recipe: dict, ref: str) -> dict:
    return {**recipe, "data": {**(recipe.get("data") or {}), "dataset": ref}}


# ----------------------------------------------------------------------------------------
# reading a sweep file

def expand_values(key: str, spec: Any) -> list:
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
        spec = read_yaml_file(path, "sweep file")
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
        base = read_recipe_file(rpath, "base recipe")
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
    grid_vals = {k: expand_values(k, v) for k, v in grid.items()}
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
    named_val = [m for m in (spec.get("metrics") or []) if "val_" in m]  # the default pair fits any run
    if named_val:
        from mnistlab.train.recipe import Recipe, has_validation
        for values in configs:
            if not has_validation(Recipe(K.apply(base, values)).data):
                raise MnistlabError(f"sweep metric {named_val[0]} needs validation data and the recipe"
                                    f"{' with ' + str(values) if values else ''} has none; set "
                                    "data.validation_split (e.g. 0.1) or data.split")
    return sweep


def read_recipe_file(path: Path, what: str = "recipe") -> dict:
    """A recipe file as a dict (validated later, per configuration, by check_recipe)."""
    return read_yaml_file(path, what, mapping_of="recipe keys")


def check_recipe(recipe: dict, values: dict):
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
