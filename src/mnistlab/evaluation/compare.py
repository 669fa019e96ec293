"""Several runs at a glance: the `mnistlab runs` table and `mnistlab compare`."""
from __future__ import annotations

from pathlib import Path

from mnistlab.errors import MnistlabError
from mnistlab.evaluation import plots
from mnistlab.evaluation.runfiles import last, model_name, read_run
from mnistlab.runs.layout import CHECKPOINT
from mnistlab.runs.lock import trained_by

COLUMNS = ["name", "model", "params", "epochs", "val_acc", "test_acc", "test_loss", "seconds"]


def run_row(run_dir) -> dict:
    """One run's summary. val_acc is the last epoch's (the weights that were evaluated
    unless early stopping restored an earlier epoch; then best_epoch says which)."""
    run = read_run(run_dir)
    m = run.metrics
    return {"name": run.name, "model": model_name(run.config), "params": m.get("params"),
            "epochs": m.get("epochs_run", len(run.history.rows) or None),
            "val_acc": last(run.history.rows, "val_accuracy"), "test_acc": m.get("test_accuracy"),
            "test_loss": m.get("test_loss"), "seconds": m.get("train_seconds"),
            "status": "" if m else run_state(run.dir, len(run.history.rows))}


def run_state(run_dir, epochs_done: int) -> str:
    """What an unfinished run is doing: being trained right now (its lock is held), or
    interrupted and resumable from its last checkpoint."""
    who = trained_by(run_dir)
    if who is not None:
        return f"training: {who.split(',')[0]}"
    if (Path(run_dir) / CHECKPOINT).is_file():
        return f"interrupted after epoch {epochs_done}; resumable: mnistlab train --resume {run_dir}"
    return "interrupted; no checkpoint"


def runs_table(run_dirs) -> list[dict]:
    return [run_row(d) for d in run_dirs]


def _cell(key: str, value) -> str:
    if value is None:
        return "-"
    if key in ("val_acc", "test_acc", "test_loss"):
        return f"{value:.4f}"
    if key == "seconds":
        return f"{value:.1f}"
    if key == "params":
        return f"{value:,}"
    return str(value)


def format_table(rows: list[dict], columns: list[str] = COLUMNS) -> str:
    """A plain-text table: one row per run, text left-aligned, numbers right-aligned."""
    cells = [[_cell(c, r.get(c)) + (f" ({r['status'].split(';')[0]})" if c == "name" and r.get("status") else "")
              for c in columns] for r in rows]
    widths = [max(len(x) for x in [c, *(row[i] for row in cells)]) for i, c in enumerate(columns)]
    left = {"name", "model"}

    def line(values):
        return "  ".join(v.ljust(w) if c in left else v.rjust(w)
                         for c, v, w in zip(columns, values, widths)).rstrip()
    return "\n".join([line(columns), *map(line, cells)])


def compare(run_dirs, out="compare.png") -> tuple[str, Path]:
    """(side-by-side table, overlaid curves PNG) of several runs."""
    if len(run_dirs) < 1:
        raise MnistlabError("give at least one run directory to compare")
    runs = [read_run(d) for d in run_dirs]
    rows = []
    for run in runs:
        row = run_row(run.dir)
        row["best_val_acc"] = max((h["val_accuracy"] for h in run.history.rows if h.get("val_accuracy") is not None),
                                  default=None)
        rows.append(row)
    # The metrics as rows and the runs as columns: easier to read side by side.
    names = [r["name"] for r in rows]
    keys = [c for c in COLUMNS if c != "name"] + ["best_val_acc"]
    fmt = lambda k, v: _cell("val_acc" if k == "best_val_acc" else k, v)  # noqa: E731
    table = [["", *names]] + [[k, *(fmt(k, r.get(k)) for r in rows)] for k in keys]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    text = "\n".join("  ".join(v.ljust(widths[0]) if i == 0 else v.rjust(widths[i])
                               for i, v in enumerate(row)).rstrip() for row in table)
    histories = {}
    for run in runs:  # two runs of one recipe share a name; keep both curves
        histories[run.name if run.name not in histories else str(run.dir)] = run.history.rows
    png = plots.plot_compare(histories, out)
    return text, png
