"""Sweeps that really train (tiny synthetic data): results, failures, resume from a
checkpoint, worker processes (a sweep killed with SIGKILL: tests/slow)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mnistlab.sweeps.grid import run_sweep
from tinydata import read_rows, tiny_recipe, write_tiny_data


def finished_runs(trial_dir: Path) -> list[Path]:
    return sorted(p.parent for p in trial_dir.glob("*/metrics.json"))


@pytest.fixture()
def data(tmp_path):
    return write_tiny_data(tmp_path / "tiny.npz")


def test_workers_divide_the_cores():
    import torch

    from mnistlab.sweeps import trials

    assert [trials.threads_per_worker(n, cores=16) for n in (1, 2, 3, 16, 32)] == [16, 8, 5, 1, 1]
    before, marker = torch.get_num_threads(), object()
    try:
        trials._init_worker(1, marker)  # what each worker process runs first
        assert torch.get_num_threads() == 1 and trials._worker_dataset is marker
    finally:
        torch.set_num_threads(before)
        trials._worker_dataset = None


def test_sweep_writes_runs_results_summary_and_plot(tmp_path, data):
    sweep = {"name": "l2", "recipe": tiny_recipe(data),
             "grid": {"model.layers.*.l2": [1e-2, 1e-6]}, "repeats": 2,
             "metrics": ["max_val_accuracy", "test_accuracy"]}
    out = run_sweep(sweep, out=tmp_path / "sw", quiet=True)
    rows = read_rows(out / "results.csv")
    assert [r["trial"] for r in rows] == ["000-r0", "000-r1", "001-r0", "001-r1"]
    assert all(r["status"] == "done" for r in rows)
    for r in rows:
        run = out / r["run_dir"]
        config = yaml.safe_load((run / "config.yaml").read_text())
        metrics = json.loads((run / "metrics.json").read_text())
        # the recorded seed is the one the run used, and the swept value reached the model
        assert int(r["seed"]) == config["seed"] == metrics["seed"] == int(r["repeat"])
        assert config["model"]["layers"][1]["l2"] == float(r["model.layers.*.l2"])
        assert float(r["test_accuracy"]) == pytest.approx(metrics["test_accuracy"])
        history = read_rows(run / "history.csv")
        assert float(r["max_val_accuracy"]) == max(float(h["val_accuracy"]) for h in history)
    # different seeds give different runs
    assert rows[0]["val_loss"] != rows[1]["val_loss"]
    summary = read_rows(out / "summary.csv")
    assert len(summary) == 2 and all(s["n"] == "2" for s in summary)
    accs = [float(r["test_accuracy"]) for r in rows[:2]]
    assert float(summary[0]["test_accuracy_mean"]) == pytest.approx(np.mean(accs))
    assert float(summary[0]["test_accuracy_std"]) == pytest.approx(np.std(accs))
    assert (out / "max_val_accuracy.png").stat().st_size > 1000


def test_failed_trial_is_recorded_and_the_others_continue(tmp_path, data):
    # input_shape [9, 9, 1] is a valid spec but does not fit the 8x8 images: fit raises
    sweep = {"name": "f", "recipe": tiny_recipe(data, epochs=1), "repeats": 1,
             "list": [{"batch_size": 16}, {"model.input_shape": [9, 9, 1]}, {"batch_size": 64}]}
    out = run_sweep(sweep, out=tmp_path / "sw", quiet=True)
    rows = read_rows(out / "results.csv")
    assert [r["status"] for r in rows] == ["done", "failed", "done"]
    assert "input_shape" in rows[1]["error"] and "MnistlabError" in rows[1]["error"]
    failure = json.loads((out / "trials" / "001-r0" / "failed.json").read_text())
    assert "Traceback" in failure["traceback"]
    summary = read_rows(out / "summary.csv")
    assert [(s["n"], s["failed"]) for s in summary] == [("1", "0"), ("0", "1"), ("1", "0")]

    done_before = {t: finished_runs(out / "trials" / t) for t in ("000-r0", "002-r0")}
    run_sweep(sweep, out=tmp_path / "sw", quiet=True)  # again: retries only the failure
    for t, runs in done_before.items():
        assert finished_runs(out / "trials" / t) == runs  # not run twice
    assert [r["status"] for r in read_rows(out / "results.csv")] == ["done", "failed", "done"]


def test_changed_sweep_file_is_refused_in_the_same_directory(tmp_path, data):
    from mnistlab.errors import MnistlabError

    base = {"name": "c", "recipe": tiny_recipe(data, epochs=1), "grid": {"batch_size": [16]}}
    run_sweep(base, out=tmp_path / "sw", quiet=True)
    with pytest.raises(MnistlabError, match="different sweep"):
        run_sweep({**base, "grid": {"batch_size": [32]}}, out=tmp_path / "sw", quiet=True)
    with pytest.raises(MnistlabError, match="different base recipe"):
        run_sweep({**base, "recipe": tiny_recipe(data, epochs=2)}, out=tmp_path / "sw", quiet=True)


def test_unfinished_trial_continues_from_its_checkpoint(tmp_path, data):
    sweep = {"name": "k", "recipe": tiny_recipe(data, epochs=2), "grid": {"batch_size": [16, 32]}}
    out = run_sweep(sweep, out=tmp_path / "sw", quiet=True)
    (run,) = finished_runs(out / "trials" / "001-r0")
    metrics = json.loads((run / "metrics.json").read_text())
    history = (run / "history.csv").read_text()
    (run / "metrics.json").unlink()  # as if killed after the last epoch's checkpoint
    (run / "model.safetensors").unlink()
    (out / "trials" / "001-r0" / ".k-001-r0.partial-x").mkdir()  # killed before epoch 1
    run_sweep(sweep, out=tmp_path / "sw", quiet=True)
    assert finished_runs(out / "trials" / "001-r0") == [run]  # the same run, continued
    assert sorted(p.name for p in (out / "trials" / "001-r0").iterdir()) == [run.name, "trial.json"]
    assert (run / "history.csv").read_text() == history
    again = json.loads((run / "metrics.json").read_text())
    assert again["test_accuracy"] == metrics["test_accuracy"]


def test_worker_warnings_reach_the_user_once_as_one_line(tmp_path):
    """Issue 17 item 14: two workers meeting the same warning print it once, in the CLI's
    one-line format, not as Python's `file:line: UserWarning:` once per worker."""
    import subprocess
    import sys
    rng = np.random.default_rng(0)
    y = np.sort(rng.integers(0, 3, 240))  # sorted by class: validation_split warns
    x = rng.integers(0, 255, (240, 8, 8)).astype(np.uint8)
    np.savez(tmp_path / "sorted.npz", x_train=x, y_train=y, x_test=x[:30], y_test=y[:30])
    sweep = {"name": "w", "recipe": tiny_recipe(tmp_path / "sorted.npz", epochs=1),
             "grid": {"optimizer.lr": [0.1, 0.2]}, "repeats": 1}
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(sweep))
    proc = subprocess.run([sys.executable, "-m", "mnistlab", "sweep", str(tmp_path / "w.yaml"), "--workers",
                           "2", "--quiet", "--out", str(tmp_path / "sw")], capture_output=True, text=True,
                          timeout=300)
    err = proc.stderr
    assert proc.returncode == 0, err
    lines = [line for line in err.splitlines() if "lacks" in line]
    assert len(lines) == 1 and lines[0].startswith("mnistlab: warning: validation_split"), err
    assert "UserWarning" not in err and ".py:" not in err, err
