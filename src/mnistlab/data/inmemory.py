"""Keras-style arrays in memory -> Dataset: `load_dataset((x_train, y_train), (x_test, y_test))`.

What `keras.datasets.mnist.load_data()` and `keras.utils.to_categorical` give is taken as
it is: numpy or torch, images (N, H, W), (N, H, W, C) or torch's (N, C, H, W), uint8 0..255 or
float 0..1; labels as class numbers (N,) or (N, 1), or one-hot (N, K). The checks and the
conversion to uint8 NHWC are datasets.from_arrays', the same as for every file format: this
module only turns the pairs into a Raw (and the class names one-hot labels imply).
"""
from __future__ import annotations

import numpy as np

from mnistlab.data.formats import Raw
from mnistlab.data.tensors import to_numpy
from mnistlab.errors import MnistlabError


def is_pairs(obj) -> bool:
    """True for (x, y) and for Keras' ((x_train, y_train), (x_test, y_test))."""
    return isinstance(obj, (tuple, list)) and len(obj) == 2 and not isinstance(obj[0], (str, bytes))


def split_keras_tuple(train, test):
    """load_dataset(keras.datasets.mnist.load_data()) is load_dataset(train, test)."""
    if test is None and is_pairs(train) and all(isinstance(p, (tuple, list)) for p in train):
        return train[0], train[1]
    return train, test


def to_raw(train, test=None, *, classes=None) -> tuple[Raw, list[str] | None]:
    """(Raw, class names or None) from (x_train, y_train) and optionally (x_test, y_test);
    `classes` names label k as classes[k] (the labels are then indices 0..K-1)."""
    train, test = split_keras_tuple(train, test)
    x_train, y_train = _pair(train, "train")
    x_test, y_test = _pair(test, "test") if test is not None else (None, None)
    y_train, k_train = _labels(y_train, "y_train")
    k_test = None
    if y_test is not None:
        y_test, k_test = _labels(y_test, "y_test")
    k = {v for v in (k_train, k_test) if v is not None}
    if len(k) > 1:
        raise MnistlabError(f"one-hot labels have {k_train} columns for train but {k_test} for test; "
                            "encode both with the same num_classes")
    if classes is not None:
        classes = [str(c) for c in classes]
        if k and len(classes) != next(iter(k)):
            raise MnistlabError(f"classes names {len(classes)} classes but the one-hot labels have "
                                f"{next(iter(k))} columns; give one name per column")
    elif k:  # one-hot: the columns are the classes, present in the data or not
        classes = [str(i) for i in range(next(iter(k)))]
    return Raw(x_train, y_train, x_test, y_test), classes


def _pair(pair, part: str) -> tuple[np.ndarray, np.ndarray]:
    if not is_pairs(pair):
        got = f"a {type(pair).__name__} of {len(pair)}" if isinstance(pair, (tuple, list)) else type(pair).__name__
        raise MnistlabError(f"the {part} data must be a pair (x_{part}, y_{part}) of images and labels, "
                            f"got {got}")
    x, y = (to_numpy(a) for a in pair)
    if x.ndim < 3:
        raise MnistlabError(f"x_{part} has shape {x.shape}; images are (N, H, W), (N, H, W, C) or "
                            "(N, C, H, W): reshape flat rows with x.reshape(-1, 28, 28)")
    if len(x) != len(y):
        raise MnistlabError(f"x_{part} holds {len(x):,} images but y_{part} {len(y):,} labels; "
                            "they must match one to one")
    return x, y


def _labels(y: np.ndarray, what: str) -> tuple[np.ndarray, int | None]:
    """(class numbers (N,), the one-hot width or None)."""
    if y.ndim == 2 and y.shape[1] == 1:  # (N, 1) column, as CIFAR's load_data gives
        return y[:, 0], None
    if y.ndim != 2:
        return y, None  # (N,) or a shape from_arrays refuses in one line
    numeric = np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_
    if not (numeric and np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
        raise MnistlabError(f"{what} has shape {y.shape} but is not one-hot (each row one 1, the rest 0); "
                            "give class numbers (N,) or keras.utils.to_categorical(y)")
    return y.argmax(axis=1), y.shape[1]
