"""Headless Chromium for browser tests: a `chromium` fixture (path to the binary) and helpers.

The fixture finds Chromium ($CHROMIUM, else on PATH). It never installs it: `make test`
does that first, as its explicit services step (.ci/services.sh). Where there is none the
browser tests skip, except in CI, where they fail.

    def test_page(browser, tmp_path):          # browser.path is the `chromium` fixture
        dom = browser.dump_dom(tmp_path / "page.html")            # a file path or a URL
        png = browser.screenshot("http://127.0.0.1:8000/", tmp_path / "shot.png")
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Flags that keep a test browser quiet, offline and independent of any user profile.
BASE_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
)


def find_chromium() -> str | None:
    env = os.environ.get("CHROMIUM")
    if env and Path(env).is_file():
        return env
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path to a headless-capable Chromium binary."""
    path = find_chromium()
    if path is None:
        msg = ("no Chromium found: `make test` installs it (.ci/services.sh start), or "
               "apt-get install chromium, or set CHROMIUM=/path/to/chromium")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def _run(chromium: str, extra: list[str], url: str, timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-", ignore_cleanup_errors=True) as profile:
        cmd = [chromium, *BASE_FLAGS, f"--user-data-dir={profile}", *extra, str(url)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def as_url(target: str | os.PathLike) -> str:
    """A URL as is, or a file path turned into a file:// URL."""
    text = str(target)
    if "://" in text:
        return text
    return Path(text).resolve().as_uri()


def dump_dom(chromium: str, target: str | os.PathLike, *, budget_ms: int = 5000,
             timeout: float = 60) -> str:
    """The serialised DOM of a page after it loaded and its scripts ran (virtual time budget)."""
    done = _run(chromium, [f"--virtual-time-budget={budget_ms}", "--dump-dom"],
                as_url(target), timeout)
    return done.stdout


def screenshot(chromium: str, target: str | os.PathLike, out: str | os.PathLike, *,
               size: tuple[int, int] = (1280, 1024), budget_ms: int = 5000,
               timeout: float = 60) -> Path:
    """A PNG screenshot of the page; returns its path."""
    out = Path(out).resolve()
    _run(chromium, [f"--virtual-time-budget={budget_ms}", f"--window-size={size[0]},{size[1]}",
                    f"--screenshot={out}"], as_url(target), timeout)
    if not out.is_file():
        raise AssertionError(f"chromium wrote no screenshot at {out}")
    return out


class Browser:
    """The helpers above bound to one Chromium binary (the `browser` fixture)."""

    def __init__(self, path: str):
        self.path = path

    def dump_dom(self, target, **kw) -> str:
        return dump_dom(self.path, target, **kw)

    def screenshot(self, target, out, **kw) -> Path:
        return screenshot(self.path, target, out, **kw)


@pytest.fixture(scope="session")
def browser(chromium) -> Browser:
    return Browser(chromium)
