"""Which data a run, sweep or study used: the one place that names it and fingerprints it.

    ref = reference(ds)      # what load_dataset takes to load it again (config.yaml's data.dataset)
    ident = of(ds)           # DataIdentity(ref, sha256 of the content)

A reference is a built-in's name or a file's absolute path, plus the slice `Dataset.take()`
made: `mnist[:2000]` (the first 2,000 training images, every test image) or
`mnist[:500,:100]` (and the first 100 test images); `load_dataset` resolves both. Arrays
given in memory have no file to load again: their reference is `memory:NAME`, and loading
it says in one line that the dataset must be passed back.

Two datasets are the same data when their content hashes agree (images, labels, class
names), wherever they were loaded from: one file on two machines sharing a study is one
dataset; a changed file, another built-in or another slice is not.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from mnistlab.errors import MnistlabError

MEMORY = "memory:"
_SLICE = re.compile(r"^(?P<base>.+)\[:(?P<train>\d+)(?:,:(?P<test>\d+))?\]$")


@dataclass(frozen=True)
class DataIdentity:
    ref: str      # load_dataset(ref) loads it again; memory:NAME for arrays given in memory
    sha256: str   # of the content: the images, labels and class names of both splits

    def record(self) -> dict:
        """What trial.json, sweep.yaml and a study store."""
        return {"dataset": self.ref, "sha256": self.sha256}

    @property
    def in_memory(self) -> bool:
        return self.ref.startswith(MEMORY)

    def __str__(self) -> str:
        return f"{self.ref} (sha256 {self.sha256[:12]})"

    def differs(self, record) -> str | None:
        """None when `record` (a stored record()) is this data; else what the record says it
        was, for a one-line refusal."""
        if isinstance(record, dict) and record.get("sha256") == self.sha256:
            return None
        if not isinstance(record, dict) or not record.get("sha256"):
            return "data that was not recorded (made by an older mnistlab)"
        return f"{record.get('dataset')} (sha256 {str(record['sha256'])[:12]})"


def reference(ds) -> str:
    """The name config.yaml records for `ds`: where load_dataset finds it again."""
    return ds.loaded_as or f"{MEMORY}{ds.name}"


def of(ds) -> DataIdentity:
    return DataIdentity(reference(ds), content_sha256(ds))


def content_sha256(ds) -> str:
    """sha256 over both splits' shapes, pixels and labels, and the class names."""
    h = hashlib.sha256()
    for t in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        if t is None:
            h.update(b"none;")
            continue
        a = t.contiguous().cpu().numpy()
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.tobytes() if a.size == 0 else memoryview(a).cast("B"))
    h.update("\0".join(map(str, ds.classes)).encode())
    return h.hexdigest()


# ---------------------------------------------------------------- slices: what take() records

def parse_slice(text: str) -> tuple[str, int, int | None] | None:
    """`NAME[:N]` -> (NAME, N, None); `NAME[:N,:M]` -> (NAME, N, M); anything else None."""
    m = _SLICE.match(str(text))
    if m is None:
        return None
    return m["base"], int(m["train"]), None if m["test"] is None else int(m["test"])


def sliced(name: str, train: int, test: int | None) -> str:
    """`name` with a take(train, test) slice; a slice of a slice is one slice (the smaller)."""
    old = parse_slice(name)
    if old is not None:
        name, old_train, old_test = old
        train = min(train, old_train)
        test = old_test if test is None else (test if old_test is None else min(test, old_test))
    return f"{name}[:{train}]" if test is None else f"{name}[:{train},:{test}]"


def refuse_memory(text: str) -> None:
    """load_dataset('memory:NAME'): one line saying the data was never saved as a file."""
    if str(text).startswith(MEMORY):
        name = str(text)[len(MEMORY):]
        raise MnistlabError(f"dataset '{name}' was given in memory, not as a file, so it cannot be loaded "
                            "again by name; pass the same data back (dataset=... in Python); a run's "
                            "test split is also kept beside it in test_data.npz")
