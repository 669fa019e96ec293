"""Where runs live and how they are named; a run is invisible until its first checkpoint.

Training starts in a hidden `out/.<name>.partial-*` folder (no config.yaml, so no tool
mistakes it for a run), renamed to `out/<timestamp>-<name>/` once the first epoch's
checkpoint exists. From then on the folder is a resumable run; metrics.json is written last.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from mnistlab.errors import MnistlabError
from mnistlab.io import make_dirs, make_temp_dir, write_error

CONFIG, HISTORY, METRICS = "config.yaml", "history.csv", "metrics.json"
CHECKPOINT, WEIGHTS = "checkpoint.pt", "model.safetensors"


def is_run_dir(path) -> bool:
    return (Path(path) / CONFIG).is_file()


def is_finished(path) -> bool:
    return (Path(path) / METRICS).is_file()


def new_run_name(out: Path, name: str) -> str:
    """`<timestamp>-<name>`, made safe for a folder name and unique in `out`."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip(".") or "run"
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"
    final, i = base, 2
    while (Path(out) / final).exists():
        final, i = f"{base}-{i}", i + 1
    return final


def start_partial(out, name: str) -> Path:
    """A hidden work folder in `out` for a run that has no checkpoint yet."""
    return make_temp_dir(make_dirs(out), f".{name}.partial-")


def publish(work_dir: Path, out: Path, name: str) -> Path:
    """Rename the partial folder to its visible run name (config.yaml must be in it)."""
    run_dir = Path(out) / new_run_name(out, name)
    try:
        os.rename(work_dir, run_dir)
    except OSError as err:
        raise write_error(err, run_dir, "create") from None
    return run_dir


def discard_partial(work_dir: Path) -> None:
    """A run that failed before its first checkpoint leaves nothing behind."""
    if work_dir.exists() and work_dir.name.startswith("."):
        shutil.rmtree(work_dir, ignore_errors=True)


def find_runs(root) -> list[Path]:
    """Run directories at `root` itself or directly below it, oldest name first."""
    root = Path(root)
    if not root.is_dir():
        raise MnistlabError(f"{root} is not a directory; pass the folder holding your runs (default: runs)")
    if is_run_dir(root):
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and is_run_dir(p))


def require_run(run_dir) -> Path:
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise MnistlabError(f"{run_dir} is not a run directory (no config.yaml); "
                            "pass a folder written by `mnistlab train`, e.g. runs/<timestamp>-<name>")
    return run_dir
