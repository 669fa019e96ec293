"""Fetch missing built-in files into the user cache: progress bar, atomic, verified."""
from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from mnistlab import settings
from mnistlab.data.builtins import Builtin, FileSpec
from mnistlab.data.formats import read_bytes
from mnistlab.errors import MnistlabError
from mnistlab.io import make_dirs, write_atomic_stream

TIMEOUT_S = 30


def _fetch(url: str, dest: Path, quiet: bool) -> None:
    """Stream url into dest through mnistlab.io.write_atomic_stream: never a half-written
    dest, the progress bar moves as bytes arrive, and a slow mirror's file is never held
    in memory whole (write_atomic would need all the bytes first)."""
    make_dirs(dest.parent)
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as r:
        total = int(r.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                  disable=quiet or not sys.stderr.isatty()) as bar:
            def chunks():
                while chunk := r.read(1 << 20):
                    bar.update(len(chunk))
                    yield chunk
            write_atomic_stream(dest, chunks())


def _matches(path: Path, spec: FileSpec) -> bool:
    if spec.sha256:
        return hashlib.sha256(read_bytes(path)).hexdigest() == spec.sha256
    if spec.gz_sha256:
        return hashlib.sha256(path.read_bytes()).hexdigest() == spec.gz_sha256
    return True


def download(ds: Builtin, missing: list[str], quiet: bool = False) -> dict[str, Path]:
    """Download the files of `missing` (keys of ds.files) into <cache>/<dataset>/.

    Mirrors are tried in order; a file that fails its checksum is discarded and the next
    mirror tried. If nothing works: one error naming the files, URLs and where to put them."""
    folder = settings.cache_dir() / ds.name
    got: dict[str, Path] = {}
    problems: list[str] = []
    dead: set[str] = set()  # mirrors that could not be reached are not retried per file
    for key in missing:
        spec = ds.files[key]
        dest = folder / (spec.filename + ".gz")
        for mirror in [m for m in ds.mirrors if m not in dead]:
            url = mirror + spec.filename + ".gz"
            tmp = dest.with_name(dest.name + ".download")
            try:
                _fetch(url, tmp, quiet)
            except urllib.error.HTTPError as err:   # reachable, but not this file
                problems.append(f"{url}: HTTP {err.code}")
                continue
            except (urllib.error.URLError, OSError, ValueError) as err:
                problems.append(f"{url}: {getattr(err, 'reason', err)}")
                dead.add(mirror)
                continue
            try:
                ok = _matches(tmp, spec)
            except MnistlabError:
                ok = False
            if not ok:
                tmp.unlink(missing_ok=True)
                problems.append(f"{url}: checksum mismatch")
                continue
            os.replace(tmp, dest)  # verified: a rename within the folder publishes it
            got[key] = dest
            break
    still = [k for k in missing if k not in got]
    if still:
        names = ", ".join(ds.files[k].filename + ".gz" for k in still)
        urls = " or ".join(ds.mirrors)
        raise MnistlabError(
            f"{ds.name}: missing {names} and the download failed ({problems[-1] if problems else 'no mirror'}); "
            f"get them from {urls} and put them (gz or unpacked) in {folder} or in DIR/{ds.name}/ with "
            f"--data-dir DIR or MNISTLAB_DATA=DIR")
    return got
