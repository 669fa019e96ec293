"""The reproduction table: notebook vs measured, as markdown and CSV (and results.json beside).

Each full-run row: our mean ± sample std over n seeds (no ± when n=1: the row says n=1), the
notebook's number, the difference, and a verdict by reproduce.verdict's stated rule, for the
accuracy and, where the notebook printed a comparable loss, for the loss. The top of each file
says where and how the runs were made (machine line, precision and threads of the runs) and
the exact command that writes it again.
"""
from __future__ import annotations

import csv
import io
import json
import statistics
from pathlib import Path

from mnistlab.io import make_dirs, write_atomic
from mnistlab.reproduce import verdict as V
from mnistlab.reproduce.notebooks import Experiment

HEADER = ("| experiment | params notebook / ours | evaluated on | notebook acc | ours acc "
          "(mean ± std, n) | diff (pp) | acc verdict | notebook loss | ours loss (mean ± std) "
          "| loss diff | loss verdict | epochs | wall time |")
RULE = "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
# --quick trains 1 epoch on 512 images: its accuracy says the wiring works, nothing about the
# notebook, so its table has no accuracy or difference columns at all.
QUICK_HEADER = "| experiment | params notebook / ours | wiring check | epochs | wall time |"
QUICK_RULE = "|---|---|---|---|---|"
CSV_COLUMNS = ["experiment", "evaluated_on", "params_notebook", "params_ours", "n",
               "notebook_accuracy", "notebook_accuracy_range", "mean", "std", "diff_pp", "verdict",
               "notebook_loss", "loss_from", "loss_mean", "loss_std", "loss_diff", "loss_verdict",
               "epochs", "seconds"]
LOSS_FROM = {None: "same images as the accuracy", "history": "last epoch's training loss"}


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _mean_std(xs: list[float]) -> tuple[float | None, float | None]:
    mean = statistics.fmean(xs) if xs else None
    std = statistics.stdev(xs) if len(xs) > 1 else None
    return mean, std


def summary(res) -> dict:
    """Plain numbers for one row (also what results.json holds)."""
    exp: Experiment = res.exp
    accs, losses = res.accuracies, list(getattr(res, "losses", []))
    n = len(accs)
    mean, std = _mean_std(accs)
    loss_mean, loss_std = _mean_std(losses)
    nb_loss = exp.loss if exp.compare_loss else None
    if exp.accuracy_range is not None:
        low, high = exp.accuracy_range
        diff_pp, verdict = V.range_diff_pp(mean, low, high), V.range_verdict(mean, low, high, std, n)
    else:
        diff_pp = None if mean is None or exp.accuracy is None else 100 * (mean - exp.accuracy)
        verdict = V.accuracy_verdict(mean, exp.accuracy, std, n)
    return {
        "experiment": exp.key, "recipe": exp.recipe, "evaluated_on": exp.evaluated_on,
        "params_notebook": exp.params, "params_ours": res.params, "params_printed": exp.params_printed,
        "params_from": exp.params_from,
        "params_equal": res.params == exp.params, "n": n,
        "notebook_accuracy": exp.accuracy, "notebook_accuracy_range": exp.accuracy_range,
        "accuracies": accs, "mean": mean, "std": std, "diff_pp": diff_pp, "verdict": verdict,
        "notebook_loss": exp.loss, "loss_compared": exp.compare_loss and exp.loss is not None,
        "loss_from": exp.loss_from, "losses": losses, "loss_mean": loss_mean, "loss_std": loss_std,
        "loss_diff": None if loss_mean is None or nb_loss is None else loss_mean - nb_loss,
        "loss_verdict": V.loss_verdict(loss_mean, nb_loss, loss_std, len(losses)),
        "test_accuracies": res.test_accuracies, "epochs": res.epochs,
        "seconds": round(res.seconds, 1), "runs": res.runs, "note": exp.note,
        "reason": exp.reason, "speed": list(getattr(res, "speed", [])),
    }


