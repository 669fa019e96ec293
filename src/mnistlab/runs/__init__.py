"""The run directory (Contract 4): its only reader and writer.

    runs/<timestamp>-<name>/
      config.yaml         the resolved recipe (re-running it gives the same run)
      history.csv         epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds
      checkpoint.pt       model, optimiser, schedule, RNG states, progress (weights_only-safe)
      metrics.json        written last: a run without it is unfinished (resumable)
      model.safetensors   the weights that were evaluated
      report.html, plots/ written by mnistlab.evaluation
      .lock               held by the one process training the run (lock.py; .lock.owner names it)

`files` reads and writes each file (one-line errors for damaged ones), `layout` names runs
and makes them visible, `run` gives `Run`/`open_run`, the one reader of a run folder
(mnistlab.Run is its notebook view: methods only), `history` its History, `fork` copies a
finished run to be continued, `lock` keeps one writer per run. Names load on first use
(PEP 562): importing the package costs nothing.
"""
from __future__ import annotations

from mnistlab.lazy import lazy_names

_API = {
    "Run": "mnistlab.runs.run", "open_run": "mnistlab.runs.run", "History": "mnistlab.runs.history",
    "build_model": "mnistlab.runs.run", "make_run_splits": "mnistlab.runs.run",
    "load_run_dataset": "mnistlab.runs.run",
    "RunFolder": "mnistlab.runs.run",  # the old name of Run, kept for code written against it
    "find_runs": "mnistlab.runs.layout", "is_run_dir": "mnistlab.runs.layout", "fork_run": "mnistlab.runs.fork",
}

__getattr__, __all__ = lazy_names(__name__, _API)
