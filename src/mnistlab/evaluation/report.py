"""RUN_DIR/report.html: one self-contained page (images embedded as data URIs) per run.

It reads only the run directory (config.yaml, history.csv, metrics.json, the saved model)
and the dataset named in config.yaml, for the predictions behind the confusion matrix and
the misclassified samples. The PNGs it embeds are also left in RUN_DIR/plots/.
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import yaml

from mnistlab.errors import MnistlabError
from mnistlab.evaluation import plots
from mnistlab.evaluation.predictions import Predictions, split_predictions
from mnistlab.evaluation.runfiles import Run, model_name, read_run
from mnistlab.io import FileWriteError, write_atomic
from mnistlab.runs.files import DamagedRunFile

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
     padding:0 1rem;color:#222;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
.sub{color:#666;margin-top:0} .note{color:#8a5300;background:#fff6e5;padding:.4rem .7rem;border-radius:4px}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .6rem;text-align:right} th{background:#f4f4f4}
td.l,th.l{text-align:left} tr.total td{font-weight:600;background:#fafafa}
pre{background:#f7f7f7;padding:.8rem;overflow-x:auto;font-size:.85rem}
img{max-width:100%;height:auto;display:block;margin:.5rem 0}
.kpi{display:flex;gap:1rem;flex-wrap:wrap} .kpi div{background:#f4f7fb;padding:.6rem 1rem;border-radius:6px}
.kpi b{display:block;font-size:1.3rem}
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def duration(seconds) -> str:
    """Seconds as a person reads them: 9.87 -> '9.9 s', 92.974 -> '1 min 33 s', 3725 -> '1 h 02 min'."""
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    whole = int(round(s))
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s" if whole % 60 else f"{whole // 60} min"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def evaluated_weights(m: dict) -> str | None:
    """Which epoch's weights the test numbers and model.safetensors are, in words."""
    epoch = m.get("evaluated_epoch")
    if epoch is None:
        return None
    if m.get("best_epoch") == epoch and epoch != m.get("epochs_run"):
        return f"epoch {epoch} of {m.get('epochs_run')} (best, restored)"
    return f"epoch {epoch} of {m.get('epochs_run')} (last)" if m.get("epochs_run") else f"epoch {epoch}"


def table(header: list[str], rows: list[list], *, id: str = "", left: int = 1,
          total_rows: int = 0) -> str:
    """An HTML table; the first `left` columns are left-aligned (names), the rest numbers."""
    cls = lambda i: ' class="l"' if i < left else ""  # noqa: E731
    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(header))
    body = []
    for n, row in enumerate(rows):
        tr = ' class="total"' if n >= len(rows) - total_rows else ""
        body.append(f"<tr{tr}>" + "".join(f"<td{cls(i)}>{_e(_fmt(c))}</td>" for i, c in enumerate(row)) + "</tr>")
    ident = f' id="{_e(id)}"' if id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def image(path: Path | None, alt: str) -> str:
    """An <img> with the PNG embedded as a base64 data URI, so the page needs no other file."""
    if path is None:
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _section(id: str, title: str, *parts: str) -> str:
    return f'<section id="{id}"><h2>{_e(title)}</h2>{"".join(parts)}</section>'


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


# --- sections -------------------------------------------------------------------------

def _model_section(config: dict) -> str:
    """Keras-style summary table from mnistlab.models.summary(spec)."""
    spec = config.get("model")
    from mnistlab.models.costs import summary
    try:
        s = summary(spec)
    except MnistlabError as err:
        return _section("model", "Model", _note(f"no summary: {err}"))
    d = s.to_dict() if hasattr(s, "to_dict") else {}
    layers = d.get("layers")
    if not layers:
        return _section("model", "Model", f"<pre>{_e(str(s))}</pre>")
    cols = [c for c in layers[0] if not isinstance(layers[0][c], (dict, list)) or c == "output_shape"]
    rows = [[_shape(layer.get(c)) if c == "output_shape" else layer.get(c) for c in cols] for layer in layers]
    totals = [(k, d[k]) for k in ("total", "trainable", "non_trainable", "macs") if k in d]
    return _section("model", f"Model: {model_name(config)}",
                    table(cols, rows, id="summary-table", left=2),
                    table(["", "count"], [[k.replace("_", "-") + " params" if k != "macs" else "MACs", v]
                                          for k, v in totals], id="params-table"))


def _shape(shape) -> str:
    if isinstance(shape, (list, tuple)):
        return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ")"
    return _fmt(shape) if shape is not None else ""


