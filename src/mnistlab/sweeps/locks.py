"""The one file lock of mnistlab's sweeps and studies (filelock: fcntl on Unix, msvcrt on Windows).

    with file_lock(path):                    # wait for the lock (popping an SQLite study's trial)
    with file_lock(path, busy="one line"):   # do not wait: MnistlabError(busy) if it is held

The lock is held by an open file, so a killed process releases it; two processes (or two
opens in one process) exclude each other.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from mnistlab.errors import MnistlabError


@contextlib.contextmanager
def file_lock(path: str | Path, *, busy: str | None = None):
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=0 if busy is not None else -1, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise MnistlabError(busy) from None
    try:
        yield
    finally:
        lock.release()
