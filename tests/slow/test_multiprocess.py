"""Several processes on one study or one sweep directory: tune sharing an SQLite study,
a sweep resumed after SIGKILL, two processes sharing one grid through SQLite."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from mnistlab.sweeps.tuning import run_tune
from tinydata import TINY_SPACE, read_rows, sweep_in_processes, tiny_recipe, write_tiny_data

pytestmark = pytest.mark.slow

SPACE = TINY_SPACE


@pytest.fixture()
def data(tmp_path):
    return write_tiny_data(tmp_path / "tiny.npz")


def finished_runs(trial_dir: Path) -> list[Path]:
    return sorted(p.parent for p in trial_dir.glob("*/metrics.json"))


def test_two_processes_share_one_sqlite_study(tmp_path, data):
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(tiny_recipe(data, epochs=1)))
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE))
    out = tmp_path / "st"
    cmd = [sys.executable, "-m", "mnistlab", "tune", str(tmp_path / "r.yaml"), "--space",
           str(tmp_path / "space.yaml"), "--trials", "3", "--study", "shared", "--out", str(out),
           "--pruner", "none"]  # this test is about sharing a study; pruning has its own test
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{out / 'study.db'}")
    trials = study.trials
    assert len(trials) == 6  # 3 + 3
    assert sorted(t.number for t in trials) == list(range(6))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    run_dirs = [t.user_attrs["run_dir"] for t in trials]
    assert len(set(run_dirs)) == 6  # no trial ran twice or shared a run directory
    for number in range(6):
        runs = list((out / "trials" / f"{number:04d}").glob("*/metrics.json"))
        assert len(runs) == 1
    # --trials 0 only writes the study's results (what one does once all machines are done)
    run_tune(tmp_path / "r.yaml", tmp_path / "space.yaml", trials=0, study="shared", out=out,
         quiet=True)
    rows = read_rows(out / "trials.csv")
    assert [r["number"] for r in rows] == [str(n) for n in range(6)]
    assert {r["run_dir"] for r in rows} == set(run_dirs)


def test_resume_after_sigkill_runs_only_what_is_missing(tmp_path, data):
    """Kill a sweep subprocess with SIGKILL mid-way, start it again (with 2 workers): every
    trial ends with exactly one finished run, and the ones finished before are untouched."""
    recipe = tiny_recipe(data, epochs=4)
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "recipe": "r.yaml", "grid": {"model.layers.*.l2": [1e-2, 1e-4, 1e-6]}, "repeats": 2}))
    out = tmp_path / "sw"
    cmd = [sys.executable, "-m", "mnistlab", "sweep", str(tmp_path / "s.yaml"), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if len(list(out.glob("trials/*/*/metrics.json"))) >= 2:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        else:
            pytest.fail("the sweep did not finish 2 trials in time")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = {p.parent: p.stat().st_mtime_ns for p in out.glob("trials/*/*/metrics.json")}
    assert 2 <= len(before) < 6, "kill the sweep before it finished"

    done = subprocess.run(cmd + ["--workers", "2"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{len(before)} already done" in done.stdout

    rows = read_rows(out / "results.csv")
    assert sorted(r["trial"] for r in rows) == sorted(
        f"{c:03d}-r{r}" for c in range(3) for r in range(2))
    assert all(r["status"] == "done" for r in rows)
    for trial_dir in (out / "trials").iterdir():
        runs = finished_runs(trial_dir)
        assert len(runs) == 1, f"{trial_dir.name}: {runs}"  # never run twice
        leftovers = [p for p in trial_dir.iterdir() if p.is_dir() and p not in runs]
        assert leftovers == []  # the run that was killed half-way was cleaned up
    for run_dir, mtime in before.items():  # finished trials were not touched
        assert (run_dir / "metrics.json").stat().st_mtime_ns == mtime
    assert {str(out / r["run_dir"]) for r in rows} >= {str(p) for p in before}


def test_two_processes_share_one_grid_through_sqlite(tmp_path, data):
    """Two `mnistlab sweep --storage sqlite:///...` processes, each with its own --out, on
    one grid x repeats: each trial is trained exactly once, by one of them."""
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "name": "two", "recipe": tiny_recipe(data, epochs=1),
        "grid": {"model.layers.*.l2": [1e-2, 1e-4, 1e-6]}, "repeats": 3}))
    url = f"sqlite:///{tmp_path / 'study.db'}"
    sweep_in_processes(tmp_path / "s.yaml", url, [tmp_path / "a", tmp_path / "b"])

    ids = sorted(f"{c:03d}-r{r}" for c in range(3) for r in range(3))
    trained = sorted(run.parent.parent.name for o in ("a", "b")
                     for run in (tmp_path / o / "trials").glob("*/*/metrics.json"))
    assert trained == ids  # every trial once, none twice
    study = optuna.load_study(study_name="two", storage=url)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.user_attrs["grid_id"] for t in complete) == ids
    # started again: nothing to train, every result gathered from the study
    sweep_in_processes(tmp_path / "s.yaml", url, [tmp_path / "b"])
    rows = read_rows(tmp_path / "b" / "results.csv")
    assert sorted(r["trial"] for r in rows) == ids and all(r["status"] == "done" for r in rows)
    assert sorted(run.parent.parent.name for o in ("a", "b")
                  for run in (tmp_path / o / "trials").glob("*/*/metrics.json")) == ids
