"""Tuning on tiny synthetic data: outputs, pruning hook (two processes on one study: tests/slow)."""
from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from PIL import Image

from mnistlab.errors import MnistlabError
from mnistlab.sweeps.tuning import PruningHook, load_space, run_tune
from tinydata import TINY_SPACE, read_rows, tiny_recipe, write_tiny_data

SPACE = TINY_SPACE


@pytest.fixture()
def data(tmp_path):
    return write_tiny_data(tmp_path / "tiny.npz")


def test_space_file_forms():
    space = load_space({"a.b": {"low": 1, "high": 8}, "c": {"low": 1.0e-4, "high": 0.1, "log": True},
                        "d": ["adam", "sgd"], "e": {"low": 0.1, "high": 0.5, "step": 0.1}})
    assert space["a.b"]["type"] == "int" and space["c"] == {
        "type": "float", "low": 1.0e-4, "high": 0.1, "log": True}
    assert space["d"] == {"type": "categorical", "choices": ["adam", "sgd"]}
    assert space["e"]["step"] == 0.1


@pytest.mark.parametrize("space, message", [
    ({"x": {"low": "small", "high": 0.1}}, "low and high must be numbers"),
    ({"x": {"low": 0.1, "high": 0.01}}, "low < high"),
    ({"x": {"low": 0.0, "high": 1.0, "log": True}}, "low > 0"),
    ({"x": {"low": 0.1, "hgh": 1.0}}, "did you mean 'high'"),
    ({"x": [[1, 2], [3]]}, "choices must be"),
    ({}, "search space maps"),
])
def test_bad_space(space, message):
    with pytest.raises(MnistlabError, match=message):
        load_space(space)


def test_bad_space_key_fails_before_any_trial(tmp_path, data):
    with pytest.raises(MnistlabError, match="did you mean 'optimizer'"):
        run_tune(tiny_recipe(data), {"optimiser.lr": [0.1]}, trials=1, out=tmp_path / "st", quiet=True)
    with pytest.raises(MnistlabError, match="batch_size"):
        run_tune(tiny_recipe(data), {"batch_size": {"low": 0, "high": 4}}, trials=1,
             out=tmp_path / "st", quiet=True)
    assert not (tmp_path / "st" / "study.db").exists()


def test_tune_writes_trials_best_recipe_and_plots(tmp_path, data):
    out = run_tune(tiny_recipe(data), SPACE, trials=4, out=tmp_path / "st", seed=0, quiet=True)
    assert (out / "study.db").exists()  # default storage: SQLite in the study directory
    rows = read_rows(out / "trials.csv")
    assert [r["number"] for r in rows] == ["0", "1", "2", "3"]
    assert all(r["state"] == "COMPLETE" for r in rows)
    for r in rows:  # each value is the run's best validation accuracy
        history = read_rows(Path(r["run_dir"]) / "history.csv")
        assert float(r["value"]) == pytest.approx(max(float(h["val_accuracy"]) for h in history))
        config = yaml.safe_load((Path(r["run_dir"]) / "config.yaml").read_text())
        assert config["optimizer"]["lr"] == pytest.approx(float(r["params.optimizer.lr"]))
        assert config["batch_size"] == int(r["params.batch_size"])
    best = max(rows, key=lambda r: float(r["value"]))
    recipe = yaml.safe_load((out / "best_recipe.yaml").read_text())
    assert recipe["name"] == "tiny-best"
    assert recipe["optimizer"]["lr"] == pytest.approx(float(best["params.optimizer.lr"]))
    assert recipe["model"]["layers"][1]["l2"] == float(best["params.model.layers.*.l2"])
    for png in ("optimization_history.png", "param_importances.png"):
        with Image.open(out / png) as im:
            assert im.format == "PNG"
    # the best recipe is ready to run as it is
    from mnistlab.train import train_run

    run = train_run(out / "best_recipe.yaml", out=tmp_path / "runs", quiet=True)
    assert (run / "metrics.json").exists()


def test_pruning_hook_reports_and_prunes():
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    good = study.ask()
    hook = PruningHook(good, "val_accuracy")
    for epoch, acc in enumerate([0.8, 0.9, 0.95]):
        hook.on_epoch_end(epoch, {"epoch": epoch + 1, "val_accuracy": acc})
    study.tell(good, 0.95)
    assert good.number == 0 and hook.reported == 3
    assert study.trials[0].intermediate_values == {1: 0.8, 2: 0.9, 3: 0.95}

    bad = study.ask()
    hook = PruningHook(bad, "val_accuracy")
    with pytest.raises(optuna.TrialPruned):  # below the median of epoch 1
        hook.on_epoch_end(0, {"epoch": 1, "val_accuracy": 0.5})
    study.tell(bad, state=optuna.trial.TrialState.PRUNED)
    assert study.trials[1].user_attrs["pruned_at_epoch"] == 1
    hook = PruningHook(study.ask(), "val_accuracy")
    hook.on_epoch_end(0, {"epoch": 1, "val_accuracy": None})  # no validation value: nothing reported
    assert hook.reported == 0


def test_tune_reports_every_epoch_to_the_pruner(tmp_path, data):
    out = run_tune(tiny_recipe(data, epochs=3), SPACE, trials=2, out=tmp_path / "st", quiet=True)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    for t in study.trials:
        assert sorted(t.intermediate_values) == [1, 2, 3]
