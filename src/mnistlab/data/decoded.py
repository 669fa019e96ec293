"""A decoded (gunzipped) copy of each built-in IDX file, kept in the user cache.

Inflating the train-images .gz on every load costs more than reading the decoded copy and
hashing it (timed in docs/data.md). The copy lives in
`~/.cache/mnistlab/decoded/` (data folders may be read-only, as ../shared/data is in CI),
named by the sha256 its content must have, and is verified against that sum on every read:
a corrupt or foreign copy is deleted and the .gz is read again. It is used only while the
.gz it came from is unchanged (the verification stamp: same size and mtime), so a replaced
or damaged .gz is still decoded and checked. Only files whose decompressed sha256 is
published (MNIST, Fashion-MNIST) are cached; writing is best effort and never fails a load.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from mnistlab import settings
from mnistlab.io import write_cache


def cache_path(sha256: str) -> Path:
    return settings.cache_dir() / "decoded" / f"{sha256}.idx"


def read(sha256: str) -> bytes | None:
    """The cached content whose sha256 is `sha256`, or None (missing or not matching)."""
    path = cache_path(sha256)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != sha256:
        path.unlink(missing_ok=True)  # corrupt or truncated: the caller decodes the .gz again
        return None
    return data


def write(sha256: str, content: bytes) -> None:
    """Keep `content` (already verified to hash to `sha256`) for the next load."""
    path = cache_path(sha256)
    write_cache(path, content)  # a read-only or full disk only costs the next load a decode
