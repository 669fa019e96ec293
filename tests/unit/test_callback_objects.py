"""mnistlab.EarlyStopping / ReduceLROnPlateau / ModelCheckpoint: Keras' arguments, the same
classes the recipe's callbacks section builds, recorded in config.yaml when passed to fit,
and monitored names checked before the first epoch."""
import inspect
import json

import pytest
from safetensors import safe_open

import mnistlab
from mnistlab.errors import MnistlabError
from mnistlab.runs import files
from mnistlab.train import train_run
from mnistlab.train.callbacks import make_early_stopping
from mnistlab.train.early_stopping import EarlyStopping
from mnistlab.train.model_checkpoint import ModelCheckpoint
from mnistlab.train.schedules import ReduceLROnPlateau
from mnistlab.train.recipe import Recipe
from tinydata import tiny_recipe, write_tiny_data

# Keras 3's signatures (keras/src/callbacks/*.py), `verbose` included
KERAS = {
    "EarlyStopping": {"monitor": "val_loss", "min_delta": 0, "patience": 0, "verbose": 0, "mode": "auto",
                      "baseline": None, "restore_best_weights": False, "start_from_epoch": 0},
    "ReduceLROnPlateau": {"monitor": "val_loss", "factor": 0.1, "patience": 10, "verbose": 0, "mode": "auto",
                          "min_delta": 1e-4, "cooldown": 0, "min_lr": 0.0},
    "ModelCheckpoint": {"filepath": inspect.Parameter.empty, "monitor": "val_loss", "verbose": 0,
                        "save_best_only": False, "save_weights_only": False, "mode": "auto",
                        "save_freq": "epoch", "initial_value_threshold": None},
}


@pytest.mark.parametrize("name", sorted(KERAS))
def test_exported_with_keras_names_and_defaults(name):
    cls = getattr(mnistlab, name)
    params = inspect.signature(cls).parameters
    assert {k: p.default for k, p in params.items()} == KERAS[name]


def test_the_recipe_key_builds_the_same_class():
    r = Recipe({"model": "nb000-cnn", "data": {"validation_split": 0.1},
                "callbacks": {"early_stopping": {"patience": 3}}})
    stopper = make_early_stopping(r.callbacks["early_stopping"])
    assert type(stopper) is mnistlab.EarlyStopping
    assert stopper.recipe_value() == EarlyStopping(patience=3).recipe_value() == r.callbacks["early_stopping"]


def test_objects_refuse_bad_arguments_in_one_line():
    for make, words in [(lambda: EarlyStopping(monitor="val_acc"), "did you mean 'val_accuracy'"),
                        (lambda: EarlyStopping(patience="x"), "EarlyStopping.patience"),
                        (lambda: ReduceLROnPlateau(factor=1.0), "below 1"),
                        (lambda: ModelCheckpoint("best.keras"), ".safetensors"),
                        (lambda: ModelCheckpoint("b.safetensors", save_freq=10), "save_freq")]:
        with pytest.raises(MnistlabError, match=words) as err:
            make()
        assert "\n" not in str(err.value)


def test_fit_records_callback_objects_and_uses_them(tmp_path):
    data = write_tiny_data(tmp_path / "tiny.npz")
    stopper = mnistlab.EarlyStopping(monitor="val_accuracy", patience=1, restore_best_weights=True)
    plateau = mnistlab.ReduceLROnPlateau(patience=1, factor=0.5)
    saver = mnistlab.ModelCheckpoint(str(tmp_path / "ckpt" / "e{epoch:02d}.safetensors"))
    run_dir = train_run(tiny_recipe(data, epochs=3), out=tmp_path / "runs", quiet=True,
                  callbacks=[stopper, plateau, saver])
    config = files.read_config(run_dir)
    assert config["callbacks"] == {"early_stopping": stopper.recipe_value(),
                                   "lr_schedule": plateau.recipe_value(),
                                   "model_checkpoint": saver.recipe_value()}
    assert Recipe(config).callbacks == config["callbacks"]  # the folder reproduces the run
    epochs = len(files.read_history(run_dir))
    assert stopper.best is not None and plateau.current is not None  # the run used these objects
    saved = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert saved == [f"e{e:02d}.safetensors" for e in range(1, epochs + 1)]
    with safe_open(str(tmp_path / "ckpt" / saved[-1]), "pt") as f:
        assert json.loads(f.metadata()["mnistlab_spec"])["input_shape"] == [8, 8, 1]


def test_model_checkpoint_save_best_only_from_the_recipe(tmp_path):
    data = write_tiny_data(tmp_path / "tiny.npz")
    recipe = tiny_recipe(data, epochs=2)
    target = tmp_path / "best.safetensors"
    recipe["callbacks"] = {"model_checkpoint": {"filepath": str(target), "monitor": "val_accuracy",
                                                "save_best_only": True, "save_weights_only": True}}
    train_run(recipe, out=tmp_path / "runs", quiet=True)
    with safe_open(str(target), "pt") as f:
        assert not f.metadata() and len(list(f.keys())) == 4  # weights only: 2 dense layers


def test_a_recipe_setting_the_same_key_differently_is_refused(tmp_path):
    data = write_tiny_data(tmp_path / "tiny.npz")
    recipe = tiny_recipe(data)
    recipe["callbacks"] = {"early_stopping": {"patience": 5}}
    with pytest.raises(MnistlabError, match="already sets callbacks.early_stopping"):
        train_run(recipe, out=tmp_path / "runs", quiet=True, callbacks=[EarlyStopping(patience=2)])
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_monitor_that_the_run_does_not_log_fails_before_training(tmp_path):
    data = write_tiny_data(tmp_path / "tiny.npz")
    with pytest.raises(MnistlabError, match="did you mean 'val_accuracy'"):
        mnistlab.fit(tiny_recipe(data), early_stopping={"monitor": "val_acc"}, out=tmp_path / "runs", quiet=True)
    no_val = tiny_recipe(data)
    no_val["data"]["validation_split"] = None
    with pytest.raises(MnistlabError, match="no validation data"):
        train_run(no_val, out=tmp_path / "runs", quiet=True, callbacks=[EarlyStopping()])
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