def _summary_section(run: Run, ev: dict | None) -> str:
    m = run.metrics
    kpis = []
    train_time = m.get("train_seconds")
    if m.get("verdict") == "diverged":  # first and loud: these numbers are not a success
        d = m.get("diverged") or {}
        kpis.append(f'<div>verdict<b>diverged in epoch {_e(d.get("epoch"))}</b></div>')
    for label, value in (("test accuracy", m.get("test_accuracy")), ("test loss", m.get("test_loss")),
                         ("parameters", m.get("params")), ("epochs", m.get("epochs_run")),
                         ("weights evaluated", evaluated_weights(m)),
                         ("training time", None if train_time is None else duration(train_time))):
        if value is not None:
            kpis.append(f"<div>{_e(label)}<b>{_e(_fmt(value))}</b></div>")
    flat = [[k, duration(v) if k.endswith("seconds") and isinstance(v, (int, float)) else v]
            for k, v in m.items() if k not in ("versions", "classes")]
    flat += [[f"versions.{k}", v] for k, v in (m.get("versions") or {}).items()]
    parts = [f'<div class="kpi">{"".join(kpis)}</div>'] if kpis else []
    parts.append(table(["metric", "value"], flat, id="metrics-table", left=2) if flat
                 else _note("metrics.json is missing: the run has not finished"))
    return _section("metrics", "Metrics", *parts)


def _evaluation_sections(ev: dict, plot_paths: dict) -> str:
    classes = ev["classes"]
    split = ev["split"]
    cm_rows = [[c, *row] for c, row in zip(classes, ev["confusion_matrix"])]
    rep = ev["classification_report"]
    rep_rows = [[c, rep[c]["precision"], rep[c]["recall"], rep[c]["f1-score"], int(rep[c]["support"])]
                for c in classes]
    rep_rows.append(["accuracy", "", "", rep["accuracy"], int(rep["macro avg"]["support"])])
    for avg in ("macro avg", "weighted avg"):
        rep_rows.append([avg, rep[avg]["precision"], rep[avg]["recall"], rep[avg]["f1-score"],
                         int(rep[avg]["support"])])
    conf_rows = [[r["true"], r["predicted"], r["count"], f"{100 * r['fraction_of_true']:.1f}%"]
                 for r in ev["top_confusions"]]
    loss = "" if ev["loss"] is None else f", loss {ev['loss']:.4f}"
    acc_rows = [[c, ev["per_class_accuracy"][c] if ev["per_class_accuracy"][c] is not None else "n/a"]
                for c in classes]
    return "".join([
        _section("evaluation", f"Evaluation on the {split} split",
                 f"<p>{ev['n']:,} samples: accuracy {ev['accuracy']:.4f}{_e(loss)}, "
                 f"{ev['errors']:,} errors.</p>",
                 table(["class", "accuracy"], acc_rows, id="per-class-table")),
        _section("confusion", "Confusion matrix",
                 image(plot_paths.get("confusion"), "confusion matrix heatmap"),
                 "<p>Rows: true label, columns: predicted label.</p>",
                 table(["true \\ predicted", *classes], cm_rows, id="confusion-table")),
        _section("report", "Classification report",
                 table(["", "precision", "recall", "f1-score", "support"], rep_rows,
                       id="classification-report", total_rows=3)),
        _section("confusions", "Most frequent confusions",
                 table(["true", "predicted", "count", "share of true"], conf_rows, id="confusions-table", left=2)
                 if conf_rows else "<p>None: every sample is classified correctly.</p>"),
        _section("misclassified", "Misclassified samples",
                 "<p>The most confident mistakes, captioned true label → predicted label, confidence.</p>"
                 + image(plot_paths.get("misclassified"), "misclassified samples")
                 if plot_paths.get("misclassified") else "<p>None.</p>"),
        _section("samples", f"Samples of the {split} split",
                 image(plot_paths.get("samples"), "sample images")) if plot_paths.get("samples") else "",
    ])


def _history_section(history: list[dict], curves: Path | None) -> str:
    if not history:
        return _section("curves", "Training curves", _note("history.csv is missing or empty"))
    cols = [c for c in history[0]]
    rows = [[("" if row.get(c) is None else duration(row[c]) if c == "seconds" else row[c]) for c in cols]
            for row in history]
    return _section("curves", "Training curves", image(curves, "loss, accuracy and learning-rate curves"),
                    f"<details><summary>History ({len(history)} epochs)</summary>"
                    f"{table(cols, rows, id='history-table', left=0)}</details>")


