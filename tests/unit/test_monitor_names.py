"""Tune and sweep metrics that are validation numbers need a run with validation data:
refused in one line before any trial (val_* would be NaN in every row otherwise)."""
import pytest

from mnistlab.errors import MnistlabError
from mnistlab.sweeps.sweepfile import load_sweep
from mnistlab.sweeps.tuning import run_tune
from tinydata import TINY_SPACE, tiny_recipe, write_tiny_data


def no_validation(tmp_path):
    recipe = tiny_recipe(write_tiny_data(tmp_path / "tiny.npz"))
    recipe["data"]["validation_split"] = None
    return recipe


def test_tune_metric_needs_validation_data(tmp_path):
    with pytest.raises(MnistlabError, match="metric max_val_accuracy needs validation data") as err:
        run_tune(no_validation(tmp_path), TINY_SPACE, trials=0, out=tmp_path / "study", quiet=True)
    assert "\n" not in str(err.value) and not (tmp_path / "study").exists()


def test_named_sweep_metric_needs_validation_data(tmp_path):
    spec = {"recipe": no_validation(tmp_path), "grid": {"batch_size": [16, 32]}}
    with pytest.raises(MnistlabError, match="sweep metric min_val_loss needs validation data"):
        load_sweep({**spec, "metrics": ["test_accuracy", "min_val_loss"]})
    load_sweep({**spec, "metrics": ["test_accuracy"]})  # a test metric needs none
    load_sweep(spec)  # nor does the default pair (val columns stay empty), as before
