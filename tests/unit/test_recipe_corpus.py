"""The Recipe is the whole schema: a corpus of bad recipes, each refused when the Recipe is
made (one MnistlabError line) and by `mnistlab train FILE` (one stderr line, exit 2, nothing
written to --out). Each entry: (id, a change to a good recipe, words the message must hold)."""
import copy

import pytest
import yaml

from mnistlab.cli import main
from mnistlab.errors import MnistlabError
from mnistlab.train.recipe import Recipe

GOOD = {"model": "nb000-cnn", "data": {"dataset": "mnist", "validation_split": 0.1}, "epochs": 1}
SPEC = {"input_shape": [28, 28, 1], "layers": [{"type": "conv2d", "filters": 4, "kernel": 3},
                                               {"type": "flatten"}, {"type": "dense", "units": 10}]}


def spec(*layers, shape=(28, 28, 1)):
    return {"input_shape": list(shape), "layers": list(layers)}


DENSE10 = {"type": "dense", "units": 10}
FLAT = {"type": "flatten"}
ES = "callbacks.early_stopping"
CORPUS = [
    # the four
    ("split-sum", {"data.split": [0.5, 0.2], "data.validation_split": None}, "sum to 1"),
    ("zoo-name", {"model": "no-such-model"}, "unknown model"),
    ("layers-oops", {"model": {"layers": "oops"}}, "input_shape"),
    ("patience-x", {f"{ES}.patience": "x"}, "patience"),
    # data
    ("split-long", {"data.split": [0.5, 0.2, 0.2, 0.1], "data.validation_split": None}, "2 or 3"),
    ("split-negative", {"data.split": [1.2, -0.2], "data.validation_split": None}, "data.split[0]"),
    ("split-word", {"data.split": ["a", "b"], "data.validation_split": None}, "data.split[0]"),
    ("split-no-train", {"data.split": [0.0, 1.0], "data.validation_split": None}, "no training"),
    ("split-not-list", {"data.split": 0.9, "data.validation_split": None}, "list"),
    ("split-and-vsplit", {"data.split": [0.9, 0.1]}, "not both"),
    ("split-3-builtin", {"data.split": [0.8, 0.1, 0.1], "data.validation_split": None}, "test set"),
    ("vsplit-one", {"data.validation_split": 1.0}, "[0, 1)"),
    ("validation-mode", {"data.validation": "tset"}, "did you mean 'test'"),
    ("validation-test-with-split", {"data.validation": "test"}, "validation: test"),
    ("validation-none-with-split", {"data.validation": "none"}, "validation: none"),
    ("stratify-vsplit", {"data.stratify": True}, "stratify"),
    ("stratify-word", {"data.stratify": "yes", "data.validation_split": None}, "true or false"),
    ("dataset-number", {"data.dataset": 5}, "data.dataset"),
    ("data-key", {"data.splt": [0.9, 0.1]}, "did you mean 'split'"),
    # model spec
    ("layer-type", {"model": spec({"type": "dense2", "units": 10})}, "did you mean 'dense'"),
    ("layer-type-list", {"model": spec({"type": ["conv2d"]})}, "layers[0]"),
    ("layer-arg", {"model": spec({"type": "conv2d", "filters": 4, "kernal": 3}, FLAT, DENSE10)}, "did you mean 'kernel'"),
    ("layer-missing-arg", {"model": spec({"type": "conv2d", "kernel": 3}, FLAT, DENSE10)}, "filters"),
    ("filters-float", {"model": spec({"type": "conv2d", "filters": 4.5, "kernel": 3}, FLAT, DENSE10)}, "integer"),
    ("shrinks", {"model": spec(*[{"type": "maxpool2d", "pool": 2}] * 5, FLAT, DENSE10)}, "below 1x1"),
    ("kernel-too-big", {"model": spec({"type": "conv2d", "filters": 4, "kernel": 30}, FLAT, DENSE10)}, "larger than"),
    ("dense-on-image", {"model": spec(DENSE10)}, "flatten"),
    ("no-head", {"model": spec({"type": "conv2d", "filters": 4, "kernel": 3})}, "one score per class"),
    ("dropout-rate", {"model": spec(FLAT, {"type": "dropout", "rate": 1.5}, DENSE10)}, "dropout rate"),
    ("activation", {"model": spec(FLAT, {"type": "dense", "units": 10, "activation": "relu6"})}, "activation"),
    ("input-shape", {"model": {"input_shape": [28, 28], "layers": [FLAT, DENSE10]}}, "input_shape"),
    ("spec-key", {"model": {**SPEC, "optimizer": "adam"}}, "model spec key"),
    ("model-number", {"model": 7}, "zoo name"),
    ("own-module-key", {"model": {"torch_module": "m:C", "input_shape": [28, 28, 1], "x": 1}}, "model.x"),
    # optimizer, loss, numbers
    ("optimizer-name", {"optimizer": {"name": "adamm"}}, "did you mean 'adam'"),
    ("optimizer-key", {"optimizer": {"name": "sgd", "amsgrad": True}}, "optimizer.amsgrad"),
    ("optimizer-rho", {"optimizer": {"name": "rmsprop", "rho": 1.5}}, "optimizer.rho"),
    ("optimizer-nesterov", {"optimizer": {"name": "sgd", "nesterov": "yes"}}, "true or false"),
    ("optimizer-epsilon", {"optimizer": {"name": "adam", "epsilon": 0}}, "optimizer.epsilon"),
    ("lr-negative", {"optimizer.lr": -1}, "optimizer.lr"),
    ("lr-nan", {"optimizer.lr": ".nan"}, "optimizer.lr"),
    ("batch-zero", {"batch_size": 0}, "batch_size"),
    ("epochs-word", {"epochs": "many"}, "epochs"),
    ("smoothing", {"loss.label_smoothing": 2}, "label_smoothing"),
    # early stopping
    ("es-monitor", {f"{ES}.monitor": "val_acc"}, "did you mean 'val_accuracy'"),
    ("es-no-validation", {f"{ES}.monitor": "val_loss", "data.validation_split": None}, "no validation data"),
    ("es-mode", {f"{ES}.mode": "maximum"}, "mode"),
    ("es-lr-auto", {f"{ES}.monitor": "lr"}, "mode"),
    ("es-baseline", {f"{ES}.baseline": "low"}, "baseline"),
    ("es-restore", {f"{ES}.restore_best_weights": "true"}, "true or false"),
    ("es-start", {f"{ES}.start_from_epoch": -1}, "start_from_epoch"),
    ("es-key", {f"{ES}.patients": 3}, "did you mean 'patience'"),
    ("es-not-mapping", {ES: 5}, "mapping"),
    # schedules
    ("schedule-name", {"callbacks.lr_schedule": {"name": "cosin"}}, "did you mean 'cosine'"),
    ("step-lengths", {"callbacks.lr_schedule": {"name": "step", "boundaries": [5, 10], "factors": [0.1]}}, "one 'factors'"),
    ("step-order", {"callbacks.lr_schedule": {"name": "step", "boundaries": [10, 5], "factors": [0.1, 0.01]}}, "ascending"),
    ("cosine-warmup", {"callbacks.lr_schedule": {"name": "cosine", "warmup_epochs": -1}}, "warmup_epochs"),
    ("onecycle-pct", {"callbacks.lr_schedule": {"name": "onecycle", "pct_start": 0}}, "pct_start"),
    ("rop-factor", {"callbacks.lr_schedule": {"name": "reduce_on_plateau", "factor": 1.5}}, "factor"),
    ("rop-monitor", {"callbacks.lr_schedule": {"name": "reduce_on_plateau", "monitor": "val_los"}}, "did you mean 'val_loss'"),
    ("rop-patience", {"callbacks.lr_schedule": {"name": "reduce_on_plateau", "patience": 2.5}}, "patience"),
    ("rop-key", {"callbacks.lr_schedule": {"name": "reduce_on_plateau", "min_lr_": 0}}, "did you mean 'min_lr'"),
    # model checkpoint
    ("ckpt-ext", {"callbacks.model_checkpoint": {"filepath": "best.keras"}}, ".safetensors"),
    ("ckpt-field", {"callbacks.model_checkpoint": {"filepath": "b-{val_acc}.safetensors"}}, "did you mean 'val_accuracy'"),
    ("ckpt-format", {"callbacks.model_checkpoint": {"filepath": "b-{epoch:zz}.safetensors"}}, "cannot be formatted"),
    ("ckpt-freq", {"callbacks.model_checkpoint": {"filepath": "b.safetensors", "save_freq": 100}}, "save_freq"),
    ("ckpt-best-no-val", {"callbacks.model_checkpoint": {"filepath": "b.safetensors", "save_best_only": True},
                          "data.validation_split": None}, "no validation data"),
    ("callbacks-key", {"callbacks.tensorboard": True}, "callbacks.tensorboard"),
    # augmentation and the rest
    ("augment-key", {"augment": {"rotation": 10}}, "augment.rotation"),
    ("augment-range", {"augment": {"zoom_range": 5}}, "augment.zoom_range"),
    ("augment-elastic", {"augment": {"elastic": {"alpha": "big"}}}, "augment.elastic.alpha"),
    ("augment-type", {"augment": "strong"}, "augment"),
    ("device", {"device": "gpu"}, "device"),
    ("compile", {"compile": "yes"}, "compile"),
    ("top-key", {"epoch": 3}, "did you mean 'epochs'"),
]


def bad_recipe(change: dict) -> dict:
    config = copy.deepcopy(GOOD)
    for dotted, value in change.items():
        node = config
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return config


def test_the_corpus_is_large_and_its_base_is_good():
    assert len(CORPUS) >= 40 and len({c[0] for c in CORPUS}) == len(CORPUS)
    Recipe(GOOD)  # every refusal below is the change's doing


@pytest.mark.parametrize("change,words", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_recipe_refuses_in_one_line(change, words):
    with pytest.raises(MnistlabError) as err:
        Recipe(bad_recipe(change))
    message = str(err.value)
    assert "\n" not in message and words in message


@pytest.mark.parametrize("change,words", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_train_file_refuses_in_one_line_and_writes_nothing(tmp_path, capsys, change, words):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(bad_recipe(change)))
    out = tmp_path / "runs"
    assert main(["train", str(recipe), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mnistlab: error: ") and err.count("\n") == 1 and words in err
    assert not out.exists() or not any(out.iterdir())  # no run folder, no hidden partial one
