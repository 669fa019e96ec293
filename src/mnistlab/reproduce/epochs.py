"""The seeds' printed training curves beside ours: a per-epoch verdict table and a figure per row.

For every reproduce row whose seed printed its per-epoch log (seedlogs.seed_log), each printed
number (loss, accuracy, val_loss, val_accuracy per epoch) is compared with our runs' value at
the same epoch, mean ± sample std over the seeds that reached it, by reproduce.verdict's rule
(the accuracy or the loss floor). `mnistlab reproduce NB` writes the table as epochs.md /
epochs.csv beside table.md and each row's figure as curves-<row>.png; the notebook surface's
Reproduction.curves(row) and .epochs() return the same figure and table.

The figure: per metric (loss, accuracy) one panel, the seed's training and validation lines
(dashed, squares), and ours: the mean over the seeds as a solid line with a band from the
lowest to the highest seed at each epoch (min-max: with 3-5 seeds every run stays visible).
"""
from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path

from mnistlab.reproduce import verdict as V
from mnistlab.reproduce.seedlogs import KEYS, seed_log

CSV_COLUMNS = ["experiment", "epoch", "number", "seed", "mean", "std", "n", "diff", "verdict",
               "seed_file", "seed_line"]
HEADER = "| experiment | epoch | number | seed | ours (mean ± std, n) | diff | verdict |"
RULE = "|---|---|---|---|---|---|---|"
BAND = "min-max over the seeds"


def histories(result) -> list[list[dict]]:
    """Each run's history.csv, seed order (one result = one row's runs)."""
    from mnistlab.runs.files import read_history
    return [read_history(Path(p)) for p in result.runs]


def _at(history: list[dict], epoch: int, key: str) -> float | None:
    for row in history:
        if row.get("epoch") == epoch:
            value = row.get(key)
            return None if value in (None, "") else float(value)
    return None


def epoch_rows(nb: str, result, *, quick: bool = False) -> list[dict]:
    """One dict per number the seed printed for this row ([] when it printed no log). Our
    values at that epoch come from the runs that reached it (early stopping can end a run
    sooner; --quick trains one epoch): n says how many. --quick (a wiring check, not a
    result) gets neither our numbers nor a verdict, as the quick table has no accuracies."""
    entry = seed_log(nb, result.exp.key)
    if entry is None:
        return []
    hists = histories(result)
    rows = []
    for printed in entry["log"]:
        epoch = printed["epoch"]
        for key in KEYS:
            ours = [v for h in hists if (v := _at(h, epoch, key)) is not None]
            n = len(ours)
            if quick:
                ours = []
            mean = statistics.fmean(ours) if ours else None
            std = statistics.stdev(ours) if len(ours) > 1 else None
            is_loss = key.endswith("loss")
            if mean is None:
                verdict = None
            elif is_loss:
                verdict = V.loss_verdict(mean, printed[key], std, len(ours))
            else:
                verdict = V.accuracy_verdict(mean, printed[key], std, len(ours))
            rows.append({"experiment": result.exp.key, "epoch": epoch, "number": key,
                         "seed": printed[key], "mean": mean, "std": std, "n": n,
                         "diff": None if mean is None else mean - printed[key],
                         "verdict": verdict, "seed_file": entry["seed_file"],
                         "seed_line": entry["first_line"]})
    return rows


def _fmt(key: str, x: float) -> str:
    return f"{x:.4f}" if key.endswith("loss") else f"{100 * x:.2f}%"


def line(r: dict) -> str:
    key = r["number"]
    if r["mean"] is None:
        ours = "- (wiring check)" if r["n"] else "- (no run reached this epoch)"
        diff = "-"
    else:
        ours = _fmt(key, r["mean"])
        if r["std"] is not None:
            ours += f" ± {_fmt(key, r['std']).rstrip('%')}"
        ours += f" (n={r['n']})"
        diff = f"{r['diff']:+.4f}" if key.endswith("loss") else f"{100 * r['diff']:+.2f} pp"
    return (f"| {r['experiment']} | {r['epoch']} | {key} | {_fmt(key, r['seed'])} | {ours} "
            f"| {diff} | {r['verdict'] or '-'} |")


