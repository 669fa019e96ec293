"""The one file lock of mnistlab (filelock: fcntl on Unix, msvcrt on Windows): a sweep
folder, a study's SQLite file and a run folder each take it.

    with file_lock(path):                      # wait for the lock (popping an SQLite study's trial)
    with file_lock(path, busy=message):        # do not wait: MnistlabError(message(holder)) if held

The lock is held by an open file, so a killed process releases it and a stale lock never
blocks; two processes (or two opens in one process) exclude each other. A lock taken with
`busy` also writes who holds it to PATH.owner ("process 1234 on HOST, since ...: COMMAND"),
so the second process can name the first; that file is only a note (the lock is the open
file), and one that cannot be written (a full disk) does not stop the lock.
"""
from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from pathlib import Path

from mnistlab.errors import MnistlabError
from mnistlab.io import write_cache, write_error


def owner_path(path) -> Path:
    return Path(f"{path}.owner")


def holder(path) -> str:
    """Who holds the lock at `path`, as its owner note says ("another process" without one)."""
    try:
        text = owner_path(path).read_text().strip()
    except OSError:
        text = ""
    return text or "another process"


def _note_owner(path) -> None:
    command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:120]
    note = (f"process {os.getpid()} on {socket.gethostname()}, since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}" + (f": {command}" if command else ""))
    write_cache(owner_path(path), note + "\n")  # a note only: one that cannot be written stops nothing


@contextlib.contextmanager
def file_lock(path: str | Path, *, busy=None, patience: float = 0):
    """Hold the lock at `path` for the block. `busy`: do not wait (or only `patience`
    seconds); when another process holds it, raise MnistlabError(busy) (a str) or
    MnistlabError(busy(holder)) (a callable given who holds it, from the owner note)."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=patience if busy is not None else -1, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise MnistlabError(busy(holder(path)) if callable(busy) else busy) from None
    except OSError as err:  # the lock file cannot be made: a read-only or full file system
        raise write_error(err, path, "create the lock file") from None
    folder = None
    try:
        if busy is not None:
            _note_owner(path)
            # the note is removed through a handle on its folder, which follows a rename (a new
            # run's folder is renamed into place while fit holds its lock)
            folder = _open_folder(Path(path).parent)
        yield
    finally:
        if busy is not None:  # before the release: the next holder writes its own note
            _remove_note(path, folder)
        lock.release()


def _open_folder(folder: Path) -> int | None:
    if os.unlink not in os.supports_dir_fd:
        return None
    try:
        return os.open(folder, os.O_RDONLY)
    except OSError:
        return None


def _remove_note(path, folder: int | None) -> None:
    try:
        if folder is None:
            owner_path(path).unlink(missing_ok=True)
        else:
            os.unlink(owner_path(path).name, dir_fd=folder)
    except OSError:
        pass
    finally:
        if folder is not None:
            os.close(folder)


def held_by(path) -> str | None:
    """Who holds the lock at `path` now (the owner note), or None when nobody does (or the
    lock file cannot be opened to ask, as on a read-only file system)."""
    from filelock import FileLock, Timeout

    if not Path(path).exists():
        return None
    lock = FileLock(str(path), timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        return holder(path)
    except OSError:
        return None
    lock.release()
    return None
