"""Shared fixtures. Integration tests need the real datasets; in CI they fail, never skip.

Tests run in random order (pytest-randomly; the seed is printed at the end of every run,
replay with `pytest -p randomly --randomly-seed=N`), so no test may depend on what an earlier
one left behind: `_process_state_restored` checks that every test leaves torch's thread
count and default dtype, the working directory and the environment as it found them.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# Importing the CLI sets OMP_WAIT_POLICY for the process (before torch is imported, as the
# `mnistlab` command does); done here so that it happens once, not in whichever test is first.
import mnistlab.cli  # noqa: E402, F401


def _data_root() -> Path | None:
    env = os.environ.get("MNISTLAB_DATA")
    if env and Path(env).is_dir():
        return Path(env)
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return shared if shared.is_dir() else None


# Set once for the whole session (not by the first test that asks for data_root), so that
# the environment is the same for every test whatever the order.
if _data_root() is not None:
    os.environ["MNISTLAB_DATA"] = str(_data_root())


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The directory holding mnist/ (and fashion-mnist/); set MNISTLAB_DATA to point at it."""
    root = _data_root()
    if root is None or not (root / "mnist").is_dir():
        msg = "real MNIST not found: set MNISTLAB_DATA to a directory holding mnist/*.gz"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return root


@pytest.fixture(autouse=True)
def _process_state_restored(request):
    """A test that changes process-wide state and does not put it back fails here (after the
    state is restored, so the tests after it are unaffected). Use monkeypatch, or try/finally.

    _isolated_cache asks for it, so it is set up before monkeypatch and torn down after
    monkeypatch has undone its changes. torch's global generator is seeded per test (with the
    random-order seed when pytest-randomly runs), as pytest-randomly does for random and numpy.
    """
    torch = sys.modules.get("torch")  # only when already imported: importing it costs seconds
    before = {"cwd": os.getcwd(), "env": _environment()}
    if torch is not None:
        before.update(threads=torch.get_num_threads(), dtype=torch.get_default_dtype())
        torch.manual_seed(request.config.getoption("randomly_seed", None) or 0)
    yield
    changed = []
    if os.getcwd() != before["cwd"]:
        changed.append(f"the working directory ({before['cwd']} -> {os.getcwd()})")
        os.chdir(before["cwd"])
    env = _environment()
    if env != before["env"]:
        keys = sorted(k for k in env.keys() | before["env"].keys() if env.get(k) != before["env"].get(k))
        changed.append(f"environment variables {', '.join(keys)}")
        for key in keys:
            if key in before["env"]:
                os.environ[key] = before["env"][key]
            else:
                del os.environ[key]
    if torch is not None:
        if torch.get_num_threads() != before["threads"]:
            changed.append(f"torch's thread count ({before['threads']} -> {torch.get_num_threads()})")
            torch.set_num_threads(before["threads"])
        if torch.get_default_dtype() != before["dtype"]:
            changed.append(f"torch's default dtype ({before['dtype']} -> {torch.get_default_dtype()})")
            torch.set_default_dtype(before["dtype"])
    if changed:
        pytest.fail(f"{request.node.nodeid} changed process-wide state and did not restore it: "
                    f"{'; '.join(changed)} (use monkeypatch or try/finally)", pytrace=False)


# Written by the libraries themselves, not by a test: pytest's current test, the inductor
# cache directory torch records the first time it is asked for (e.g. by the first optimiser
# step in the process), and the two OpenMP settings scikit-learn's import sets with
# os.environ.setdefault, whichever test imports it first.
_NOT_A_TESTS_STATE = {"PYTEST_CURRENT_TEST", "TORCHINDUCTOR_CACHE_DIR", "KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK"}


def _environment() -> dict:
    return {k: v for k, v in os.environ.items() if k not in _NOT_A_TESTS_STATE}


@pytest.fixture(autouse=True)
def _isolated_cache(_process_state_restored, tmp_path_factory, monkeypatch):
    """Never read or write the user's real cache from a test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


def pytest_terminal_summary(terminalreporter, config):
    """The random-order seed, also under -q (which hides pytest-randomly's header line)."""
    seed = config.getoption("randomly_seed", None)
    if seed is not None and not isinstance(seed, str) and config.pluginmanager.has_plugin("randomly"):
        terminalreporter.write_line(f"Tests ran in random order: replay it with "
                                    f"pytest -p randomly --randomly-seed={seed}")


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on the torch backend, for the tests that check the Keras bridge against the real
    thing (the environment and warnings filters put back after the import)."""
    import warnings

    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        mp.setenv("KERAS_BACKEND", "torch")
        keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("keras was imported with another backend")
    return keras


@pytest.fixture
def captured(monkeypatch):
    """mnistlab.fit's call of train.train_run, recorded instead of run: which recipe and data
    it got (the call ends with SystemExit("captured"))."""
    import mnistlab.train as train
    calls = []

    def fake(recipe=None, **kw):
        calls.append((recipe, kw))
        raise SystemExit("captured")
    monkeypatch.setattr(train, "train_run", fake)
    return calls
