"""`mnistlab tune --storage postgresql://...` against a real PostgreSQL server.

The fixture starts a throw-away server (Debian's postgresql package; installed with
apt-get when missing and running as root) on a free local port: about 2 s when the
package is there. Where no server can be installed or started the test skips, except in
CI, where it fails. The Python driver is psycopg 3 (`pip install "psycopg[binary]"`;
psycopg2 works too).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml

from mnistlab.sweep.tune import tune


def _unavailable(msg: str):
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _install() -> None:
    """apt-get install postgresql (root only); `apt-get update` first only if that fails."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-q", "postgresql"]
    if subprocess.run(cmd, env=env, capture_output=True, timeout=600).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        subprocess.run(cmd, env=env, capture_output=True, timeout=600)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    import importlib.util

    if not any(importlib.util.find_spec(m) for m in ("psycopg", "psycopg2")):
        _unavailable('no PostgreSQL driver for Python: pip install "psycopg[binary]"')
    bindir = _bindir()
    if bindir is None:
        _install()
        bindir = _bindir()
    if bindir is None:
        _unavailable("no PostgreSQL server found and it could not be installed "
                     "(apt-get install postgresql as root)")

    # PostgreSQL refuses to run as root: run it as the package's `postgres` user then
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no `postgres` user to run the server")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="mnistlab-pg-"))  # in /tmp: readable by that user
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    data = root / "data"

    def pg(*args, check=True):
        return subprocess.run(as_user + [str(bindir / args[0]), *args[1:]], capture_output=True,
                              text=True, timeout=120, check=check)

    try:
        pg("initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
        pg("pg_ctl", "-D", str(data), "-l", str(root / "log"), "-w", "start", "-o",
           f"-p {port} -k {root} -c listen_addresses=127.0.0.1")
        pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mnistlab_test")
    except subprocess.CalledProcessError as err:
        log = (root / "log").read_text()[-500:] if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"could not start PostgreSQL: {err.stderr.strip()[-300:]} {log}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/mnistlab_test"
    finally:
        pg("pg_ctl", "-D", str(data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_tune_on_postgresql(tmp_path, postgres_url):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    x = rng.integers(0, 120, (200, 8, 8)).astype(np.uint8)
    for k in range(3):
        x[y == k, 2 * k:2 * k + 2, :] += 80
    np.savez(tmp_path / "tiny.npz", x_train=x[:160], y_train=y[:160], x_test=x[160:], y_test=y[160:])
    recipe = {"name": "pg", "data": {"dataset": str(tmp_path / "tiny.npz"), "validation_split": 0.25},
              "model": {"input_shape": [8, 8, 1], "layers": [
                  {"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"}]},
              "optimizer": {"name": "sgd", "lr": 0.1}, "epochs": 1, "device": "cpu"}
    space = {"optimizer.lr": {"low": 0.01, "high": 0.5, "log": True}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))

    # two "machines": separate study directories, one study in the database
    a = tune(tmp_path / "r.yaml", space, trials=2, storage=postgres_url, study="shared",
             out=tmp_path / "machine-a", quiet=True)
    b = tune(tmp_path / "r.yaml", space, trials=2, storage=postgres_url, study="shared",
             out=tmp_path / "machine-b", quiet=True)
    assert not (a / "study.db").exists() and not (b / "study.db").exists()
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert {Path(t.user_attrs["trial_dir"]).parent.parent.name for t in study.trials} == {
        "machine-a", "machine-b"}
    assert (b / "best_recipe.yaml").exists() and len((b / "trials.csv").read_text().splitlines()) == 5
