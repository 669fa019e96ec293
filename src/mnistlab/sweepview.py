"""What mnistlab.sweep and mnistlab.tune return in a notebook: the result folder read back,
shown as a table and a figure (error bars over repeats; the tuning history)."""
from __future__ import annotations

import math
from pathlib import Path

import yaml

from mnistlab.display import figure_img, html_table


class SweepResult:
    """A sweep folder: .summary (per configuration: mean/std/min/max over repeats), .results
    (per trial), .keys, .metrics, .best (the best configuration); .plot(metric) -> Figure."""

    def __init__(self, path):
        from mnistlab.sweeps import results as R
        self.path = Path(path)
        from mnistlab.io import read_yaml_file
        info = read_yaml_file(self.path / "sweep.yaml", "sweep record", mapping_of="sweep keys (name, keys, metrics)")
        self.name, self.keys, self.metrics = info["name"], list(info["keys"]), list(info["metrics"])
        rows = R.read_csv(self.path / "results.csv")
        self.summary = R.summarize(rows, self.keys, self.metrics)
        for e in self.summary:  # values read from CSV are text; the summary keeps them typed
            for k in self.keys:
                e[k] = _typed(e[k])
        self.results = [_typed_row(r, self.path) for r in rows]

    @property
    def best(self) -> dict:
        m = f"{self.metrics[0]}_mean"
        done = [e for e in self.summary if not math.isnan(e[m])]
        return max(done, key=lambda e: e[m]) if done else {}

    def plot(self, metric: str | None = None):
        from mnistlab.sweeps.results import errorbar_figure
        metric = metric or self.metrics[0]
        if metric not in self.metrics:
            from mnistlab.errors import unknown_key_error
            raise unknown_key_error(metric, self.metrics, "metric", context=f"sweep {self.name}: ")
        shown = [e for e in self.summary if not math.isnan(e[f"{metric}_mean"])]
        return errorbar_figure(shown, self.keys, metric, title=f"{self.name}: {metric} (mean ± std over repeats)")

    def _rows(self):
        from mnistlab.sweeps.results import format_mean
        rows = []
        for e in self.summary:
            cells = [e[k] for k in self.keys] + [e["n"]]
            for m in self.metrics:
                mean, std = e[f"{m}_mean"], e[f"{m}_std"]
                cells.append(format_mean(mean, std, e["n"]))
            rows.append(cells)
        return [*self.keys, "n", *[f"{m} (mean ± std)" for m in self.metrics]], rows

    def __repr__(self) -> str:
        from mnistlab.sweeps.results import format_summary
        return f"Sweep {self.name} ({self.path})\n" + format_summary(self.summary, self.keys, self.metrics)

    def _repr_html_(self) -> str:
        head, rows = self._rows()
        return (f"<div><b>Sweep</b> {self.name} <code>{self.path}</code>{html_table(head, rows)}"
                f"{figure_img(self.plot())}</div>")


class TuneResult:
    """A tuning study folder: .trials (rows of trials.csv), .best (the best trial's row),
    .best_recipe (path); .plot() -> Figure of the objective per trial and the best so far."""

    def __init__(self, path, metric: str, direction: str):
        from mnistlab.sweeps import results as R
        self.path = Path(path)
        self.metric, self.direction = metric, direction
        self.trials = [_typed_row(r, self.path) for r in R.read_csv(self.path / "trials.csv")]
        self.best_recipe = self.path / "best_recipe.yaml"

    def _complete(self):
        return [t for t in self.trials if t["state"] == "COMPLETE" and t["value"] is not None]

    @property
    def best(self) -> dict:
        """The best complete trial's row: numbers as numbers, run_dir relative to the study."""
        done = self._complete()
        pick = max if self.direction == "maximize" else min
        return dict(pick(done, key=lambda t: t["value"])) if done else {}

    def plot(self):
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
        fig = Figure(figsize=(6.4, 3.8))
        ax = fig.subplots()
        done = self._complete()
        xs, ys = [t["number"] for t in done], [t["value"] for t in done]
        ax.plot(xs, ys, "o", label="trial")
        best, line = None, []
        for y in ys:
            best = y if best is None else (max(best, y) if self.direction == "maximize" else min(best, y))
            line.append(best)
        ax.step(xs, line, where="post", label="best so far")
        ax.set_xlabel("trial")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers, not 2.5
        ax.set_ylabel(self.metric)
        ax.grid(alpha=0.3)
        ax.legend()
        return fig

    def _table(self):
        params = [k for k in (self.trials[0] if self.trials else {}) if k.startswith("params.")]
        head = ["number", "state", self.metric, *[p[7:] for p in params]]
        rows = [[t["number"], t["state"], t["value"], *[t[p] for p in params]] for t in self.trials]
        return head, rows

    def __repr__(self) -> str:
        head, rows = self._table()
        cells = [head, *[[str(c) for c in r] for r in rows]]
        widths = [max(len(r[j]) for r in cells) for j in range(len(head))]
        return f"Study {self.path} best: {self.best}\n" + "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells)

    def _repr_html_(self) -> str:
        head, rows = self._table()
        best = self.best
        line = f"best trial {best['number']}: {self.metric} {best['value']:.4f}" if best else "no complete trial"
        return (f"<div><b>Tuning</b> <code>{self.path}</code>: {line}{html_table(head, rows)}"
                f"{figure_img(self.plot()) if self._complete() else ''}</div>")


_TEXT = ("state", "host", "error", "status")  # columns that stay text, whatever they spell


def _typed_row(row: dict, base: Path) -> dict:
    """A CSV row with typed cells: '' -> None, numbers and YAML values as themselves, and a
    run_dir inside the study or sweep folder as a Path relative to it."""
    out = {}
    for k, v in row.items():
        if v in ("", None):
            out[k] = None
        elif k in _TEXT:
            out[k] = v
        elif k in ("run_dir", "trial_dir"):
            path = Path(v)
            try:
                out[k] = path.resolve().relative_to(base.resolve())
            except ValueError:  # a run elsewhere (another machine's --out): as recorded
                out[k] = path
        else:
            out[k] = _typed(v)
    return out


def _typed(v):
    if not isinstance(v, str):
        return v
    try:
        return yaml.safe_load(v)
    except yaml.YAMLError:
        return v
