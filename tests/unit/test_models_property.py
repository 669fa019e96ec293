"""Property test over random valid specs: the summary agrees with the built module and with
the closed-form MAC counts of conv and dense layers."""
import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnistlab.models import build, summary


def _out(size, k, s, padding):
    return math.ceil(size / s) if padding == "same" else (size - k) // s + 1


@st.composite
def specs(draw):
    h, w, c = draw(st.integers(3, 10)), draw(st.integers(3, 10)), draw(st.integers(1, 3))
    shape = [h, w, c]
    layers = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["conv2d", "separable_conv2d", "maxpool2d", "avgpool2d", "batchnorm",
                                     "dropout", "activation", "residual_block"]))
        k, s = draw(st.integers(1, 3)), draw(st.integers(1, 2))
        # `valid` only where the window fits, so every drawn spec is valid
        padding = draw(st.sampled_from(["valid", "same"])) if k <= min(shape[:2]) else "same"
        if kind in ("conv2d", "separable_conv2d"):
            f = draw(st.integers(1, 6))
            layer = {"type": kind, "filters": f, "kernel": k, "strides": s, "padding": padding,
                     "use_bias": draw(st.booleans()),
                     "activation": draw(st.sampled_from(["linear", "relu", "elu", "tanh", "gelu"]))}
            if kind == "separable_conv2d":
                layer["depth_multiplier"] = draw(st.integers(1, 2))
            shape = [_out(shape[0], k, s, padding), _out(shape[1], k, s, padding), f]
        elif kind in ("maxpool2d", "avgpool2d"):
            layer = {"type": kind, "pool": k, "strides": s, "padding": padding}
            shape = [_out(shape[0], k, s, padding), _out(shape[1], k, s, padding), shape[2]]
        elif kind == "residual_block":
            f = draw(st.integers(1, 6))
            layer = {"type": kind, "filters": f, "kernel": k, "strides": s}
            shape = [math.ceil(shape[0] / s), math.ceil(shape[1] / s), f]
        elif kind == "dropout":
            layer = {"type": kind, "rate": 0.5}
        elif kind == "activation":
            layer = {"type": kind, "activation": draw(st.sampled_from(["relu", "sigmoid", "leaky_relu"]))}
        else:
            layer = {"type": kind}
        layers.append(layer)
    layers.append({"type": draw(st.sampled_from(["flatten", "global_avg_pool"]))})
    for _ in range(draw(st.integers(0, 2))):
        layers.append(draw(st.sampled_from([
            {"type": "dense", "units": draw(st.integers(1, 12)), "activation": "relu",
             "use_bias": draw(st.booleans())},
            {"type": "batchnorm"}, {"type": "dropout", "rate": 0.1}])))
    layers.append({"type": "dense", "units": draw(st.integers(2, 5)), "activation": "softmax"})
    return {"input_shape": [h, w, c], "layers": layers}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_summary_agrees_with_built_module(s):
    result = summary(s)
    model = build(s)
    assert result.trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert result.non_trainable == sum(b.numel() for n, b in model.named_buffers()
                                       if n.endswith(("running_mean", "running_var")))
    assert result.total == result.trainable + result.non_trainable
    assert result.bytes_fp32 == 4 * result.total
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(2, s["input_shape"][2], *s["input_shape"][:2]))
    assert tuple(out.shape) == (2, *result.output_shape)

    # closed-form MACs of each top-level conv2d / dense, from the shapes the summary reports
    shape = tuple(s["input_shape"])
    for i, layer in enumerate(s["layers"]):
        rows = [r for r in result.layers if r.index == i]
        if layer["type"] == "conv2d":
            (row,) = rows
            ho, wo, f = row.output_shape
            assert row.macs == ho * wo * f * layer["kernel"] ** 2 * shape[2]
            assert row.params == layer["kernel"] ** 2 * shape[2] * f + (f if layer["use_bias"] else 0)
        elif layer["type"] == "dense":
            (row,) = rows
            assert row.macs == shape[0] * layer["units"]
        shape = rows[-1].output_shape
