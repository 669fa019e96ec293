"""The built torch modules behave like their Keras namesakes."""
import math

import pytest
import torch
from torch import nn

from mnistlab.models import build, l2_penalty, summary
from mnistlab.models.layers import Conv2d, Linear


def spec(*layers, shape=(28, 28, 1)):
    return {"input_shape": list(shape), "layers": list(layers)}


def nchw(h, w, c=1, fill=None):
    return torch.full((1, c, h, w), float(fill)) if fill is not None else torch.rand(1, c, h, w)


def test_conv_same_stride2_pads_bottom_right_like_tf():
    # 4x4 input, 3x3 kernel, stride 2: TF pads 0 rows on top and 1 at the bottom (torch's
    # symmetric padding=1 would give [[4, 6], [6, 9]] instead)
    model = build(spec({"type": "conv2d", "filters": 1, "kernel": 3, "strides": 2, "padding": "same",
                        "use_bias": False}, shape=(4, 4, 1)))
    nn.init.ones_(model[0].weight)
    out = model(nchw(4, 4, fill=1))
    assert out[0, 0].tolist() == [[9, 6], [6, 4]]


def test_maxpool_same_pads_with_minus_inf():
    model = build(spec({"type": "maxpool2d", "pool": 2, "padding": "same"}, shape=(11, 11, 1)))
    out = model(nchw(11, 11, fill=-3))
    assert out.shape == (1, 1, 6, 6) and torch.all(out == -3)  # zero padding would give 0 at the edge


def test_avgpool_same_ignores_padding():
    model = build(spec({"type": "avgpool2d", "pool": 2, "padding": "same"}, shape=(5, 5, 2)))
    out = model(nchw(5, 5, 2, fill=2))
    assert out.shape == (1, 2, 3, 3) and torch.allclose(out, torch.full_like(out, 2))


def test_flatten_in_keras_hwc_order():
    model = build(spec({"type": "flatten"}, shape=(2, 3, 4)))
    x = torch.zeros(1, 4, 2, 3)
    x[0, 2, 1, 0] = 1  # channel 2, row 1, col 0
    assert model(x)[0].nonzero().item() == 1 * 3 * 4 + 0 * 4 + 2


def test_glorot_uniform_and_zero_bias_by_default():
    torch.manual_seed(0)
    model = build(spec({"type": "flatten"}, {"type": "dense", "units": 300}))
    lin = model[1]
    limit = math.sqrt(6 / (784 + 300))
    assert lin.weight.abs().max() <= limit and lin.weight.abs().max() > 0.95 * limit
    assert abs(lin.weight.std().item() - limit / math.sqrt(3)) < 0.002
    assert torch.all(lin.bias == 0)


def test_he_normal_is_truncated_with_keras_std():
    torch.manual_seed(0)
    model = build(spec({"type": "conv2d", "filters": 256, "kernel": 3, "kernel_initializer": "he_normal"},
                       shape=(8, 8, 64)))
    w = model[0].weight
    std = math.sqrt(2 / (64 * 9))
    assert abs(w.std().item() - std) / std < 0.02
    assert w.abs().max() <= 2 * std / 0.87962566103423978 + 1e-6


def test_batchnorm_uses_keras_momentum_and_epsilon():
    model = build(spec({"type": "conv2d", "filters": 3, "kernel": 3}, {"type": "batchnorm"},
                       {"type": "flatten"}, {"type": "batchnorm", "momentum": 0.9}))
    bn2d, bn1d = model[1], model[3]
    assert isinstance(bn2d, nn.BatchNorm2d) and bn2d.momentum == pytest.approx(0.01) and bn2d.eps == 1e-3
    assert isinstance(bn1d, nn.BatchNorm1d) and bn1d.momentum == pytest.approx(0.1) and bn1d.num_features == 26 * 26 * 3


def test_final_softmax_is_left_out_but_shown_in_summary():
    layers = [{"type": "flatten"}, {"type": "dense", "units": 10}, {"type": "activation", "activation": "softmax"}]
    assert [r.type for r in summary(spec(*layers)).layers][-1] == "Activation"
    model = build(spec(*layers))
    assert not any(isinstance(m, nn.Softmax) for m in model.modules())
    model = build("nb000-cnn")
    assert not any(isinstance(m, nn.Softmax) for m in model.modules())
    assert isinstance(model[-1], Linear)


def test_l2_penalty_is_keras_kernel_regularizer():
    torch.manual_seed(0)
    model = build(spec({"type": "conv2d", "filters": 2, "kernel": 3, "l2": 0.01}, {"type": "flatten"},
                       {"type": "dense", "units": 5, "l2": 0.5}, {"type": "dense", "units": 3}))
    conv, dense, plain = model[0], model[2], model[3]
    expected = 0.01 * conv.weight.pow(2).sum() + 0.5 * dense.weight.pow(2).sum()  # biases are not regularised
    assert torch.allclose(l2_penalty(model), expected)
    assert plain.l2 == 0.0
    l2_penalty(model).backward()
    assert conv.weight.grad is not None and plain.weight.grad is None


def test_l2_penalty_zero_when_none():
    p = l2_penalty(build("nb000-cnn"))
    assert p.shape == () and p.item() == 0.0


def test_resnet_layers_carry_notebook_l2_and_train():
    torch.manual_seed(0)
    model = build({"input_shape": [12, 12, 1], "layers": [{"type": "resnet_v1", "depth": 8, "num_classes": 3,
                                                                 "filters": 4}]})
    convs = [m for m in model.modules() if isinstance(m, Conv2d)]
    assert len(convs) == 1 + 3 * 2 + 2 and all(c.l2 == 1e-4 for c in convs)  # stem, 2 per block, 2 projections
    out = model(torch.rand(4, 1, 12, 12))
    assert out.shape == (4, 3)
    (out.logsumexp(1).mean() + l2_penalty(model)).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_separable_conv_counts_like_keras():
    # Keras: k*k*C_in*dm + C_in*dm*filters + filters = 9*8*2 + 16*10 + 10
    s = spec({"type": "separable_conv2d", "filters": 10, "kernel": 3, "depth_multiplier": 2, "padding": "same"},
             shape=(6, 6, 8))
    assert summary(s).total == 144 + 160 + 10
    assert sum(p.numel() for p in build(s).parameters()) == 314
    assert build(s)(torch.rand(2, 8, 6, 6)).shape == (2, 10, 6, 6)


def test_module_carries_its_spec():
    model = build("nb002-cnn")
    assert model.input_shape == (28, 28, 1) and model.spec["name"] == "nb002-cnn"
