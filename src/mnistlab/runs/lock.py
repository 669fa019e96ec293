"""One writer per run: whoever trains or resumes a run holds RUN/.lock (mnistlab.locks, the
lock the sweep folders take) until it is done.

A second `mnistlab train --resume RUN`, or `fit(resume=RUN)` from a notebook while the CLI
resumes it, is refused in one line naming the process that holds it. The lock is an open
file: a killed process releases it, so a stale lock never blocks a later resume.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from mnistlab.locks import file_lock, held_by

LOCK = ".lock"  # and .lock.owner, the holder's note; both hidden, neither copied by fork_run


class RunLock:
    """Holds at most one run folder's lock, from hold() until release() (or the with block's end)."""

    def __init__(self):
        self._stack = contextlib.ExitStack()

    def hold(self, run_dir) -> Path:
        run_dir = Path(run_dir)
        # patience: `mnistlab runs` takes the lock for an instant to ask whether anyone trains it
        self._stack.enter_context(file_lock(run_dir / LOCK, patience=1.0, busy=lambda who: (
            f"{run_dir} is being trained by {who}; one process trains a run at a time: wait for it "
            "to finish, or stop it and resume again (the run keeps its last checkpoint)")))
        return run_dir

    def release(self) -> None:
        self._stack.close()

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def trained_by(run_dir) -> str | None:
    """Who is training the run right now ("process 1234 on HOST, since ..."), or None."""
    return held_by(Path(run_dir) / LOCK)
