"""`run_search` end to end on tiny synthetic data: budget pruning, hidden test set, outputs."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import optuna
import pytest
import torch
import yaml

from mnistlab.data.datasets import Dataset
from mnistlab.models import count_params
from mnistlab.sweeps.search import SearchConfig, run_search
from mnistlab.train import load_recipe


def _tiny(n_train=96, n_test=30, size=10, seed=0):
    """Three classes, each a bright square in its own corner, plus noise."""
    g = torch.Generator().manual_seed(seed)

    def make(n):
        y = torch.arange(n) % 3
        x = torch.randint(0, 60, (n, size, size, 1), generator=g, dtype=torch.uint8)
        for k, (r, c) in enumerate([(0, 0), (0, size // 2), (size // 2, 0)]):
            x[y == k, r:r + size // 2, c:c + size // 2] = 250
        return x, y

    xtr, ytr = make(n_train)
    xte, yte = make(n_test)
    return Dataset("tiny", xtr, ytr, xte, yte, ["a", "b", "c"])


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    out = tmp_path_factory.mktemp("search")
    cfg = SearchConfig(max_params=800, epochs=1, trials=2, validation_split=0.25, seed=0, quiet=True,
                       base={"batch_size": 32})
    out_dir = run_search(cfg, out=out, dataset=_tiny())
    study = optuna.load_study(study_name=out_dir.name, storage=f"sqlite:///{out_dir / 'study.db'}")
    return cfg, out_dir, study


def test_budget_is_checked_before_training(searched):
    cfg, out_dir, study = searched
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert len(done) == 2  # `trials` counts trained candidates only
    assert all(t.values[1] <= cfg.max_params for t in done)
    over = [t for t in pruned if "budget" in t.user_attrs.get("rejected", "")]
    assert over, "a 600-param budget must reject some sampled nets"
    trained_dirs = {Path(t.user_attrs["run_dir"]).name for t in done}
    assert trained_dirs == {p.name for p in (out_dir / "trials").iterdir() if not p.name.startswith(".")}
    assert all("run_dir" not in t.user_attrs for t in over)


def test_trials_never_see_the_test_set(searched):
    _, _, study = searched
    for t in study.trials:
        if t.state == optuna.trial.TrialState.COMPLETE:
            run = Path(t.user_attrs["run_dir"])
            metrics = json.loads((run / "metrics.json").read_text())
            assert metrics["test_accuracy"] is None
            config = yaml.safe_load((run / "config.yaml").read_text())
            assert config["data"]["validation_split"] == 0.25


def test_front_table_plot_and_runnable_recipes(searched):
    cfg, out_dir, study = searched
    rows = list(csv.DictReader((out_dir / "pareto.csv").open()))
    assert rows and (out_dir / "pareto.png").stat().st_size > 1000
    params = [int(r["params"]) for r in rows]
    accs = [float(r["val_accuracy"]) for r in rows]
    assert params == sorted(params) and accs == sorted(accs) and len(set(params)) == len(params)
    for r in rows:
        assert 0.0 <= float(r["test_accuracy"]) <= 1.0
        recipe = load_recipe(r["recipe"])  # validates as a real recipe
        assert count_params(recipe.model) == int(r["params"]) <= cfg.max_params
        assert recipe.max_params == cfg.max_params and recipe.data["validation_split"] == 0.25


def test_rerun_joins_the_same_study(searched, tmp_path):
    cfg, shared_dir, _ = searched
    out_dir = tmp_path / shared_dir.name  # a copy: the other tests read the search as it was made
    shutil.copytree(shared_dir, out_dir)
    before = len([p for p in (out_dir / "trials").iterdir() if not p.name.startswith(".")])
    run_search(SearchConfig(**{**cfg.__dict__, "trials": 1}), out=out_dir.parent, dataset=_tiny())
    study = optuna.load_study(study_name=out_dir.name, storage=f"sqlite:///{out_dir / 'study.db'}")
    assert len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]) == 3
    assert len([p for p in (out_dir / "trials").iterdir() if not p.name.startswith(".")]) == before + 1
