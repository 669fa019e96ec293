"""Sweep files without training: keys, grid expansion, seeds, aggregation, plots."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from mnistlab.errors import MnistlabError
from mnistlab.sweeps import keys as K
from mnistlab.sweeps import results as R
from mnistlab.sweeps.grid import load_sweep

SPEC = {"input_shape": [8, 8, 1], "layers": [
    {"type": "flatten"},
    {"type": "dense", "units": 16, "activation": "relu", "l2": 0.0},
    {"type": "dense", "units": 16, "activation": "relu", "l2": 0.0},
    {"type": "dense", "units": 3, "activation": "softmax"}]}
RECIPE = {"name": "tiny", "model": SPEC, "optimizer": {"name": "sgd", "lr": 0.1},
          "batch_size": 32, "epochs": 1, "seed": 7}


def l2s(recipe):
    return [layer.get("l2") for layer in recipe["model"]["layers"]]


# ---------------------------------------------------------------- keys

def test_wildcard_sets_only_layers_that_have_the_key():
    out = K.apply(RECIPE, {"model.layers.*.l2": 0.001})
    assert l2s(out) == [None, 0.001, 0.001, None]  # the output layer (no l2) is untouched
    assert l2s(RECIPE) == [None, 0.0, 0.0, None]   # the base is not modified


def test_comma_keys_and_list_index():
    out = K.apply(RECIPE, {"model.layers.1.l2, model.layers.3.l2": 0.5,
                           "model.layers.2.units": 8, "optimizer.lr": 0.01})
    assert l2s(out) == [None, 0.5, 0.0, 0.5]
    assert out["model"]["layers"][2]["units"] == 8 and out["optimizer"]["lr"] == 0.01


def test_missing_sections_are_created():
    out = K.apply(RECIPE, {"callbacks.early_stopping.patience": 3})
    assert out["callbacks"]["early_stopping"] == {"patience": 3}


def test_zoo_model_is_inlined_for_model_keys():
    out = K.apply({**RECIPE, "model": "nb003-mlp-500-300"}, {"model.layers.*.units": 7})
    units = [layer["units"] for layer in out["model"]["layers"] if "units" in layer]
    assert units and set(units) == {7}


@pytest.mark.parametrize("key, message", [
    ("model.layers.*.dropout_rate", "matches nothing"),
    ("model.layers.9.l2", "list of 4 items"),
    ("batch_size.x", "is a value"),
    ("a..b", "bad sweep key"),
])
def test_bad_keys(key, message):
    with pytest.raises(MnistlabError, match=message):
        K.apply(RECIPE, {key: 1})


# ---------------------------------------------------------------- grid expansion and seeds

def test_grid_is_the_cartesian_product_crossed_with_list():
    sweep = load_sweep({"recipe": RECIPE, "grid": {"model.layers.*.l2": [1e-3, 1e-6],
                                                   "batch_size": [16, 32, 64]},
                        "list": [{"optimizer.lr": 0.1}, {"optimizer.lr": 0.01}], "repeats": 2})
    assert sweep.keys == ["optimizer.lr", "model.layers.*.l2", "batch_size"]
    assert len(sweep.configs) == 2 * 2 * 3
    assert len({tuple(sorted(c.items())) for c in sweep.configs}) == 12  # all distinct
    trials = sweep.trials()
    assert len(trials) == 24 and len({t.id for t in trials}) == 24
    t = next(t for t in trials if t.values == {"optimizer.lr": 0.01, "model.layers.*.l2": 1e-6,
                                              "batch_size": 64} and t.repeat == 1)
    assert t.recipe["optimizer"]["lr"] == 0.01 and t.recipe["batch_size"] == 64
    assert l2s(t.recipe) == [None, 1e-6, 1e-6, None]


def test_each_repeat_has_its_own_recorded_seed():
    sweep = load_sweep({"recipe": RECIPE, "grid": {"batch_size": [16, 32]}, "repeats": 3})
    assert sweep.seeds == [7, 8, 9]  # from the recipe's seed
    for t in sweep.trials():
        assert t.recipe["seed"] == sweep.seeds[t.repeat] == t.seed
        assert t.recipe["name"].endswith(t.id)
    explicit = load_sweep({"recipe": RECIPE, "grid": {"batch_size": [16]}, "repeats": 2,
                           "seeds": [100, 5]})
    assert [t.seed for t in explicit.trials()] == [100, 5]
    with pytest.raises(MnistlabError, match="different integers"):
        load_sweep({"recipe": RECIPE, "grid": {"batch_size": [16]}, "repeats": 2, "seeds": [1, 1]})


def test_range_forms_give_clean_values():
    sweep = load_sweep({"recipe": RECIPE, "grid": {
        "data.validation_split": {"linspace": [0.1, 0.5, 5]},
        "batch_size": {"geomspace": [16, 256, 5]}}})
    vs = sorted({c["data.validation_split"] for c in sweep.configs})
    bs = sorted({c["batch_size"] for c in sweep.configs})
    assert vs == [0.1, 0.2, 0.3, 0.4, 0.5]  # no 0.30000000000000004
    assert bs == [16, 32, 64, 128, 256] and all(isinstance(b, int) for b in bs)


def test_sweep_file_relative_recipe_path(tmp_path):
    import yaml

    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "r.yaml").write_text(yaml.safe_dump(RECIPE))
    (tmp_path / "s.yaml").write_text("recipe: recipes/r.yaml\nset: {epochs: 3}\n"
                                     "grid: {batch_size: [8, 16]}\nrepeats: 2\n")
    sweep = load_sweep(tmp_path / "s.yaml")
    assert sweep.name == "s" and sweep.base["epochs"] == 3 and len(sweep.trials()) == 4


@pytest.mark.parametrize("spec, message", [
    ({"recipe": RECIPE, "grid": {"batch_size": [16]}, "repeat": 3}, "did you mean 'repeats'"),
    ({"recipe": RECIPE}, "needs `grid:` or `list:`"),
    ({"grid": {"batch_size": [16]}}, "needs `recipe:`"),
    ({"recipe": RECIPE, "grid": {"batch_size": []}}, "non-empty list"),
    ({"recipe": RECIPE, "grid": {"batch_size": [16, 0]}}, "batch_size=0.*'batch_size' must be"),
    ({"recipe": RECIPE, "grid": {"optimizr.lr": [0.1]}}, "did you mean 'optimizer'"),
    ({"recipe": RECIPE, "grid": {"model.layers.1.units": [0]}}, "units=0|layers\\[1\\]"),
    ({"recipe": RECIPE, "grid": {"batch_size": [16]}, "metrics": ["val_acc"]}, "unknown sweep metric"),
    ({"recipe": RECIPE, "grid": {"batch_size": [16]}, "repeats": 0}, "positive integer"),
])
def test_bad_sweep_files_fail_before_training(spec, message):
    with pytest.raises(MnistlabError, match=message):
        load_sweep(spec)


# ---------------------------------------------------------------- aggregation

def test_summary_matches_numpy():
    rng = np.random.default_rng(0)
    rows, expected = [], {}
    for config, l2 in enumerate([1e-3, 1e-4, 1e-6]):
        acc = rng.uniform(0.9, 1.0, 4)
        loss = rng.uniform(0.0, 1.0, 4)
        expected[config] = (acc, loss)
        for r in range(4):
            rows.append({"config": config, "l2": l2, "status": "done",
                         "test_accuracy": acc[r], "val_loss": str(loss[r])})  # CSV gives text
        rows.append({"config": config, "l2": l2, "status": "failed", "test_accuracy": 0.0})
    summary = R.summarize(rows, ["l2"], ["test_accuracy", "val_loss"])
    assert [e["l2"] for e in summary] == [1e-3, 1e-4, 1e-6]
    for e in summary:
        acc, loss = expected[e["config"]]
        assert e["n"] == 4 and e["failed"] == 1  # failed trials never enter the statistics
        for name, vals in (("test_accuracy", acc), ("val_loss", loss)):
            assert e[f"{name}_mean"] == pytest.approx(np.mean(vals), abs=1e-12)
            assert e[f"{name}_std"] == pytest.approx(np.std(vals), abs=1e-12)
            assert e[f"{name}_min"] == pytest.approx(np.min(vals), abs=1e-12)
            assert e[f"{name}_max"] == pytest.approx(np.max(vals), abs=1e-12)
    text = R.format_summary(summary, ["l2"], ["test_accuracy"])
    assert "(1 failed)" in text and f"{np.mean(expected[0][0]):.4f} ± {np.std(expected[0][0]):.4f}" in text


def test_summary_skips_missing_metric_values():
    rows = [{"config": 0, "status": "done", "val_accuracy": v} for v in (0.5, "", None, 0.7)]
    (e,) = R.summarize(rows, [], ["val_accuracy", "test_accuracy"])
    assert e["val_accuracy_mean"] == pytest.approx(0.6) and e["n"] == 4
    assert math.isnan(e["test_accuracy_mean"])


def test_log_axis_when_values_span_decades():
    assert R.use_log_axis([0.001, 0.00075, 0.0005, 0.00025, 0.000001])  # notebook 003
    assert R.use_log_axis([16, 32, 64, 128, 256])
    assert not R.use_log_axis([0.1, 0.2, 0.3, 0.4, 0.5])                  # notebook 001
    assert not R.use_log_axis([0.0, 0.1, 1.0])
    assert not R.use_log_axis(["adam", "sgd"])


def test_errorbar_plot_is_written(tmp_path):
    summary = [{"config": i, "l2": l2, "bs": bs, "n": 3, "failed": 0, "acc_mean": 0.9 + i / 100,
                "acc_std": 0.01, "acc_min": 0.88, "acc_max": 0.95}
               for i, (l2, bs) in enumerate([(1e-3, 16), (1e-6, 16), (1e-3, 32), (1e-6, 32)])]
    path = R.plot_errorbars(summary, ["l2", "bs"], "acc", tmp_path / "acc.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 300
    R.plot_errorbars(summary, ["l2", "bs"], "acc", tmp_path / "cat.png", x_key="bs")
    assert (tmp_path / "cat.png").stat().st_size > 1000
    assert not list(tmp_path.glob(".*"))  # no temp files left behind
