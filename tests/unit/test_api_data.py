"""mnistlab.load_dataset on arrays in memory, as a Keras user has them: load_data()'s uint8
(N, H, W) tuples, `x / 255` floats, (N, H, W, 1), torch (N, C, H, W), to_categorical one-hot."""
import numpy as np
import pytest
import torch

import mnistlab
from mnistlab.errors import MnistlabError
from tinydata import tiny_arrays

(XT, YT), (XE, YE) = tiny_arrays(60, 30)


def _one_hot(y, k=3):  # keras.utils.to_categorical(y, k): float32 rows
    return np.eye(k, dtype="float32")[y]


def _same(ds, ref):
    for a in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(ds, a), getattr(ref, a)), a
    assert ds.classes == ref.classes


@pytest.mark.parametrize("convert", [
    lambda x, y: (x[..., None], y),                                              # (N, H, W, 1)
    lambda x, y: (x.astype("float32") / 255, y),                                 # Keras' x / 255
    lambda x, y: (x, _one_hot(y)),                                               # to_categorical
    lambda x, y: (x, y[:, None]),                                                # (N, 1) labels
    lambda x, y: (torch.from_numpy(x), torch.from_numpy(y)),                     # torch
    lambda x, y: (torch.from_numpy(x)[:, None].float() / 255, torch.from_numpy(y)),  # torch NCHW float
])
def test_keras_and_torch_conventions_load_the_same_data(convert):
    ref = mnistlab.load_dataset((XT, YT), (XE, YE))
    assert ref.x_train.dtype == torch.uint8 and tuple(ref.x_train.shape) == (60, 8, 8, 1)
    assert ref.classes == ["0", "1", "2"] and len(ref.x_test) == 30
    _same(mnistlab.load_dataset(convert(XT, YT), convert(XE, YE)), ref)


def test_load_data_tuple_names_and_classes():
    keras_tuple = ((XT, YT), (XE, YE))  # keras.datasets.mnist.load_data() as it comes
    _same(mnistlab.load_dataset(keras_tuple), mnistlab.load_dataset((XT, YT), (XE, YE)))
    ds = mnistlab.load_dataset((XT, YT), classes=["zero", "one", "two"], name="toy")
    assert ds.classes == ["zero", "one", "two"] and ds.x_test is None and ds.name == "toy"
    assert torch.equal(ds.y_train, torch.from_numpy(YT))


def test_one_hot_columns_are_the_classes_even_when_absent():
    y = np.where(YT == 2, 1, YT)  # no image of class 2 (or 3, 4) in the data
    ds = mnistlab.load_dataset((XT, _one_hot(y, 5)))
    assert ds.classes == ["0", "1", "2", "3", "4"] and sorted(set(ds.y_train.tolist())) == [0, 1]


def test_rgb_nchw_is_transposed_not_reshaped():
    rng = np.random.default_rng(0)
    nhwc = rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    ds = mnistlab.load_dataset((torch.from_numpy(nhwc).permute(0, 3, 1, 2), np.arange(6) % 2))
    assert torch.equal(ds.x_train, torch.from_numpy(nhwc))


@pytest.mark.parametrize("args, kwargs, words", [
    (((XT, YT[:-1]),), {}, "60 images but y_train 59 labels"),
    (((XT, YT), (XE[:5], YE)), {}, "x_test holds 5 images but y_test 30"),
    (((XT, YT, YT),), {}, "pair (x_train, y_train)"),
    (((XT, YT), (XE,)), {}, "pair (x_test, y_test)"),
    (((XT.reshape(60, -1), YT),), {}, "x.reshape(-1, 28, 28)"),
    (((XT, _one_hot(YT) * 2),), {}, "not one-hot"),
    (((XT, _one_hot(YT)), (XE, _one_hot(YE, 4))), {}, "3 columns for train but 4"),
    (((XT, _one_hot(YT)),), {"classes": ["a", "b"]}, "one name per column"),
    (((XT, YT),), {"classes": ["a", "b"]}, "beyond the 2 stated classes"),
    (((XT.astype("float32") - 100, YT),), {}, "expected 0..255 or 0..1"),
    (((np.zeros((4, 3, 8, 3), np.uint8), np.arange(4) % 2),), {}, "transpose them to (N, H, W, C)"),
    (("mnist",), {"classes": ["a"]}, "go with arrays"),
])
def test_wrong_arrays_are_one_line(args, kwargs, words):
    with pytest.raises(MnistlabError) as err:
        mnistlab.load_dataset(*args, **kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)
