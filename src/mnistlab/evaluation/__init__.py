"""Evaluation of a run: predictions, metrics, plots and the HTML report.

    from mnistlab.evaluation import run_metrics, write_report, compute_metrics
    m = run_metrics("runs/20240101-120000-000-cnn", split="test")   # loss, accuracy, confusions...
    write_report("runs/20240101-120000-000-cnn")                     # -> RUN_DIR/report.html

The package is a noun so that the verb `mnistlab.evaluate` (the notebook API, returning an
Evaluation) is never shadowed by it. Names load on first use, so the CLI (which imports
evaluation.commands) starts without scikit-learn, matplotlib or torch.
"""
from __future__ import annotations

from mnistlab.lazy import lazy_names

_API = {
    "run_metrics": "mnistlab.evaluation.predictions", "split_predictions": "mnistlab.evaluation.predictions", "array_predictions": "mnistlab.evaluation.predictions",
    "Predictions": "mnistlab.evaluation.predictions",
    "compute_metrics": "mnistlab.evaluation.metrics", "format_metrics": "mnistlab.evaluation.metrics",
    "write_report": "mnistlab.evaluation.report",
}

__getattr__, __all__ = lazy_names(__name__, _API)