def markdown(nb: str, rows: list[dict], *, quick: bool) -> str:
    """The per-epoch table of one notebook: a summary line per row, then every number."""
    lines = [f"## Notebook {nb}: the seed's printed training logs beside ours, epoch by epoch", ""]
    if not rows:
        return "\n".join(lines + [f"Notebook {nb} printed no per-epoch log.", ""])
    if quick:
        lines += ["--quick: one epoch on 512 images, a wiring check: no numbers of ours, no "
                  "verdicts. Run without --quick to compare with the seed.", ""]
    else:
        lines += [f"Verdict per number: accuracy within when {V.ACC_RULE}; loss within when "
                  f"{V.LOSS_RULE}; ours = mean ± sample std over the seeds that reached the epoch.", ""]
    sources = {r["experiment"]: f"{r['seed_file']} line {r['seed_line']}" for r in rows}
    for row, source in sources.items():
        mine = [r for r in rows if r["experiment"] == row]
        judged = [r for r in mine if r["verdict"]]
        inside = sum(r["verdict"].startswith("within") for r in judged)
        lines.append(f"- {row}: {len(mine)} printed numbers (from {source}); "
                     + (f"{inside} of {len(judged)} within" if judged else "no verdicts"))
    lines += ["", HEADER, RULE] + [line(r) for r in rows] + [""]
    return "\n".join(lines)


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r.get(k) is None else r[k] for k in CSV_COLUMNS})
    return buf.getvalue()


def curves_figure(nb: str, result, title: str | None = None):
    """Loss and accuracy per epoch: the seed's printed lines and our mean with a min-max band
    over the seeds, training and validation, on the same axes. None when the seed printed no
    log for this row."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    entry = seed_log(nb, result.exp.key)
    if entry is None:
        return None
    hists = histories(result)
    fig = Figure(figsize=(11, 4))
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        for key, color in ((metric, "tab:blue"), (f"val_{metric}", "tab:orange")):
            part = "validation" if key.startswith("val_") else "training"
            epochs = sorted({row["epoch"] for h in hists for row in h})
            stats = [(e, vs) for e in epochs if (vs := [v for h in hists if (v := _at(h, e, key)) is not None])]
            if stats:
                xs = [e for e, _ in stats]
                ax.plot(xs, [statistics.fmean(vs) for _, vs in stats], "-o", markersize=2, color=color,
                        label=f"ours, {part} (mean, n={len(hists)})")
                ax.fill_between(xs, [min(vs) for _, vs in stats], [max(vs) for _, vs in stats],
                                color=color, alpha=0.25, label=f"ours, {part} ({BAND})")
            ax.plot([p["epoch"] for p in entry["log"]], [p[key] for p in entry["log"]], "--s",
                    markersize=3, color=color, alpha=0.9, label=f"seed, {part}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title or f"Notebook {nb}, {result.exp.key}: the seed's printed log "
                          f"({entry['seed_file']}) beside ours")
    fig.tight_layout()
    return fig


def write(out_dir: Path, nb: str, results: list, *, quick: bool) -> list[Path]:
    """epochs.md, epochs.csv and curves-<row>.png in `out_dir` for the rows with a seed log;
    nothing when the notebook printed none (002)."""
    from mnistlab.io import save_figure, write_atomic

    rows = [r for res in results for r in epoch_rows(nb, res, quick=quick)]
    if not rows:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "epochs.md", markdown(nb, rows, quick=quick))
    write_atomic(out_dir / "epochs.csv", to_csv(rows))
    written = [out_dir / "epochs.md", out_dir / "epochs.csv"]
    for res in results:
        fig = curves_figure(nb, res)
        if fig is not None:
            written.append(save_figure(fig, out_dir / f"curves-{res.exp.key}.png", dpi=100))
    return written
