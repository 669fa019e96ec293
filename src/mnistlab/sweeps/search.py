"""Budgeted architecture search: the most accurate conv net under N parameters.

Optuna samples a conv net (Contract 2 spec) per trial; the spec is counted first and a
candidate over budget is pruned with no training. The rest are trained with exactly
`mnistlab.train.fit` on the training set minus a validation split (the test set is hidden
from them), and the study is two-objective: validation accuracy up, parameters down.
The test set is used once, at the end, to report the Pareto-front members.

Output directory (`--out`, default searches/<study>/):
    study.db            the Optuna study (unless --storage points elsewhere)
    trials/             one normal run directory per trained trial
    pareto.csv          the front: trial, params, val_accuracy, test_accuracy, recipe
    pareto.png          params vs validation accuracy, every trial, front highlighted
    recipes/trial-N.yaml  a ready-to-run recipe per front member (`mnistlab train` it)
"""
from __future__ import annotations

import copy
import csv
import dataclasses
import io
import math
import socket
import sys
import warnings
from pathlib import Path

from mnistlab.errors import MnistlabError, option
from mnistlab.io import make_dirs, save_figure, writable_dir
from mnistlab.sweeps.study import check_data, optimize

# Search space. Every choice is a named Optuna parameter, so the study's tables and plots
# read like the architecture: b0_convs, b0_kind_1, b1_filters_0, pool_after_0, head, ...
MAX_BLOCKS = 3
CONVS_PER_BLOCK = (1, 3)
FILTERS = (2, 64)   # clipped per budget by filter_range()
KINDS = ("conv3x3", "separable3x3")
ACTIVATIONS = ("relu", "elu")
HEADS = ("gap", "flatten_dense")
DENSE_UNITS = (8, 64)
DROPOUT = (0.0, 0.25)

# Training defaults for a candidate (a recipe; `--recipe` replaces any of these keys).
BASE_RECIPE = {
    "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True},
    "callbacks": {"lr_schedule": {"name": "onecycle", "pct_start": 0.25}},
    "batch_size": 128,
    "augment": None,
}


class Rejected(Exception):
    """A sampled architecture that cannot be built (e.g. pooled down below 1x1)."""


def _out_size(size: int, kernel: int, padding: str) -> int:
    return size if padding == "same" else size - kernel + 1


def _channels(layers: list[dict]) -> int:
    return next(layer["filters"] for layer in reversed(layers) if "filters" in layer)


