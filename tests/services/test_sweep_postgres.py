"""`mnistlab sweep --storage postgresql://...`: two processes ("machines", each with its
own --out) share one grid x repeats on the real PostgreSQL server `make test` starts."""
from __future__ import annotations

import optuna
import pytest
import yaml

from tinydata import read_rows, sweep_in_processes, tiny_recipe, write_tiny_data

pytestmark = pytest.mark.services


def test_two_machines_share_one_grid_on_postgresql(tmp_path, postgres_url, unique):
    data = write_tiny_data(tmp_path / "tiny.npz")
    name = f"pg-grid-{unique}"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "name": name, "recipe": tiny_recipe(data, epochs=1),
        "grid": {"model.layers.*.l2": [1e-2, 1e-4, 1e-6]}, "repeats": 2}))
    sweep_in_processes(tmp_path / "s.yaml", postgres_url, [tmp_path / "a", tmp_path / "b"])

    ids = sorted(f"{c:03d}-r{r}" for c in range(3) for r in range(2))
    study = optuna.load_study(study_name=name, storage=postgres_url)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.user_attrs["grid_id"] for t in complete) == ids  # each trial once
    # every finished run on either machine: one per trial, none twice
    trained = sorted(run.parent.parent.name for m in ("a", "b")
                     for run in (tmp_path / m / "trials").glob("*/*/metrics.json"))
    assert trained == ids

    # any machine gathers every result from the storage (run again: nothing left to train)
    sweep_in_processes(tmp_path / "s.yaml", postgres_url, [tmp_path / "a"])
    rows = read_rows(tmp_path / "a" / "results.csv")
    assert sorted(r["trial"] for r in rows) == ids and all(r["status"] == "done" for r in rows)
    assert len({r["run_dir"] for r in rows}) == 6
