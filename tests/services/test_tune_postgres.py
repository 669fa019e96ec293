"""`mnistlab tune --storage postgresql://...` against the real PostgreSQL server that
`make test` starts (tests/services/conftest.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml

from mnistlab.sweeps.tuning import run_tune

pytestmark = pytest.mark.services


def test_tune_on_postgresql(tmp_path, postgres_url, unique):
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
    a = run_tune(tmp_path / "r.yaml", space, trials=2, storage=postgres_url, study=f"shared-{unique}",
             out=tmp_path / "machine-a", quiet=True)
    b = run_tune(tmp_path / "r.yaml", space, trials=2, storage=postgres_url, study=f"shared-{unique}",
             out=tmp_path / "machine-b", quiet=True)
    assert not (a / "study.db").exists() and not (b / "study.db").exists()
    study = optuna.load_study(study_name=f"shared-{unique}", storage=postgres_url)
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert {Path(t.user_attrs["trial_dir"]).parent.parent.name for t in study.trials} == {
        "machine-a", "machine-b"}
    assert (b / "best_recipe.yaml").exists() and len((b / "trials.csv").read_text().splitlines()) == 5