def render(run: Run, ev: dict | None, plot_paths: dict, note: str = "") -> str:
    """The whole page as a string."""
    m = run.metrics
    title = f"{run.config.get('name') or run.name}"
    sub = " · ".join(x for x in (run.name, model_name(run.config), str(run.config.get("data", {}).get("dataset", "")),
                                 m.get("device") and f"device {m['device']}") if x)
    body = [
        f"<h1>{_e(title)}</h1><p class=sub>{_e(sub)}</p>",
        _note(note) if note else "",
        _summary_section(run, ev),
        _history_section(run.history.rows, plot_paths.get("history")),
        _evaluation_sections(ev, plot_paths) if ev else "",
        _model_section(run.config),
        _section("config", "Config (config.yaml)",
                 f"<pre>{_e(yaml.safe_dump(run.config, sort_keys=False))}</pre>"),
    ]
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)} - mnistlab report</title><style>{CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def make_plots(run: Run, pred: Predictions | None, out_dir: Path) -> tuple[dict, dict | None]:
    """Write plots/*.png; returns their paths and the evaluation metrics (None without predictions)."""
    paths: dict = {}
    if run.history.rows:
        paths["history"] = plots.plot_history(run.history.rows, out_dir / "history.png", title=run.name)
    if pred is None:
        return paths, None
    ev = pred.metrics()
    paths["confusion"] = plots.plot_confusion(ev["confusion_matrix"], ev["classes"], out_dir / "confusion.png",
                                              title=f"Confusion matrix ({pred.split})")
    if pred.images is not None:
        paths["misclassified"] = plots.plot_misclassified(pred.images, pred.y_true, pred.probs, ev["classes"],
                                                          out_dir / "misclassified.png")
        paths["samples"] = plots.plot_samples(pred.images, pred.y_true, ev["classes"], out_dir / "samples.png")
    _write_text(out_dir / "evaluation.json", json.dumps(ev, indent=1))  # the numbers behind the page
    return paths, ev


def _write_text(path: Path, text: str) -> None:
    write_atomic(path, text)


def _default_predictions(run_dir: Path, split: str, dataset=None) -> tuple[Predictions | None, str]:
    """Predictions of the saved model on `split`, or None and why not."""
    if not (run_dir / "model.safetensors").is_file():
        return None, "model.safetensors is missing, so there are no predictions to evaluate."
    from mnistlab.runs import open_run
    from mnistlab.runs import make_run_splits
    try:
        run = open_run(run_dir)
        splits = make_run_splits(run.config["data"], dataset) if dataset is not None else run.splits()
        if split == "test" and splits.x_test is None and splits.x_val is not None:
            return split_predictions(run, "val", splits=splits), "the dataset has no test set: evaluated on the validation split."
        return split_predictions(run, split, splits=splits), ""
    except DamagedRunFile:
        raise
    except MnistlabError as err:  # e.g. the dataset is not on this machine: report the rest
        return None, f"no predictions: {err}"


def write_report(run_dir, *, split: str = "test", predictions: Predictions | None = None,
                 dataset=None) -> Path:
    """Write RUN_DIR/report.html (and RUN_DIR/plots/*.png); returns the report's path.

    The predictions come from the saved model on the dataset named in config.yaml, or on
    `dataset` (a mnistlab.data.Dataset, split as the recipe says) when the run was trained
    on data in memory. `predictions` replaces running the model altogether (tests).
    """
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    note = ""
    if predictions is None:
        predictions, note = _default_predictions(run_dir, split, dataset)
    paths, ev = make_plots(run, predictions, run_dir / "plots")
    out = run_dir / "report.html"
    _write_text(out, render(run, ev, paths, note))
    return out



def report_line(run_dir, say, dataset=None) -> Path | None:
    """Write the report after training and say where it is; a report that cannot be made is
    one line, not a failed run (the run itself is complete)."""
    try:
        path = write_report(run_dir, dataset=dataset)
    except FileWriteError as err:  # the disk, not the run: say that the run is whole
        raise FileWriteError(err.problem, f"the run {run_dir} itself is complete: {err.remedy}, then "
                             f"`mnistlab report {run_dir}` writes its report", path=err.path, errno_=err.errno,
                             remedy=err.remedy) from None
    except MnistlabError as err:
        say(f"Report not written: {err}")
        return None
    say(f"Report: {path}")
    return path