def _mean_pm(mean, std, n, fmt) -> str:
    """'98.68% ± 0.17 (n=3)'; no ± for n=1 (one run has no spread)."""
    if mean is None:
        return "-"
    text = fmt(mean)
    if std is not None:
        text += f" ± {fmt(std).rstrip('%')}"
    return text + (f" (n={n})" if n is not None else "")


FROM_CODE = "counted from the seed's code"  # the marker of a count the notebook never printed


def _params(s: dict) -> str:
    """'notebook / ours'; a count the notebook never printed is marked as counted from its code."""
    if not s["params_ours"]:
        return "-"
    mark = "" if s.get("params_printed", True) else f" ({s.get('params_from') or FROM_CODE})"
    return f"{s['params_notebook']:,}{mark} / {s['params_ours']:,}"


def row(s: dict) -> str:
    params = _params(s)
    if not s["params_equal"]:
        params += " **MISMATCH**"
    n = s.get("n", len(s["accuracies"]))
    ours = _mean_pm(s["mean"], s["std"], n, _pct)
    where = {"test": "test", "train": "all 60k train"}[s["evaluated_on"]]
    diff = "-" if s["diff_pp"] is None else f"{s['diff_pp']:+.2f}"
    nb_acc = "-" if s["notebook_accuracy"] is None else _pct(s["notebook_accuracy"])
    if s.get("notebook_accuracy_range"):
        low, high = s["notebook_accuracy_range"]
        nb_acc = f"{100 * low:.0f}-{100 * high:.0f}% (prose)"
    loss_fmt = "{:.4f}".format
    if s.get("notebook_loss") is None:
        nb_loss = "-"
    else:
        nb_loss = loss_fmt(s["notebook_loss"]) + ("" if s.get("loss_compared", True) else " (not compared)")
    ours_loss = _mean_pm(s.get("loss_mean"), s.get("loss_std"), None, loss_fmt)
    loss_diff = "-" if s.get("loss_diff") is None else f"{s['loss_diff']:+.4f}"
    epochs = ",".join(str(e) for e in sorted(set(s["epochs"]))) or "-"
    return (f"| {s['experiment']} | {params} | {where} | {nb_acc} | {ours} | {diff} "
            f"| {s.get('verdict') or '-'} | {nb_loss} | {ours_loss} | {loss_diff} "
            f"| {s.get('loss_verdict') or '-'} | {epochs} | {s['seconds']:.0f} s |")


def quick_row(s: dict) -> str:
    params = _params(s)
    ok = s["params_equal"] and s["mean"] is not None
    check = "ok: built, trained and evaluated" if ok else (
        "params MISMATCH" if not s["params_equal"] else "no result")
    epochs = ",".join(str(e) for e in sorted(set(s["epochs"]))) or "-"
    return f"| {s['experiment']} | {params} | {check} | {epochs} | {s['seconds']:.0f} s |"


def runs_line(summaries: list[dict]) -> str:
    """What the runs themselves recorded in config.yaml: precision, threads, batch_split."""
    seen: dict[tuple, int] = {}
    for s in summaries:
        for sp in s.get("speed", []):
            key = (sp.get("precision"), sp.get("threads"), sp.get("batch_split"))
            seen[key] = seen.get(key, 0) + 1
    if not seen:
        return "runs: none recorded"
    parts = [f"precision {p}, {t} thread(s), batch_split {b}: {k} run(s)"
             for (p, t, b), k in sorted(seen.items(), key=lambda kv: -kv[1])]
    return "runs (from each run's config.yaml): " + "; ".join(parts)


def preamble(summaries: list[dict], *, machine: str, command: str, quick: bool) -> list[str]:
    """The lines at the top of the markdown (the CSV carries them as # comments)."""
    lines = [f"Command: `{command}`", machine[:1].upper() + machine[1:], runs_line(summaries).capitalize()]
    if not quick:
        lines.append(f"Verdict: accuracy within when {V.ACC_RULE}; loss within when {V.LOSS_RULE}. "
                     "std is the sample std over the n seeds; n=1 rows have none and are marked n=1.")
    return lines


