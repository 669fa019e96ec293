"""Evaluation: metrics, plots and the HTML report of a run.

    from mnistlab.evaluate import evaluate, write_report, compute_metrics
    m = evaluate("runs/20240101-120000-000-cnn", split="test")   # loss, accuracy, confusions...
    write_report("runs/20240101-120000-000-cnn")                  # -> RUN_DIR/report.html

Names load on first use, so the CLI (which imports evaluate.commands) starts without
scikit-learn, matplotlib or torch.
"""
from __future__ import annotations

from mnistlab.lazy import lazy_names

_API = {
    "evaluate": "mnistlab.evaluate.evaluation", "predict": "mnistlab.evaluate.evaluation",
    "Predictions": "mnistlab.evaluate.evaluation",
    "compute_metrics": "mnistlab.evaluate.metrics", "format_metrics": "mnistlab.evaluate.metrics",
    "write_report": "mnistlab.evaluate.report",
}

__getattr__, __all__ = lazy_names(__name__, _API)


# `mnistlab.evaluate(run)` is the public function although the name is also this package.
from mnistlab.callable_package import make_callable  # noqa: E402

make_callable(__name__)
