"""The reproduction table: notebook vs measured, as markdown (and results.json beside it)."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from mnistlab.io import write_atomic
from mnistlab.reproduce.notebooks import Experiment

HEADER = ("| experiment | params notebook / ours | evaluated on | notebook acc | ours acc "
          "(mean ± std, n) | diff (pp) | epochs | wall time |")
RULE = "|---|---|---|---|---|---|---|---|"
# --quick trains 1 epoch on 512 images: its accuracy says the wiring works, nothing about the
# notebook, so its table has no accuracy or difference columns at all.
QUICK_HEADER = "| experiment | params notebook / ours | wiring check | epochs | wall time |"
QUICK_RULE = "|---|---|---|---|---|"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def summary(res) -> dict:
    """Plain numbers for one row (also what results.json holds)."""
    accs = res.accuracies
    mean = statistics.fmean(accs) if accs else None
    std = statistics.stdev(accs) if len(accs) > 1 else None
    exp: Experiment = res.exp
    return {
        "experiment": exp.key, "recipe": exp.recipe, "evaluated_on": exp.evaluated_on,
        "params_notebook": exp.params, "params_ours": res.params,
        "params_equal": res.params == exp.params,
        "notebook_accuracy": exp.accuracy, "accuracies": accs, "mean": mean, "std": std,
        "diff_pp": None if mean is None or exp.accuracy is None else 100 * (mean - exp.accuracy),
        "test_accuracies": res.test_accuracies, "epochs": res.epochs,
        "seconds": round(res.seconds, 1), "runs": res.runs, "note": exp.note,
    }


def row(s: dict) -> str:
    params = f"{s['params_notebook']:,} / {s['params_ours']:,}" if s["params_ours"] else "-"
    if not s["params_equal"]:
        params += " **MISMATCH**"
    ours = "-" if s["mean"] is None else _pct(s["mean"])
    if s["std"] is not None:
        ours += f" ± {100 * s['std']:.2f}"
    ours += f" (n={len(s['accuracies'])})"
    where = {"test": "test", "train": "all 60k train"}[s["evaluated_on"]]
    diff = "-" if s["diff_pp"] is None else f"{s['diff_pp']:+.2f}"
    epochs = ",".join(str(e) for e in sorted(set(s["epochs"]))) or "-"
    return (f"| {s['experiment']} | {params} | {where} | {_pct(s['notebook_accuracy'])} | {ours} "
            f"| {diff} | {epochs} | {s['seconds']:.0f} s |")


def quick_row(s: dict) -> str:
    params = f"{s['params_notebook']:,} / {s['params_ours']:,}" if s["params_ours"] else "-"
    ok = s["params_equal"] and s["mean"] is not None
    check = "ok: built, trained and evaluated" if ok else (
        "params MISMATCH" if not s["params_equal"] else "no result")
    epochs = ",".join(str(e) for e in sorted(set(s["epochs"]))) or "-"
    return f"| {s['experiment']} | {params} | {check} | {epochs} | {s['seconds']:.0f} s |"


def markdown(nb: str, summaries: list[dict], *, quick: bool, total_seconds: float) -> str:
    mode = "--quick (1 epoch on 512 images: checks wiring and parameter counts, not accuracy)" \
        if quick else "full"
    if quick:
        lines = [f"## Notebook {nb} ({mode})", "", QUICK_HEADER, QUICK_RULE]
        lines += [quick_row(s) for s in summaries]
        lines += ["", "No accuracies: a wiring check is not a result. Run without --quick to "
                  "compare with the notebook."]
    else:
        lines = [f"## Notebook {nb} ({mode})", "", HEADER, RULE]
        lines += [row(s) for s in summaries]
    lines += ["", f"Total wall time: {total_seconds:.0f} s. Command: "
              f"`mnistlab reproduce {nb}{' --quick' if quick else ''}`", ""]
    return "\n".join(lines)


def write(out_dir: Path, text: str, summaries: list[dict]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, content in (("table.md", text), ("results.json", json.dumps(summaries, indent=1))):
        write_atomic(out_dir / name, content)
    return out_dir / "table.md"
