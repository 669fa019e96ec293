"""`mnistlab sweep`: a grid (or list) of recipe variations, each repeated with its own seed.

The sweep file is read by sweepfile.py (its format is described there). Every trial is a
normal run directory made by `mnistlab.train.fit` under SWEEP_DIR/trials/<trial>/, handed
out by a trial queue (trialqueue.py): the trial folders themselves (one process), or a
study storage shared by many processes and machines (`--storage`). Trials train here or in
worker processes (trials.py); results.csv is rebuilt after every trial, so a sweep killed
at any point and started again runs only what is missing.

Every trial records the data it trains on (its reference and content hash, data/identity.py):
a sweep started again in the same folder, or on the same storage, with other data is refused
in one line rather than answered with the other data's results.
"""
from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

import yaml

from mnistlab.errors import MnistlabError, option
from mnistlab.io import FileWriteError, writable_dir
from mnistlab.sweeps import results as R
from mnistlab.sweeps.sweepfile import Sweep, Trial, bind_data, load_sweep
from mnistlab.sweeps.trialqueue import open_queue
from mnistlab.sweeps.trials import run_here, run_in_pool, threads_per_worker

__all__ = ["Sweep", "Trial", "load_sweep", "run_sweep", "threads_per_worker"]


def run_sweep(source, *, out: str | os.PathLike | None = None, workers: int = 1,
              dataset=None, quiet: bool = False, retry_failed: bool = True,
              storage: str | None = None, overrides: dict | None = None) -> Path:
    """Run (or resume) a sweep; returns the sweep directory.

    `overrides` {recipe key: value} changes the base recipe like `train --set`.

    `dataset` (a mnistlab Dataset) replaces the recipe's data source, as in `fit`.
    Failed trials are retried when the sweep is started again unless retry_failed=False.
    `storage` (an RDB URL: sqlite:///..., postgresql://...) shares the grid with every
    other process running the same sweep file against it (mnistlab.sweeps.gridstudy);
    without it the trial folders under `out` are the record and one process runs them.
    """
    sweep = source if isinstance(source, Sweep) else load_sweep(source, overrides=overrides)
    if workers < 1:
        raise MnistlabError(f"{option('workers', cli='--workers', python='workers=')} must be at least 1, got {workers}")
    sweep_dir = Path(out) if out is not None else Path("sweeps") / sweep.name
    writable_dir(sweep_dir, option("out", str(sweep_dir)))  # before any data loads
    data = bind_data(sweep, dataset, quiet=quiet)
    say = (lambda *a: None) if quiet else print

    with _go_on_when_there_is_space(), \
            open_queue(sweep, sweep_dir, storage=storage, retry_failed=retry_failed) as queue:
        _write_sweep_yaml(sweep, sweep_dir, data)

        def save_results() -> list[dict]:
            rows = queue.rows()
            R.write_csv(sweep_dir / "results.csv", rows, queue.columns)
            return rows

        save_results()  # also picks up trials that finished just before a kill
        say(queue.intro())
        finished = 0

        def record(t: Trial, run: str | None, failure: dict | None, seconds: float) -> None:
            nonlocal finished
            finished += 1
            m = queue.finish(t, run, failure)
            if failure is not None:
                say(f"[{finished}{queue.of}] {t.id} seed {t.seed} FAILED: {failure['error']}")
            else:
                say(f"[{finished}{queue.of}] {t.id} seed {t.seed} "
                    f"{sweep.metrics[0]} {R.format_value(m[sweep.metrics[0]])} ({seconds:.1f} s)")
            save_results()

        if workers == 1:
            run_here(queue.claim, queue.folder, dataset, record)
        else:
            run_in_pool(queue.claim, queue.folder, workers, dataset, record)
        rows = save_results()
        _summarize(sweep, sweep_dir, rows, say, shared=storage is not None)
    return sweep_dir


@contextlib.contextmanager
def _go_on_when_there_is_space():
    """A file that cannot be written (full or read-only disk) stops the sweep in one line that
    says how to go on: the trial folders are the record, so running it again continues it."""
    try:
        yield
    except FileWriteError as err:
        raise FileWriteError(err.problem, f"the sweep stopped: {err.remedy}, then run the same sweep again "
                             "(finished trials are kept; an interrupted one resumes from its checkpoint)",
                             path=err.path, errno_=err.errno, remedy=err.remedy) from None


def _write_sweep_yaml(sweep: Sweep, sweep_dir: Path, data: list) -> None:
    """sweep.yaml: what the sweep is, and the data it trains on, named so that it loads again."""
    info = {"name": sweep.name, "keys": sweep.keys, "configs": sweep.configs, "seeds": sweep.seeds,
            "metrics": sweep.metrics, "data": [d.record() for d in data], "base_recipe": sweep.base}
    if any(d.in_memory for d in data):
        info["data_note"] = ("trained on a dataset given in memory (not saved): pass the same "
                             "dataset= again to continue this sweep or to evaluate its runs")
    R.write_text_atomic(sweep_dir / "sweep.yaml", yaml.safe_dump(info, sort_keys=False))


def _summarize(sweep: Sweep, sweep_dir: Path, rows: list[dict], say, *, shared: bool) -> None:
    """summary.csv, the error-bar plot, and the table and notes printed at the end."""
    summary = R.summarize(rows, sweep.keys, sweep.metrics)
    R.write_csv(sweep_dir / "summary.csv", summary, R.summary_columns(sweep.keys, sweep.metrics))
    plotted = [e for e in summary if not math.isnan(e[f"{sweep.metrics[0]}_mean"])]
    if plotted:
        R.plot_errorbars(plotted, sweep.keys, sweep.metrics[0],
                         sweep_dir / f"{sweep.metrics[0]}.png", x_key=sweep.plot_x,
                         title=f"{sweep.name}: {sweep.metrics[0]} (mean ± std over repeats)")
    say("\n" + R.format_summary(summary, sweep.keys, sweep.metrics))
    say(f"\nper trial: {sweep_dir / 'results.csv'}\nper configuration: "
        f"{sweep_dir / 'summary.csv'}, {sweep_dir / (sweep.metrics[0] + '.png')}")
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        say(f"{len(failed)} trial(s) failed (see results.csv and trials/*/failed.json); "
            "run the same command again to retry them")
    running = [r for r in rows if r["status"] in ("running", "pending")]
    if shared and running:
        say(f"{len(running)} trial(s) still running or waiting in other processes; "
            "results.csv and summary.csv are rebuilt by every process as it finishes")
