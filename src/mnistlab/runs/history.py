"""History: a run's history.csv as Keras' History.history (a dict of per-epoch lists), and
its learning-curve figure (`history_figure`, which the report and compare use too)."""
from __future__ import annotations


class History(dict):
    """Keras' History.history: {'loss': [...], 'accuracy': [...], 'val_loss': ...} per epoch.

    `.epoch` lists the epochs (1-based, as the run's history.csv); `.rows` the rows, one
    dict per epoch (what the report, compare and search read). Shows as a table;
    `.plot(title)` -> Figure."""

    KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")

    def __init__(self, rows: list[dict]):
        self.rows = [dict(r) for r in rows]
        self.epoch = [int(r["epoch"]) for r in self.rows]
        super().__init__({k: [_num(r.get(k)) for r in self.rows] for k in self.KEYS
                          if any(r.get(k) not in (None, "") for r in self.rows)})

    def plot(self, title: str = ""):
        return history_figure(self.rows, title)

    def _table(self):
        keys = list(self)
        rows = [[e] + [_fmt(self[k][i]) for k in keys] for i, e in enumerate(self.epoch)]
        return ["epoch", *keys], rows

    def __repr__(self) -> str:
        head, rows = self._table()
        cells = [head, *[[str(c) for c in r] for r in rows]]
        widths = [max(len(r[j]) for r in cells) for j in range(len(head))]
        return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells)

    def _repr_html_(self) -> str:
        from mnistlab.display import html_table
        return html_table(*self._table())


def _num(v):
    if v in (None, ""):
        return None
    return float(v)


def _fmt(v):
    return "" if v is None else (f"{v:.4g}" if isinstance(v, float) else v)


def series(history: list[dict], key: str) -> tuple[list[int], list[float]]:
    """(epochs, values) of one history column, skipping epochs where it is missing."""
    points = [(int(row["epoch"]), float(row[key])) for row in history
              if row.get(key) is not None and row.get(key) != ""]
    return [p[0] for p in points], [p[1] for p in points]


def history_figure(history: list[dict], title: str = ""):
    """Training and validation loss and accuracy per epoch, side by side (as in every notebook),
    and the learning rate per epoch when it changed (schedules, ReduceLROnPlateau); a
    constant rate gets no panel of its own (it would be one flat line)."""
    epochs_lr, lrs = series(history, "lr")
    if len(set(lrs)) <= 1:
        lrs = []
    from matplotlib.figure import Figure  # imported when a figure is asked for: reading a run needs no matplotlib
    from matplotlib.ticker import MaxNLocator
    fig = Figure(figsize=(15 if lrs else 10, 3.8))
    axes = fig.subplots(1, 3 if lrs else 2)
    if lrs:
        ax = axes[2]
        ax.plot(epochs_lr, lrs, "-o", markersize=3, color="tab:green")
        if min(lrs) > 0 and max(lrs) / min(lrs) >= 10:  # decades apart: a log axis shows the steps
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("learning rate (last step)")
        ax.grid(alpha=0.3)
    for ax, metric in zip(axes[:2], ("loss", "accuracy")):
        for key, style in ((metric, "-o"), (f"val_{metric}", "-s")):
            x, y = series(history, key)
            if x:
                ax.plot(x, y, style, markersize=3, label="validation" if key.startswith("val_") else "training")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig
