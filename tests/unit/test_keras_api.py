"""mnistlab.fit / summary / Run.to_keras and the CLI (import, summary, export --format keras)
on Keras models, checked against real Keras 3 (KERAS_BACKEND=torch) on tiny 8x8 data."""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import yaml

import mnistlab
from mnistlab.cli import main
from mnistlab.errors import MnistlabError
from tinydata import tiny_arrays, write_tiny_data




@pytest.fixture
def data():
    (x, y), _ = tiny_arrays(120, 20)
    return x[..., None], y


def _model(keras, *, compiled=True, built=True, bn=True):
    L = keras.layers
    # without BatchNorm, training at learning rate 0 changes nothing (BatchNorm's moving statistics would move)
    layers = [L.Conv2D(4, 3, activation="relu", padding="same"), *([L.BatchNormalization()] if bn else []),
              L.MaxPooling2D(), L.Flatten(), L.Dropout(0.2), L.Dense(3, activation="softmax")]
    model = keras.Sequential(([keras.Input((8, 8, 1))] if built else []) + layers)
    if compiled:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.0), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    return model


def _predict(model, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(model.predict(x, verbose=0))


def _fit(source, x, y, tmp_path, **kw):
    kw = {"batch_size": 32, "epochs": 1, "quiet": True, "report": False, "out": tmp_path / "runs", **kw}
    return mnistlab.fit(source, x, y, **kw)


def test_fit_starts_from_the_keras_weights_and_compile(keras, data, tmp_path):
    x, y = data
    model = _model(keras, bn=False)  # Adam with learning rate 0: training leaves the Keras weights as they are
    run = _fit(model, x, y, tmp_path)
    assert run.config["optimizer"]["name"] == "adam" and run.config["optimizer"]["lr"] == 0.0
    assert run.config["model"]["layers"][0]["type"] == "conv2d"  # the spec is recorded, not a torch class
    theirs = _predict(model, x[:8].astype(np.float32) / 255)
    assert np.abs(run.predict_proba(x[:8]) - theirs).max() <= 1e-5
    again = mnistlab.load_run(run.path)  # from its folder alone, no Keras object
    assert np.abs(again.predict_proba(x[:8]) - theirs).max() <= 1e-5


def test_the_call_overrides_the_compiled_optimizer(keras, data, tmp_path):
    x, y = data
    run = _fit(_model(keras), x, y, tmp_path, lr=0.01)
    assert (run.config["optimizer"]["name"], run.config["optimizer"]["lr"]) == ("adam", 0.01)
    run = _fit(_model(keras), x, y, tmp_path, optimizer="sgd")
    assert run.config["optimizer"]["name"] == "sgd"


def test_fit_and_summary_read_keras_files(keras, data, tmp_path):
    x, y = data
    model = _model(keras, bn=False)
    model.save(tmp_path / "m.keras")
    assert mnistlab.summary(tmp_path / "m.keras").total == model.count_params()
    assert mnistlab.summary(model).total == model.count_params()
    run = _fit(str(tmp_path / "m.keras"), x, y, tmp_path)
    assert np.abs(run.predict_proba(x[:8]) - _predict(model, x[:8].astype(np.float32) / 255)).max() <= 1e-5


def test_an_unbuilt_model_takes_its_input_shape_from_the_data(keras, data, tmp_path):
    x, y = data
    model = _model(keras, built=False, compiled=False)
    with pytest.raises(MnistlabError, match="never built"):
        mnistlab.summary(model)
    run = _fit(model, x, y, tmp_path)
    assert run.config["model"]["input_shape"] == [8, 8, 1]
    assert run.config["optimizer"]["name"] == "rmsprop"  # not compiled: the recipe's default


def test_to_keras_and_export_cli_load_in_keras_with_the_runs_predictions(keras, data, tmp_path, monkeypatch):
    x, y = data
    run = _fit(_model(keras, compiled=False), x, y, tmp_path)
    path = run.to_keras(tmp_path / "back.keras")
    loaded = keras.saving.load_model(path)
    ours = run.predict_proba(x[:8])
    assert np.abs(ours - _predict(loaded, x[:8].astype(np.float32) / 255)).max() <= 1e-5
    with monkeypatch.context() as mp:
        for name in ("onnx", "onnxruntime", "onnxscript"):  # the Keras export needs none of the export extra
            mp.setitem(sys.modules, name, None)
        assert main(["export", str(run.path), "--format", "keras"]) == 0
    again = keras.saving.load_model(run.path / "model.keras")
    assert np.abs(ours - _predict(again, x[:8].astype(np.float32) / 255)).max() <= 1e-5
    assert main(["export", str(run.path), "--format", "keras", "--int8"]) == 2


def test_import_cli_writes_a_recipe_that_validates(keras, tmp_path, capsys):
    model = _model(keras)
    model.save(tmp_path / "m.keras")
    out = tmp_path / "recipe.yaml"
    assert main(["import", str(tmp_path / "m.keras"), "--out", str(out)]) == 0
    recipe = yaml.safe_load(out.read_text())
    assert recipe["optimizer"] == {"name": "adam", "lr": 0.0, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                                   "amsgrad": False}
    assert mnistlab.summary(recipe).total == model.count_params()
    assert "fresh initialisation" in capsys.readouterr().err
    data = write_tiny_data(tmp_path / "tiny.npz")
    runs = tmp_path / "runs"
    assert main(["train", str(out), "--set", f"data.dataset={data}", "--set", "epochs=1", "--set",
                 "optimizer.lr=0.001", "--out", str(runs), "--quiet"]) == 0  # the recipe trains without Keras
    run = mnistlab.load_run(next(runs.iterdir()))
    assert run.metrics["params"] == model.count_params() and run.config["optimizer"]["name"] == "adam"
    assert main(["summary", str(tmp_path / "m.keras")]) == 0
    (tmp_path / "bad.keras").write_bytes(b"PK\x03\x04 truncated")
    assert main(["import", str(tmp_path / "bad.keras"), "--out", str(tmp_path / "bad.yaml")]) == 2
    assert not (tmp_path / "bad.yaml").exists()
    assert "mnistlab: error:" in capsys.readouterr().err


def test_without_h5py_reading_a_keras_file_names_the_extra(keras, tmp_path, monkeypatch):
    _model(keras).save(tmp_path / "m.keras")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(MnistlabError, match=r"needs h5py: pip install 'mnistlab\[keras\]'$"):
        mnistlab.summary(tmp_path / "m.keras")
