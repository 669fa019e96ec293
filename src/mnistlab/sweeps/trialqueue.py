"""The trial queue: where a sweep's trials wait, who runs which, and what became of them.

run_sweep (grid.py) takes trials from a queue and trains them; the queue is the record:

- FolderQueue (folderqueue.py): the trial folders under SWEEP_DIR/trials, one process at a
  time (a lock file). A trial is done when its folder holds a finished run.
- SharedGrid (gridstudy.py): an Optuna study storage, `sweep --storage URL`: any number of
  processes on any number of machines take the next untrained trial.

Both write each trial's folder the same way (folderqueue.claim_folder, record_failure), so
a trial's run directory looks alike whichever queue handed it out.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol


class TrialQueue(Protocol):
    columns: list[str]   # results.csv's columns
    of: str              # "/N" after a finished-trial count when N is known here, else ""

    def __enter__(self) -> "TrialQueue": ...
    def __exit__(self, *exc) -> None: ...

    def intro(self) -> str:
        """The line saying what is done and what will run."""

    def folder(self, trial) -> Path:
        """The trial's folder in this process's sweep directory."""

    def claim(self):
        """The next trial for this process (its folder claimed), or None when none is left."""

    def finish(self, trial, run: str | None, failure: dict | None) -> dict | None:
        """Record a claimed trial's outcome; its metrics, or None when it failed."""

    def rows(self) -> list[dict]:
        """One results.csv row per trial of the sweep."""


def open_queue(sweep, sweep_dir: Path, *, storage: str | None, retry_failed: bool) -> TrialQueue:
    """The folder queue, or with `storage` the queue shared through that study storage."""
    if storage is None:
        from mnistlab.sweeps.folderqueue import FolderQueue
        return FolderQueue(sweep, sweep_dir, retry_failed=retry_failed)
    from mnistlab.sweeps.gridstudy import SharedGrid
    return SharedGrid(sweep, sweep.trials(), storage, sweep_dir, retry_failed=retry_failed)
