"""Shared fixtures. Integration tests need the real datasets; in CI they fail, never skip."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def _data_root() -> Path | None:
    env = os.environ.get("MNISTLAB_DATA")
    if env and Path(env).is_dir():
        return Path(env)
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return shared if shared.is_dir() else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The directory holding mnist/ (and fashion-mnist/); set MNISTLAB_DATA to point at it."""
    root = _data_root()
    if root is None or not (root / "mnist").is_dir():
        msg = "real MNIST not found: set MNISTLAB_DATA to a directory holding mnist/*.gz"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    os.environ["MNISTLAB_DATA"] = str(root)
    return root


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never read or write the user's real cache from a test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
