"""Fork a finished run so that resuming it trains more epochs: what calling Keras' fit() again does."""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

from mnistlab.io import make_dirs, make_temp_dir, write_error
from mnistlab.runs.files import read_config, write_config
from mnistlab.runs.layout import CONFIG, publish
from mnistlab.runs.lock import LOCK


def merge(base: dict, over: dict) -> dict:
    """`over` laid onto `base`, nested dicts merged key by key (a copy; neither is changed)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out.get(k) or {}, v) if isinstance(v, dict) else v
    return out


def _copy(src, dst):
    """shutil.copy2, a full or read-only disk as one line (copytree would gather it into a list)."""
    try:
        return shutil.copy2(src, dst)
    except OSError as err:
        raise write_error(err, dst) from None


def fork_run(prev_dir, dest, cfg: dict) -> Path:
    """A copy of a finished run that `fit(resume=)` continues under `cfg` laid onto its config.

    The copy keeps checkpoint.pt (weights, optimiser state, RNG, history, epoch count) and
    drops what marks a run finished. It is built in a hidden folder and renamed into place
    whole, so an interrupted fork leaves no half-copied run behind."""
    prev_dir, dest = Path(prev_dir), Path(dest)
    work = make_temp_dir(make_dirs(dest), f".{cfg['name']}.partial-")
    try:
        shutil.copytree(prev_dir, work, dirs_exist_ok=True, copy_function=_copy, ignore=shutil.ignore_patterns(
            "metrics.json", "model.safetensors", "report.html", "plots", CONFIG, f"{LOCK}*"))
        write_config(work, merge(read_config(prev_dir), cfg))
        return publish(work, dest, cfg["name"])
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
