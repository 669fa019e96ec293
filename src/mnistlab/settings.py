"""Where mnistlab looks for data: --data-dir, then $MNISTLAB_DATA, then the user cache."""
from __future__ import annotations

import os
from pathlib import Path

_data_dir_override: Path | None = None


def set_data_dir(path: str | os.PathLike | None) -> None:
    """Set by the CLI's --data-dir; takes precedence over the environment."""
    global _data_dir_override
    _data_dir_override = Path(path).expanduser() if path else None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnistlab"


def data_search_dirs() -> list[Path]:
    """Directories searched for dataset files, in order of precedence."""
    dirs: list[Path] = []
    if _data_dir_override is not None:
        dirs.append(_data_dir_override)
    env = os.environ.get("MNISTLAB_DATA")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(cache_dir())
    return dirs
