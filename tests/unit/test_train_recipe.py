"""Recipe validation: defaults, --set overrides, did-you-mean on unknown keys."""
from pathlib import Path

import pytest
import yaml

from mnistlab.errors import MnistlabError
from mnistlab.train.recipe import Recipe, load_recipe

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_filled_and_round_trip(tmp_path):
    r = Recipe({"model": "nb000-cnn", "optimizer": {"name": "rmsprop"}})
    d = r.to_dict()
    assert d["name"] == "nb000-cnn"
    assert d["optimizer"] == {"name": "rmsprop", "lr": 0.001, "rho": 0.9, "momentum": 0.0,
                              "epsilon": 1e-7, "centered": False, "weight_decay": 0.0, "decay": 0.0}
    assert d["data"]["dataset"] == "mnist" and d["batch_size"] == 32
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(d))
    assert load_recipe(path) == r  # config.yaml re-runs as the same recipe


def test_set_overrides_nested_keys_parsed_as_yaml(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("model: nb002-cnn\noptimizer: {name: adam}\n")
    r = load_recipe(path, ["optimizer.lr=0.01", "data.validation_split=0.2", "loss.label_smoothing=0.1",
                           "callbacks.early_stopping.patience=5", "data.split_seed=3"], epochs=7)
    assert r.optimizer["lr"] == 0.01 and r.epochs == 7
    assert r.data["validation_split"] == 0.2 and r.data["split_seed"] == 3
    assert r.callbacks["early_stopping"]["patience"] == 5
    assert r.callbacks["early_stopping"]["monitor"] == "val_loss"  # Keras default filled in


@pytest.mark.parametrize("overrides,message", [
    (["optimiser.lr=0.1"], "did you mean 'optimizer'"),
    (["data.validaton_split=0.1"], "did you mean 'validation_split'"),
    (["optimizer.momentun=0.9"], "did you mean 'momentum'"),
    (["callbacks.early_stoping.patience=3"], "did you mean 'early_stopping'"),
    (["optimizer.name=adamm"], "did you mean 'adam'"),
    (["batch_size=0"], "'batch_size' must be an integer"),
    (["device=gpu"], "'device' must be one of"),
    (["epochs"], "--set expects key=value"),
    (["precision=fp16"], "'precision' must be one of auto, fp32, bf16"),
    (["kernels=fuse"], r"'kernels' must be one of auto, torch, fused \(did you mean 'fused'\?\), got 'fuse'"),
    (["threads=0"], "'threads' must be an integer"),
])
def test_mistakes_are_one_line_errors(overrides, message):
    with pytest.raises(MnistlabError, match=message) as err:
        load_recipe({"model": "nb000-cnn"}, overrides)
    assert "\n" not in str(err.value)


def test_optimizer_keys_depend_on_its_name_and_learning_rate_alias():
    with pytest.raises(MnistlabError, match="unknown recipe key 'optimizer.nesterov'"):
        Recipe({"model": "nb000-cnn", "optimizer": {"name": "adam", "nesterov": True}})
    r = Recipe({"model": "nb000-cnn", "optimizer": {"name": "SGD", "learning_rate": 0.01, "decay": 1e-6,
                                           "momentum": 0.9, "nesterov": True}})
    assert r.optimizer["name"] == "sgd" and r.optimizer["lr"] == 0.01


def test_schedule_and_missing_model():
    r = Recipe({"model": "nb000-cnn", "callbacks": {"lr_schedule": {"name": "onecycle", "max_lr": 0.01}}})
    assert r.callbacks["lr_schedule"]["pct_start"] == 0.3
    with pytest.raises(MnistlabError, match="no 'model'"):
        Recipe({})
    with pytest.raises(MnistlabError, match="either"):
        Recipe({"model": "nb000-cnn", "data": {"validation_split": 0.1, "split": [0.8, 0.1, 0.1]}})


RECIPES = sorted(str(p) for p in (ROOT / "recipes").rglob("*.yaml") if not p.stem.endswith(("-sweep", "-space")))  # sweep and tune-space files are not recipes


@pytest.mark.parametrize("path", RECIPES)
def test_every_shipped_recipe_validates_and_fits_its_budget(path):
    from mnistlab.models import count_params, resolve_spec
    r = load_recipe(path)
    if r.max_params is not None:
        assert count_params(resolve_spec(r.model)) <= r.max_params


def test_a_recipe_is_immutable_and_replace_gives_a_new_validated_one():
    r = Recipe({"model": "nb000-cnn", "data": {"validation_split": 0.2}})
    section = r.data
    section["validation_split"] = 0.5  # a copy: the recipe keeps its value
    assert r.data["validation_split"] == 0.2
    d = r.to_dict()
    d["epochs"] = 9
    assert r.epochs == 1
    with pytest.raises(AttributeError, match="immutable"):
        r.epochs = 3
    r2 = r.replace({"optimizer.lr": 0.01}, epochs=3, seed=None)  # None keyword: not given
    assert (r2.epochs, r2.optimizer["lr"], r2.seed) == (3, 0.01, 0) and r.epochs == 1
    with pytest.raises(MnistlabError, match="did you mean 'epochs'"):
        r.replace({"epoch": 3})


def test_a_recipe_is_validated_once(monkeypatch):
    import pickle

    from mnistlab.train import recipe as recipe_module
    r = Recipe({"model": "nb000-cnn"})

    def fail(config):
        raise AssertionError("validated again")

    monkeypatch.setattr(recipe_module, "validate", fail)
    assert load_recipe(r) is r and Recipe(r) == r  # shared, not re-checked
    assert pickle.loads(pickle.dumps(r)) == r       # what a sweep hands its worker processes


def test_one_bound_for_validation_split():
    from mnistlab.data.splits import check_validation_split
    assert Recipe({"model": "nb000-cnn", "data": {"validation_split": 0.995}}).data["validation_split"] == 0.995
    for bad in (1.0, -0.1, "x"):
        with pytest.raises(MnistlabError, match=r"\[0, 1\)"):
            Recipe({"model": "nb000-cnn", "data": {"validation_split": bad}})
        with pytest.raises(MnistlabError, match=r"\[0, 1\)"):
            check_validation_split(bad)
