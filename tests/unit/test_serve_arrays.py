"""Predictor inputs in the conventions a notebook has: numpy/torch, Keras float or uint8."""
import numpy as np
import pytest
import torch

from mnistlab.errors import MnistlabError
from mnistlab.serve.arrays import to_unit_float
from mnistlab.serve.predict import Predictor


def _predictor():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    return Predictor(model, [str(i) for i in range(10)])


def _images(n=5):
    return np.random.default_rng(0).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("convert", [
    lambda u: u,                                            # uint8 (N, 28, 28)
    lambda u: u[..., None],                                 # uint8 (N, 28, 28, 1)
    lambda u: u.astype("float32") / 255,                    # Keras float (N, 28, 28)
    lambda u: (u.astype("float64") / 255)[..., None],       # Keras float (N, 28, 28, 1)
    lambda u: torch.from_numpy(u),                          # torch uint8
    lambda u: torch.from_numpy(u).float() / 255,            # torch float
    lambda u: u.astype(np.int64),                           # integer 0..255
    lambda u: torch.from_numpy(u)[:, None],                 # torch NCHW uint8 (N, 1, 28, 28)
    lambda u: torch.from_numpy(u)[:, None].float() / 255,   # torch NCHW float
])
def test_every_convention_gives_the_same_probabilities(convert):
    p, u = _predictor(), _images()
    expected = p.probabilities(u)
    np.testing.assert_allclose(p.probabilities(convert(u)), expected, rtol=1e-5, atol=1e-6)


def test_one_image_is_a_batch_of_one():
    p, u = _predictor(), _images(1)
    expected = p.probabilities(u)
    assert expected.shape == (1, 10)
    for one in (u[0], u[0][..., None], u[0][None], (u[0][..., None] / 255).astype("float32")):  # (28, 28), Keras (28, 28, 1), (1, 28, 28)
        np.testing.assert_allclose(p.probabilities(one), expected, rtol=1e-5, atol=1e-6)


def test_nchw_is_read_channel_first():
    # a colour model: the channel axis must be found, not reshaped over (a reshape scrambles pixels)
    rng = np.random.default_rng(1)
    nhwc = rng.random((4, 28, 28, 3)).astype("float32")
    out = to_unit_float(torch.from_numpy(nhwc).permute(0, 3, 1, 2), (28, 28, 3))
    np.testing.assert_array_equal(out, nhwc)
    np.testing.assert_array_equal(to_unit_float(nhwc[0], (28, 28, 3)), nhwc[:1])  # one Keras (H, W, C) image


@pytest.mark.parametrize("shape, input_shape", [
    ((3, 28, 28), (28, 28, 3)),      # 3 gray images, or one colour image channel-first
    ((2, 3, 3, 3), (3, 3, 3)),       # NHWC or NCHW on a square 3-channel model
])
def test_ambiguous_shapes_are_refused(shape, input_shape):
    x = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    with pytest.raises(MnistlabError, match="ambiguous") as err:
        to_unit_float(x, input_shape)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad, words", [
    (np.full((2, 28, 28), 255.0), "float pixels must be in [0, 1]"),     # floats not divided
    (np.full((2, 28, 28), -0.5), "float pixels must be in [0, 1]"),
    (np.full((2, 28, 28), 300, dtype=np.int32), "0..255"),
    (np.full((2, 28, 28), np.nan), "NaN"),
    (np.zeros((2, 32, 32), np.uint8), "shape (2, 32, 32)"),
    (np.zeros((2, 28, 28, 3), np.uint8), "shape"),
    (np.zeros((2, 2, 28, 28), np.uint8), "shape"),
    (np.zeros((0, 28, 28), np.uint8), "no images"),
    (np.array([["a"]]), "shape"),
])
def test_bad_input_is_one_clear_error(bad, words):
    with pytest.raises(MnistlabError, match=None) as err:
        to_unit_float(bad)
    assert words in str(err.value)
    assert "\n" not in str(err.value)


def test_colour_models_get_gray_replicated():
    out = to_unit_float(_images(2), (28, 28, 3))
    assert out.shape == (2, 28, 28, 3) and (out[..., 0] == out[..., 2]).all()
