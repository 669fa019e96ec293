"""The fault-injection seam of mnistlab.io for tests: the Nth file write (or folder creation)
fails with a chosen errno, as a full disk (ENOSPC) or a read-only mount (EROFS) would.

    faults = inject(monkeypatch)                        # only count: faults.seen lists every write
    faults = inject(monkeypatch, at=5)                  # the 5th write and all after it: ENOSPC
    faults = inject(monkeypatch, err=errno.EROFS, at=2, sticky=False)   # only the 2nd

mnistlab.io calls `_fault_point(path, op)` before it publishes a file ("write", after some
bytes went to the temp file) and before it creates a folder ("mkdir"); it does nothing
outside tests. A full disk stays full, so a fault is sticky unless told otherwise.
"""
from __future__ import annotations

import errno
import os

from mnistlab import io as mio


class Faults:
    def __init__(self, err: int = errno.ENOSPC, at: int | None = None, ops=("write", "mkdir"),
                 match: str = "", sticky: bool = True):
        self.err, self.at, self.ops, self.match, self.sticky = err, at, ops, match, sticky
        self.seen: list[tuple[str, str]] = []  # (op, path) of every call that matched
        self.raised: list[str] = []            # the paths that failed

    def __call__(self, path, op: str) -> None:
        if op not in self.ops or self.match not in str(path):
            return
        self.seen.append((op, str(path)))
        n = len(self.seen)
        if self.at is not None and (n == self.at or (self.sticky and n > self.at)):
            self.raised.append(str(path))
            raise OSError(self.err, os.strerror(self.err), str(path))

    def stop(self) -> None:
        """Space was freed: no more faults (counting goes on)."""
        self.at = None


def inject(monkeypatch, **kwargs) -> Faults:
    faults = Faults(**kwargs)
    monkeypatch.setattr(mio, "_fault_point", faults)
    return faults