def filter_range(max_params: int | None) -> tuple[int, int]:
    """Filters per conv, scaled to the budget: a 3x3 conv c -> c costs 9c^2 weights, so
    beyond sqrt(budget / 9) filters every candidate is over budget. Sampling them would only
    waste trials (each costs a storage round trip even when no training happens)."""
    if max_params is None:
        return 4, 32
    hi = max(4, min(FILTERS[1], int(math.sqrt(max_params / 9))))
    return max(FILTERS[0], hi // 4), hi  # much narrower than the budget allows only wastes it


def suggest_spec(trial, input_shape: list[int], num_classes: int, max_params: int | None = None) -> dict:
    """Sample a conv net spec from `trial` (any object with Optuna's suggest_* methods).

    Shape: blocks of [optional 1x1 transition] + 1-3 convs (3x3 or separable 3x3), each
    conv optionally followed by BatchNorm, then the activation; optional max-pooling and
    dropout after a block; a GAP head (1x1 conv to the classes + global average pool) or a
    flatten + dense head. Raises Rejected when the net shrinks the image below 1x1.
    """
    h, w = input_shape[0], input_shape[1]
    f_lo, f_hi = filter_range(max_params)
    n_blocks = trial.suggest_int("blocks", 1, MAX_BLOCKS)
    bn = trial.suggest_categorical("batchnorm", [True, False])
    act = trial.suggest_categorical("activation", list(ACTIVATIONS))
    padding = trial.suggest_categorical("padding", ["valid", "same"])
    dropout = trial.suggest_float("dropout", *DROPOUT, step=0.05)
    layers: list[dict] = []

    def conv(filters: int, kernel: int, kind: str = "conv3x3"):
        nonlocal h, w
        pad = "valid" if kernel == 1 else padding
        h, w = _out_size(h, kernel, pad), _out_size(w, kernel, pad)
        if h < 1 or w < 1:
            raise Rejected("the convolutions shrink the image below 1x1")
        layer_type = "separable_conv2d" if kind == "separable3x3" else "conv2d"
        # BatchNorm right after the conv makes the conv's bias redundant: leave it out.
        layers.append({"type": layer_type, "filters": filters, "kernel": kernel,
                       "padding": pad, "use_bias": not bn})
        if bn:
            layers.append({"type": "batchnorm"})
        layers.append({"type": "activation", "activation": act})

    for b in range(n_blocks):
        if b > 0 and trial.suggest_categorical(f"b{b}_transition", [True, False]):
            conv(trial.suggest_int(f"b{b}_transition_filters", f_lo, max(f_lo, f_hi // 2)), 1)
        for i in range(trial.suggest_int(f"b{b}_convs", *CONVS_PER_BLOCK)):
            # The very first conv sees one channel: a separable conv there saves nothing.
            kind = "conv3x3" if (b == 0 and i == 0) else trial.suggest_categorical(f"b{b}_kind_{i}", list(KINDS))
            conv(trial.suggest_int(f"b{b}_filters_{i}", f_lo, f_hi), 3, kind)
        if b < n_blocks - 1 or n_blocks == 1:  # the head follows the last block of a deeper net
            if trial.suggest_categorical(f"pool_after_{b}", [True, False]) and min(h, w) >= 2:
                layers.append({"type": "maxpool2d", "pool": 2})
                h, w = h // 2, w // 2
        if dropout > 0:
            layers.append({"type": "dropout", "rate": dropout})

    head = trial.suggest_categorical("head", list(HEADS))
    if head == "gap":
        layers.append({"type": "conv2d", "filters": num_classes, "kernel": 1, "padding": "valid"})
        layers.append({"type": "global_avg_pool"})
    else:
        layers.append({"type": "flatten"})
        flat = h * w * _channels(layers)
        hi = DENSE_UNITS[1] if max_params is None else max(2, min(DENSE_UNITS[1], max_params // (flat + 1)))
        units = trial.suggest_int("dense_units", min(DENSE_UNITS[0], hi), hi, log=True)
        layers.append({"type": "dense", "units": units, "activation": act})
        layers.append({"type": "dense", "units": num_classes})
    layers.append({"type": "activation", "activation": "softmax"})
    return {"input_shape": list(input_shape), "layers": layers}


# ---------------------------------------------------------------------- the objective

MCU_BUDGETS = ("max_macs", "max_ram_bytes", "max_flash_bytes")


@dataclasses.dataclass
class SearchConfig:
    max_params: int
    dataset: str = "mnist"
    max_macs: int | None = None         # microcontroller budgets, checked like max_params
    max_ram_bytes: int | None = None
    max_flash_bytes: int | None = None
    epochs: int = 3
    trials: int = 20
    validation_split: float = 0.1
    seed: int = 0
    base: dict | None = None          # recipe keys replacing BASE_RECIPE's
    quiet: bool = False


def candidate_recipe(spec: dict, cfg: SearchConfig, *, name: str, seed: int) -> dict:
    """The recipe a candidate trains with (and the one written for a front member)."""
    training = copy.deepcopy(BASE_RECIPE)
    for key, value in (cfg.base or {}).items():
        training[key] = copy.deepcopy(value)
    data = dict(training.pop("data", None) or {})
    data.update(dataset=cfg.dataset, validation_split=cfg.validation_split, validation="split")
    data.pop("split", None)
    for key in ("name", "model", "max_params", "epochs", "seed", *MCU_BUDGETS):
        training.pop(key, None)
    budgets = {key: getattr(cfg, key) for key in MCU_BUDGETS if getattr(cfg, key) is not None}
    # Key order as a person would write it: what, on which data, then how to train.
    return {"name": name, "data": data, "model": spec, "max_params": cfg.max_params, **budgets,
            **training, "epochs": cfg.epochs, "seed": seed}


def without_test(ds):
    """The dataset with its test set removed: trials can neither see nor report it."""
    return dataclasses.replace(ds, x_test=None, y_test=None)


def make_objective(cfg: SearchConfig, train_ds, out_dir: Path):
    import optuna

    from mnistlab.models import check_budget, count_params, summary
    from mnistlab.train import train_run
    from mnistlab.runs import open_run

    input_shape = list(train_ds.x_train.shape[1:])

    def objective(trial: optuna.Trial):
        try:
            spec = suggest_spec(trial, input_shape, len(train_ds.classes), cfg.max_params)
        except Rejected as why:
            trial.set_user_attr("rejected", str(why))
            raise optuna.TrialPruned(str(why)) from None
        params = count_params(spec)
        trial.set_user_attr("params", params)
        trial.set_user_attr("macs", summary(spec).macs)
        trial.set_user_attr("spec", spec)
        if params > cfg.max_params:  # counted before training: no time spent on it
            trial.set_user_attr("rejected", f"{params} params > budget {cfg.max_params}")
            raise optuna.TrialPruned(f"{params} params over budget")
        try:  # MACs, RAM and flash, likewise before training
            check_budget(spec, **{key: getattr(cfg, key) for key in MCU_BUDGETS})
        except MnistlabError as over:
            trial.set_user_attr("rejected", str(over))
            raise optuna.TrialPruned(str(over)) from None
        recipe = candidate_recipe(spec, cfg, name=f"trial-{trial.number}", seed=cfg.seed + trial.number)
        trial.set_user_attr("host", socket.gethostname())
        run_dir = train_run(recipe, dataset=train_ds, out=out_dir / "trials", quiet=True)
        history = open_run(run_dir).history.rows
        val_acc = float(history[-1]["val_accuracy"])  # final epoch: no best-epoch picking
        trial.set_user_attr("run_dir", str(Path(run_dir).resolve()))
        trial.set_user_attr("val_accuracy", val_acc)
        return val_acc, params

    return objective


# ---------------------------------------------------------------------- study handling

def open_study(name: str, out_dir: Path, storage: str | None, seed: int):
    """The two-objective study (accuracy up, params down), created or joined. The storage
    is `mnistlab tune`'s (SQLite in the study directory, or any RDB URL such as
    postgresql://...), so a search distributes over processes and machines the same way."""
    import optuna

    from mnistlab.sweeps.study import open_storage, redact

    with warnings.catch_warnings():  # multivariate, constant_liar, heartbeats: "experimental"
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # constant_liar: parallel workers do not all sample the same architecture
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
        store = open_storage(storage, out_dir)
    try:
        return optuna.create_study(study_name=name, storage=store, sampler=sampler,
                                   load_if_exists=True, directions=["maximize", "minimize"])
    except ValueError as err:  # e.g. joining a single-objective study of the same name
        raise MnistlabError(f"cannot open study '{name}' in {redact(storage or str(out_dir / 'study.db'))}: "
                            f"{err}; use another --study name") from None


def run_search(cfg: SearchConfig, *, study: str | None = None, storage: str | None = None,
               out: str | Path = "searches", dataset=None) -> Path:
    """Train `cfg.trials` candidates (joining any other process on the same study), then
    write the front. `dataset` (a mnistlab Dataset) replaces cfg.dataset, as in train_run()."""
    import optuna

    from mnistlab.data import load_dataset

    if cfg.max_params < 1:
        raise MnistlabError(f"--max-params must be a positive number of parameters, got {cfg.max_params}")
    if cfg.epochs < 1 or cfg.trials < 0:
        raise MnistlabError(f"--epochs must be >= 1 and --trials >= 0 (0: only write the front), "
                            f"got {cfg.epochs} and {cfg.trials}")
    if not 0 < cfg.validation_split < 1:
        raise MnistlabError(f"--validation-split must be in (0, 1), got {cfg.validation_split}")
    writable_dir(out, option("out", str(out)))  # before any data loads
    ds = dataset if dataset is not None else load_dataset(cfg.dataset)
    cfg = dataclasses.replace(cfg, dataset=ds.reference)  # what the front's recipes load again
    name = study or f"search-{Path(ds.name).stem}-{cfg.max_params}"
    out_dir = writable_dir(Path(out) / name, option("out", str(out)))
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own one line per trial instead
    st = open_study(name, out_dir, storage, cfg.seed)
    check_data(st, [ds.identity], f"search study '{name}'", "use another --study name or --out for other data")
    objective = make_objective(cfg, without_test(ds), out_dir)
    # Over-budget candidates cost nothing, so they do not count as trials: this process
    # stops once it has trained `trials` architectures (capped so a tiny budget still ends).
    trained = 0
    bar = _trials_bar(cfg.trials, cfg.quiet)

    def count(study, trial):
        nonlocal trained
        if trial.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL):
            trained += 1
            if bar is not None:
                bar.update(1)
        if not cfg.quiet:  # every candidate, trained or skipped, gets its line
            (bar.write if bar is not None else print)(candidate_line(trial))
        if trained >= cfg.trials:
            study.stop()

    # catch: a candidate that crashes (e.g. diverges) is recorded as FAIL; the study goes on
    try:
        if cfg.trials:
            optimize(st, objective, n_trials=cfg.trials * 50, callbacks=[count], gc_after_trial=True,
                     show_progress_bar=False)
    finally:
        if bar is not None:
            bar.close()
    write_front(st, out_dir, cfg, ds)
    return out_dir


def _trials_bar(total: int, quiet: bool):
    """A tqdm bar over the architectures to train (stderr, terminals only), or None."""
    if quiet or not total or not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="search", unit="trial", dynamic_ncols=True, file=sys.stderr)


def candidate_line(trial) -> str:
    """One line per candidate: its size and cost, then its result or why it was skipped."""
    import optuna
    a = trial.user_attrs
    line = f"trial {trial.number}:"
    if "params" in a:
        line += f" {a['params']:,} params"
    if "macs" in a:
        line += f", {a['macs']:,} MACs"
    seconds = (trial.duration.total_seconds() if trial.duration is not None else 0.0)
    state = trial.state
    if state == optuna.trial.TrialState.COMPLETE:
        return f"{line}, val_accuracy {trial.values[0]:.4f}, {seconds:.1f} s"
    if state == optuna.trial.TrialState.PRUNED:
        why = a.get("rejected", "pruned")
        over = "params >" in why or "budget" in why
        sep = "," if line.endswith(("params", "MACs")) else ""
        return f"{line}{sep} {'over budget' if over else 'rejected'}: skipped without training ({why})"
    sep = "," if line.endswith(("params", "MACs")) else ""
    return f"{line}{sep} failed after {seconds:.1f} s"


# ---------------------------------------------------------------------- outputs

def front_test_accuracy(run_dir: str, ds) -> float:
    """The one look at the test set: a front member's final weights on ds's test split."""
    from mnistlab.models.infer import accuracy
    from mnistlab.runs import open_run

    return accuracy(open_run(run_dir).model, ds.x_test, ds.y_test, batch_size=4096)


def write_front(study, out_dir: Path, cfg: SearchConfig, ds) -> list[dict]:
    """pareto.csv, pareto.png and recipes/trial-N.yaml for the front; returns the rows."""
    import yaml

    from mnistlab.sweeps.results import write_text_atomic

    # Optuna's best_trials: the completed trials no other beats on both objectives
    front = sorted(study.best_trials, key=lambda t: t.values[1])
    rows = []
    make_dirs(out_dir / "recipes")
    for t in front:
        recipe = candidate_recipe(t.user_attrs["spec"], cfg, name=f"search-{cfg.max_params}-trial-{t.number}",
                                  seed=0)
        path = out_dir / "recipes" / f"trial-{t.number}.yaml"
        write_text_atomic(path, yaml.safe_dump(recipe, sort_keys=False))
        test = front_test_accuracy(t.user_attrs["run_dir"], ds) if ds.x_test is not None else math.nan
        rows.append({"trial": t.number, "params": int(t.values[1]), "val_accuracy": round(t.values[0], 5),
                     "test_accuracy": round(test, 5), "recipe": str(path)})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["trial", "params", "val_accuracy", "test_accuracy", "recipe"])
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out_dir / "pareto.csv", buf.getvalue())
    plot_front(study, front, cfg.max_params, out_dir / "pareto.png")
    if not cfg.quiet:
        print(format_table(rows))
    return rows


def format_table(rows: list[dict]) -> str:
    head = f"{'trial':>6} {'params':>7} {'val_acc':>8} {'test_acc':>8}  recipe"
    body = [f"{r['trial']:>6} {r['params']:>7} {r['val_accuracy']:>8.4f} {r['test_accuracy']:>8.4f}  {r['recipe']}"
            for r in rows]
    return "\n".join(["Pareto front (validation accuracy vs params; test touched once, here):", head, *body])


def plot_front(study, front, max_params: int, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna

    done = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.scatter([t.values[1] for t in done], [t.values[0] for t in done], s=14, c="0.6", label="trials")
    if front:
        ax.step([t.values[1] for t in front], [t.values[0] for t in front], where="post", c="C1")
        ax.scatter([t.values[1] for t in front], [t.values[0] for t in front], s=28, c="C1",
                   label="Pareto front", zorder=3)
        for t in front:
            ax.annotate(str(t.number), (t.values[1], t.values[0]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    ax.axvline(max_params, ls="--", c="C3", lw=1, label=f"budget {max_params:,}")
    ax.set_xlabel("parameters")
    ax.set_ylabel("validation accuracy (final epoch)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
