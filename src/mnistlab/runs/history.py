"""History: a run's history.csv as Keras' History.history (a dict of per-epoch lists)."""
from __future__ import annotations


class History(dict):
    """Keras' History.history: {'loss': [...], 'accuracy': [...], 'val_loss': ...} per epoch.

    `.epoch` lists the epochs (1-based, as the run's history.csv); `.rows` the rows, one
    dict per epoch (what the report, compare and search read). Shows as a table."""

    KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")

    def __init__(self, rows: list[dict]):
        self.rows = [dict(r) for r in rows]
        self.epoch = [int(r["epoch"]) for r in self.rows]
        super().__init__({k: [_num(r.get(k)) for r in self.rows] for k in self.KEYS
                          if any(r.get(k) not in (None, "") for r in self.rows)})

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
