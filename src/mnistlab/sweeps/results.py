"""Sweep results: one row per trial, a summary per configuration, an error-bar plot.

Everything here reads run directories (Contract 4) and plain rows; nothing trains.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from mnistlab.io import save_figure, write_atomic

# What a trial row records, read from the run directory.
TRIAL_METRICS = ["max_val_accuracy", "val_accuracy", "min_val_loss", "val_loss",
                 "test_accuracy", "test_loss", "epochs_run", "train_seconds", "params"]
STATS = ["mean", "std", "min", "max"]


write_text_atomic = write_atomic  # the name the sweep modules use


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: format_value(row.get(k)) for k in columns})
    write_text_atomic(path, buf.getvalue())


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def format_value(v: Any) -> str:
    """A value as a CSV cell: numbers as Python writes them, lists/dicts as JSON."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def trial_metrics(run_dir: Path) -> dict:
    """The numbers a sweep compares, from metrics.json and history.csv of one run."""
    from mnistlab.runs.files import read_history, read_metrics
    metrics = read_metrics(run_dir)
    out = {k: _float(metrics.get(k)) for k in
           ("test_accuracy", "test_loss", "epochs_run", "train_seconds", "params")}
    history = read_history(run_dir)
    val_acc = np.array([_float(r.get("val_accuracy")) for r in history], dtype=float)
    val_loss = np.array([_float(r.get("val_loss")) for r in history], dtype=float)
    have_acc, have_loss = val_acc[~np.isnan(val_acc)], val_loss[~np.isnan(val_loss)]
    out["val_accuracy"] = float(val_acc[-1]) if len(val_acc) else math.nan
    out["max_val_accuracy"] = float(have_acc.max()) if len(have_acc) else math.nan
    out["val_loss"] = float(val_loss[-1]) if len(val_loss) else math.nan
    out["min_val_loss"] = float(have_loss.min()) if len(have_loss) else math.nan
    for k in ("epochs_run", "params"):
        if not math.isnan(out[k]):
            out[k] = int(out[k])
    return out


def summarize(rows: list[dict], keys: list[str], metrics: list[str]) -> list[dict]:
    """Per configuration: the swept values, n done, n failed, and mean/std/min/max.

    std is the population standard deviation (numpy's default, ddof=0), as notebook 003
    computed its error bars. NaN values (a metric the run did not produce) are left out.
    """
    groups: dict[int, list[dict]] = {}
    for row in rows:
        groups.setdefault(int(row["config"]), []).append(row)
    summary = []
    for config in sorted(groups):
        members = groups[config]
        done = [r for r in members if r["status"] == "done"]
        entry = {"config": config, **{k: members[0].get(k) for k in keys},
                 "n": len(done), "failed": sum(r["status"] == "failed" for r in members)}
        for m in metrics:
            vals = np.array([_float(r.get(m)) for r in done], dtype=float)
            vals = vals[~np.isnan(vals)]
            for stat, fn in zip(STATS, (np.mean, np.std, np.min, np.max)):
                entry[f"{m}_{stat}"] = float(fn(vals)) if len(vals) else math.nan
        summary.append(entry)
    return summary


def summary_columns(keys: list[str], metrics: list[str]) -> list[str]:
    return ["config", *keys, "n", "failed"] + [f"{m}_{s}" for m in metrics for s in STATS]


def format_mean(mean: float, std: float, n: int) -> str:
    """`mean ± std` over repeats; the mean alone for one repeat (a std of 0 would claim a
    spread that was never measured); '-' for none."""
    if math.isnan(mean):
        return "-"
    return f"{mean:.4f}" if n <= 1 else f"{mean:.4f} ± {std:.4f}"


def format_summary(summary: list[dict], keys: list[str], metrics: list[str]) -> str:
    """A plain-text table: one line per configuration, `mean ± std [min, max]` per metric."""
    def fmt(x: float) -> str:
        return "-" if math.isnan(x) else f"{x:.4f}"

    header = [*keys, "n"] + metrics
    lines = []
    for e in summary:
        cells = [format_value(e.get(k)) for k in keys] + [
            f"{e['n']}" + (f" ({e['failed']} failed)" if e["failed"] else "")]
        for m in metrics:
            cells.append(format_mean(e[f"{m}_mean"], e[f"{m}_std"], e["n"]) + (
                f" [{fmt(e[f'{m}_min'])}, {fmt(e[f'{m}_max'])}]" if e["n"] > 1 else ""))
        lines.append(cells)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *lines)]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip() for cells in lines]
    return "\n".join(out)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def use_log_axis(values: list) -> bool:
    """Log x axis when the values are positive numbers spanning at least a decade."""
    nums = [v for v in values if _is_number(v)]
    return (len(nums) == len(values) and len(nums) > 1 and min(nums) > 0
            and max(nums) / min(nums) >= 10)


def plot_errorbars(summary: list[dict], keys: list[str], metric: str, path: Path,
                   x_key: str | None = None, title: str | None = None) -> Path:
    """errorbar_figure(...) written as a PNG (atomically); returns the path."""
    fig = errorbar_figure(summary, keys, metric, x_key=x_key, title=title)
    return save_figure(fig, path)


def errorbar_figure(summary: list[dict], keys: list[str], metric: str, x_key: str | None = None,
                    title: str | None = None):
    """A Figure: metric mean ± std vs the swept value `x_key`; one line per value of the
    other keys. Built without pyplot, so a notebook's backend is left alone."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter, NullLocator

    x_key = x_key or (keys[0] if keys else None)
    others = [k for k in keys if k != x_key]
    xs_all = [e.get(x_key) for e in summary] if x_key else [e["config"] for e in summary]
    numeric = all(_is_number(v) for v in xs_all)
    categories = list(dict.fromkeys(format_value(v) for v in xs_all))

    series: dict[str, list[dict]] = {}
    for e in summary:
        label = ", ".join(f"{k}={format_value(e.get(k))}" for k in others)
        series.setdefault(label, []).append(e)

    fig = Figure(figsize=(6.4, 4.2), dpi=100)
    ax = fig.subplots()
    for label, entries in series.items():
        if numeric:
            entries = sorted(entries, key=lambda e: e.get(x_key) if x_key else e["config"])
            xs = [e.get(x_key) if x_key else e["config"] for e in entries]
        else:
            xs = [categories.index(format_value(e.get(x_key))) for e in entries]
        ax.errorbar(xs, [e[f"{metric}_mean"] for e in entries],
                    yerr=[e[f"{metric}_std"] for e in entries],
                    fmt="-o", capsize=4, label=label or None)
    if numeric and use_log_axis(xs_all):
        ax.set_xscale("log")
    distinct = sorted(set(xs_all)) if numeric else list(range(len(categories)))
    if len(distinct) <= 12:  # label exactly the swept values
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(distinct)
        ax.set_xticklabels([format_value(v) for v in distinct] if numeric else categories)
    ax.set_xlabel(x_key or "configuration")
    ax.set_ylabel(f"{metric} (mean ± std)")
    ax.set_title(title or f"{metric} vs {x_key or 'configuration'}")
    ax.grid(True, alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize="small")
    from mnistlab.display import rotate_crowded_ticks
    rotate_crowded_ticks(ax)
    fig.tight_layout()
    return fig