def outside_lines(outside: list[dict]) -> list[str]:
    """One line per distinct reason, naming its rows (a chain's steps share one reason)."""
    by_reason: dict[str, list[str]] = {}
    for s in outside:
        by_reason.setdefault(s.get("reason") or "not investigated yet", []).append(s["experiment"])
    return [f"- {', '.join(rows)}: {reason}" for reason, rows in by_reason.items()]


def markdown(nb: str, summaries: list[dict], *, quick: bool, total_seconds: float,
             machine: str = "not recorded", command: str | None = None,
             wall_line: str | None = None) -> str:
    command = command or f"mnistlab reproduce {nb}{' --quick' if quick else ''}"
    mode = "--quick (1 epoch on 512 images: checks wiring and parameter counts, not accuracy)" \
        if quick else "full"
    lines = [f"## Notebook {nb} ({mode})", ""]
    lines += [f"{line}  " for line in preamble(summaries, machine=machine, command=command, quick=quick)]
    lines.append("")
    if quick:
        lines += [QUICK_HEADER, QUICK_RULE]
        lines += [quick_row(s) for s in summaries]
        lines += ["", "No accuracies: a wiring check is not a result. Run without --quick to "
                  "compare with the notebook."]
    else:
        lines += [HEADER, RULE]
        lines += [row(s) for s in summaries]
        outside = [s for s in summaries if "OUTSIDE" in (s.get("verdict") or "") + (s.get("loss_verdict") or "")]
        if outside:
            lines += ["", "Outside the notebook's number:"]
            lines += outside_lines(outside)
        skipped = [s for s in summaries if s.get("notebook_loss") is not None and not s.get("loss_compared", True)]
        lines += [""] + [f"- {s['experiment']}: notebook loss not compared: {s['note']}" for s in skipped]
        hist = [s["experiment"] for s in summaries if s.get("loss_from") == "history"]
        if hist:
            lines.append(f"- loss of {', '.join(hist)}: the last epoch's training loss (all the "
                         "notebook reports)")
    lines += ["", wall_line or f"Total wall time: {total_seconds:.0f} s.", ""]
    return "\n".join(lines)


def to_csv(summaries: list[dict], *, machine: str, command: str, quick: bool) -> str:
    buf = io.StringIO()
    for line in preamble(summaries, machine=machine, command=command, quick=quick):
        buf.write(f"# {line}\n")
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for s in summaries:
        out = {k: s.get(k) for k in CSV_COLUMNS}
        out["epochs"] = " ".join(str(e) for e in s.get("epochs", []))
        out["loss_from"] = LOSS_FROM.get(s.get("loss_from"), s.get("loss_from"))
        if s.get("notebook_accuracy_range"):
            out["notebook_accuracy_range"] = "-".join(str(v) for v in s["notebook_accuracy_range"])
        if not s.get("loss_compared", True):
            out["loss_verdict"] = "not compared"
        writer.writerow({k: "" if v is None else v for k, v in out.items()})
    return buf.getvalue()


def write(out_dir: Path, text: str, summaries: list[dict], csv_text: str | None = None) -> Path:
    make_dirs(out_dir)
    files = [("table.md", text), ("results.json", json.dumps(summaries, indent=1))]
    if csv_text is not None:
        files.append(("table.csv", csv_text))
    for name, content in files:
        write_atomic(out_dir / name, content)
    return out_dir / "table.md"


def command_line(nb: str, *, quick: bool = False, seeds: int | None = None,
                 only: list[str] | None = None, grouping: str | None = None,
                 compare_groupings: bool = False, groupings: list[str] | None = None,
                 out=None, precision: str | None = None) -> str:
    """The exact `mnistlab reproduce` command that makes these runs and this table again."""
    parts = ["mnistlab", "reproduce", nb]
    if quick:
        parts.append("--quick")
    if seeds is not None:
        parts += ["--seeds", str(seeds)]
    if only:
        parts += ["--only", *only]
    if grouping:
        parts += ["--grouping", grouping]
    if compare_groupings:
        parts.append("--compare-groupings")
    if groupings:
        parts += ["--groupings", *groupings]
    if precision:
        parts += ["--precision", precision]
    if out:
        parts += ["--out", str(out)]
    return " ".join(parts)
