"""Every network declared in the seed notebooks (../shared/seeds), under stable names.

Each entry is the notebook's code transcribed into a spec; `printed_params` is the
"Total params" of the notebook's printed model.summary() (None when it printed none, in
which case the note says what the count was checked against). The tests check every
entry against the notebook's table, row by row where one was printed.
"""
from __future__ import annotations

from dataclasses import dataclass

MNIST = [28, 28, 1]


@dataclass(frozen=True)
class ZooEntry:
    name: str
    notebook: str
    spec: dict
    printed_params: int | None
    note: str


def _conv(filters, kernel=3, activation="relu", **kw):
    return {"type": "conv2d", "filters": filters, "kernel": kernel, "activation": activation, **kw}


def _dense(units, activation="relu", **kw):
    return {"type": "dense", "units": units, "activation": activation, **kw}


_ENTRIES = [
    ZooEntry("nb000-cnn", "000", {"input_shape": MNIST, "layers": [
        _conv(10, padding="valid"),
        {"type": "maxpool2d", "pool": 2, "padding": "same"},
        {"type": "dropout", "rate": 0.1},
        _conv(4, padding="valid"),
        {"type": "maxpool2d", "pool": 2, "padding": "same"},  # 11x11 -> 6x6: Keras `same`
        {"type": "flatten"},
        _dense(35),
        {"type": "dropout", "rate": 0.1},
        _dense(10, "softmax"),
    ]}, 5899, "000: CNN under a 6,000-parameter budget (RMSprop, batch 512, 75 epochs)"),

    ZooEntry("nb001-keras-cnn", "001", {"input_shape": MNIST, "layers": [
        _conv(32), _conv(64),
        {"type": "maxpool2d", "pool": 2},
        {"type": "dropout", "rate": 0.25},
        {"type": "flatten"},
        _dense(128),
        {"type": "dropout", "rate": 0.5},
        _dense(10, "softmax"),
    ]}, 1199882, "001: the Keras mnist_cnn example (Adadelta)"),

    # 001's prose describes a different net (30 5x5 maps, pool, 15 3x3 maps, pool, dropout 0.2,
    # dense 128 and 50, ReLU); its code, which is what was trained, is this ELU net.
    ZooEntry("nb001-elu-cnn", "001", {"input_shape": MNIST, "layers": [
        _conv(32, activation="elu"), _conv(32, activation="elu"),
        {"type": "maxpool2d", "pool": 2},
        {"type": "dropout", "rate": 0.25},
        _conv(64, activation="elu"), _conv(64, activation="elu"),
        {"type": "maxpool2d", "pool": 2},
        {"type": "dropout", "rate": 0.25},
        {"type": "flatten"},
        _dense(256, "elu"),
        {"type": "dropout", "rate": 0.5},
        _dense(10, "softmax"),
    ]}, None, "001: New_model(), ELU CNN (SGD nesterov); no summary printed, 329,962 counted from "
              "the code; the prose (30 5x5 / 15 3x3 maps, dense 128-50) disagrees, the code is followed"),

    ZooEntry("nb002-cnn", "002", {"input_shape": MNIST, "layers": [
        _conv(8), _conv(8),
        {"type": "maxpool2d", "pool": 2},
        _conv(16), _conv(16),
        {"type": "maxpool2d", "pool": 2},
        {"type": "flatten"},
        {"type": "dropout", "rate": 0.3},
        _dense(10, "softmax"),
    ]}, 6722, "002: CNN under a 7,000-parameter budget (Adam, EarlyStopping patience 5)"),

    ZooEntry("nb002-bn-cnn", "002", {"input_shape": MNIST, "layers": [
        _conv(8), {"type": "batchnorm"}, _conv(8), {"type": "batchnorm"},
        {"type": "maxpool2d", "pool": 2},
        _conv(16), {"type": "batchnorm"}, _conv(16), {"type": "batchnorm"},
        {"type": "maxpool2d", "pool": 2},
        {"type": "flatten"},
        {"type": "dropout", "rate": 0.3},
        _dense(10, "softmax"),
    ]}, None, "002: the prose's variant, batch normalisation after each hidden (convolution) "
              "layer of nb002-cnn; no code or summary in the seed, 6,914 counted (6,818 trainable)"),

    ZooEntry("nb003-mlp-64-64", "003", {"input_shape": MNIST, "layers": [
        {"type": "flatten"}, _dense(64), _dense(64), _dense(10, "softmax"),
    ]}, 55050, "003: MLP 64-64 (SGD lr 0.1)"),

    ZooEntry("nb003-mlp-500-300", "003", {"input_shape": MNIST, "layers": [
        {"type": "flatten"}, _dense(500), _dense(300), _dense(10, "softmax"),
    ]}, None, "003: MLP 500-300 (model2; model3 adds l2 to the two hidden layers); no summary "
              "printed, 545,810 counted from the code"),

    ZooEntry("nb003-cnn", "003", {"input_shape": MNIST, "layers": [
        _conv(32), {"type": "maxpool2d", "pool": 2},
        _conv(64), {"type": "maxpool2d", "pool": 2},
        {"type": "flatten"},
        _dense(64),
        _dense(10, "softmax"),
    ]}, 121930, "003: model4, CNN (SGD lr 0.1)"),

    ZooEntry("nb004-bn-cnn", "004", {"input_shape": MNIST, "layers": [
        _conv(32, activation="sigmoid"), {"type": "batchnorm"},
        {"type": "maxpool2d", "pool": 2}, {"type": "batchnorm"},
        _conv(64, activation="sigmoid"), {"type": "batchnorm"},
        {"type": "maxpool2d", "pool": 2}, {"type": "batchnorm"},
        {"type": "flatten"}, {"type": "batchnorm"},
        _dense(5, "softmax"),
    ]}, None, "004: model_cnn5, sigmoid CNN with BatchNormalization, 5 classes (SGD); only "
              "plot_model shown, 33,989 counted from the code (3,584 non-trainable)"),

    # resnet_v1(input_shape=(28,28,1), depth=2): (2-2)/6 = 0 residual blocks, so the net is the
    # stem BN-ReLU-conv(16) then flatten and dense(5); the plot shows (28,28,1) -> (28,28,16).
    ZooEntry("nb004-resnet", "004", {"input_shape": MNIST, "layers": [
        {"type": "resnet_v1", "depth": 2, "num_classes": 5},
    ]}, None, "004: resnet_v1 with the notebook's depth=2 (no residual blocks), 5 classes (Adam); "
              "only plot_model shown, 62,889 counted from the code"),
]

ZOO: dict[str, ZooEntry] = {e.name: e for e in _ENTRIES}
for _e in _ENTRIES:
    _e.spec["name"] = _e.name

