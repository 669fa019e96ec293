"""`mnistlab summary`'s RAM and flash are the C export's MNISTLAB_RAM_BYTES / MNISTLAB_FLASH_BYTES.

models/memory.py predicts the export's buffers from the spec and lays them out with the
planner the export uses; here each prediction is compared with the header the export
generates from an untrained model (no training, no compiling: the layout does not depend
on the weights). The zoo is compared in test_serve_export_c.py, which exports it anyway.
"""
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mnistlab.cli import main
from mnistlab.models import build, resolve_spec, summary
from mnistlab.serve import export_c as X
from mnistlab.serve.export import export_onnx, quantize_int8

# issue 22 item 6: bias-free conv + BN, 3x3/2 `same` max-pool, separable conv, 2x2 average pool,
# ELU conv, global average pooling, dense; 4,050 params. The old estimate said 7,840 bytes.
ISSUE_22 = {"input_shape": [28, 28, 1], "layers": [
    {"type": "conv2d", "filters": 8, "kernel": 3, "use_bias": False, "padding": "same"},
    {"type": "batchnorm"}, {"type": "activation", "activation": "relu"},
    {"type": "maxpool2d", "pool": 3, "strides": 2, "padding": "same"},
    {"type": "separable_conv2d", "filters": 16, "kernel": 3, "padding": "same", "activation": "relu"},
    {"type": "avgpool2d", "pool": 2},
    {"type": "conv2d", "filters": 24, "kernel": 3, "activation": "elu"},
    {"type": "global_avg_pool"}, {"type": "dense", "units": 10, "activation": "softmax"}]}


def _conv(filters, kernel=3, **kw):
    return {"type": "conv2d", "filters": filters, "kernel": kernel, **kw}


def _small(*layers):
    return {"input_shape": [8, 8, 2], "layers": list(layers)}


FLAT, GAP = {"type": "flatten"}, {"type": "global_avg_pool"}
DENSE = {"type": "dense", "units": 4}
MIXED = {
    "issue22": ISSUE_22,
    "flatten_transpose": _small(_conv(3), FLAT, DENSE),
    "bn_folded": _small(_conv(3, use_bias=False), {"type": "batchnorm"}, FLAT, DENSE),
    "bn_float_after_relu": _small(_conv(3, activation="relu"), {"type": "batchnorm"}, FLAT, DENSE),
    "bn_first": _small({"type": "batchnorm"}, _conv(3), FLAT, DENSE),
    "bn_after_dense": _small(FLAT, {"type": "dense", "units": 5}, {"type": "batchnorm"}, DENSE),
    "bn_after_pool": _small(_conv(3), {"type": "maxpool2d"}, {"type": "batchnorm"}, GAP, DENSE),
    "asymmetric_same": _small(_conv(3, 2, padding="same"), _conv(3, strides=2, padding="same"), GAP, DENSE),
    "float_activations": _small(_conv(3, activation="sigmoid"), _conv(3, activation="tanh"),
                                {"type": "activation", "activation": "leaky_relu"}, FLAT,
                                {"type": "dense", "units": 4, "activation": "elu"}, {"type": "dropout", "rate": 0.2},
                                {"type": "dense", "units": 3, "activation": "sigmoid"}),
    "residual_blocks": _small(_conv(4, padding="same"), {"type": "residual_block", "filters": 4},
                              {"type": "residual_block", "filters": 6, "strides": 2}, GAP, DENSE),
    "residual_first_elu": _small({"type": "residual_block", "filters": 2},
                                 {"type": "residual_block", "filters": 3, "activation": "elu"}, FLAT, DENSE),
    "resnet_v1": {"input_shape": [8, 8, 1], "layers": [{"type": "resnet_v1", "depth": 8, "filters": 4,
                                                          "num_classes": 3}]},
    "separable_bn_relu": _small({"type": "separable_conv2d", "filters": 4, "kernel": 3, "depth_multiplier": 2,
                                 "strides": 2, "padding": "same", "use_bias": False}, {"type": "batchnorm"},
                                {"type": "activation", "activation": "relu"}, FLAT, DENSE),
    "relu_dropout_pool": _small(_conv(3, activation="relu"), {"type": "dropout", "rate": 0.1},
                                {"type": "maxpool2d"}, FLAT, {"type": "dense", "units": 4, "activation": "softmax"}),
    "valid_pool_drops_edges": _small(_conv(3, 2, activation="relu"), {"type": "maxpool2d"},
                                     _conv(3, 2, activation="leaky_relu"), GAP, DENSE),
    "pools_same_and_avg": _small(_conv(3, padding="same", activation="relu"),
                                 {"type": "maxpool2d", "pool": 3, "strides": 1, "padding": "same"},
                                 {"type": "avgpool2d", "pool": 2}, FLAT,
                                 {"type": "dense", "units": 4, "activation": "sigmoid"}),
    "mlp_bn_softmax_layer": _small(FLAT, {"type": "dense", "units": 6, "activation": "relu"}, {"type": "batchnorm"},
                                   {"type": "dropout", "rate": 0.2}, {"type": "dense", "units": 5, "activation": "elu"},
                                   DENSE, {"type": "activation", "activation": "softmax"}),
    "search_gap_head": _small(_conv(4, padding="same", use_bias=False), {"type": "batchnorm"},
                              {"type": "activation", "activation": "elu"},
                              {"type": "separable_conv2d", "filters": 5, "kernel": 3, "padding": "same",
                               "use_bias": False}, {"type": "batchnorm"}, {"type": "activation", "activation": "elu"},
                              {"type": "maxpool2d"}, {"type": "dropout", "rate": 0.1}, _conv(4, 1), GAP,
                              {"type": "activation", "activation": "softmax"}),
    "two_relus": _small(_conv(3, strides=2, padding="same"), {"type": "activation", "activation": "relu"},
                        {"type": "activation", "activation": "relu"}, FLAT,
                        {"type": "dense", "units": 4, "activation": "relu"}),
}


def _header_figures(spec, precision):
    spec = resolve_spec(spec)
    torch.manual_seed(0)
    model = build(spec).eval()
    h, w, c = spec["input_shape"]
    x = np.random.default_rng(0).integers(0, 256, (20, h, w, c)).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        ref = export_onnx(model, Path(tmp) / "m.onnx", input_shape=(h, w, c))
        if precision == "int8":
            ref = quantize_int8(ref, Path(tmp) / "q.onnx", x)
        header, _, _ = X.generate(ref)
    defines = dict(re.findall(r"#define (MNISTLAB_\w+_BYTES) (\d+)", header))
    return int(defines["MNISTLAB_RAM_BYTES"]), int(defines["MNISTLAB_FLASH_BYTES"])


@pytest.mark.parametrize("name", sorted(MIXED))
def test_summary_ram_and_flash_are_the_int8_headers(name):
    s = summary(MIXED[name])
    assert (s.ram_int8, s.flash_int8) == _header_figures(MIXED[name], "int8")


@pytest.mark.parametrize("name", ["issue22", "residual_blocks", "float_activations", "pools_same_and_avg"])
def test_fp32_ram_is_the_fp32_header(name):
    s = summary(MIXED[name])
    assert s.ram_fp32 == _header_figures(MIXED[name], "fp32")[0] == s.c_export("fp32").ram


def test_issue22_spec_needs_the_c_codes_13000_bytes_and_8000_refuses_it(capsys):
    s = summary(ISSUE_22)
    assert s.total == 4050 and s.ram_int8 == 13000 and s.flash_int8 == 4496
    import yaml
    path = Path(tempfile.mkdtemp()) / "issue22.yaml"
    path.write_text(yaml.safe_dump(ISSUE_22))
    assert main(["summary", str(path), "--max-ram-bytes", "8000"]) == 2
    err = capsys.readouterr().err
    assert "needs 13,000 bytes (int8 C export's RAM arena), over the budget of 8,000 by 5,000" in err
    assert "max_pooling2d (MaxPooling2D) 13,000" in err  # the conv output and its padded copy


def test_a_float_segment_costs_four_bytes_a_value_worked_by_hand():
    # 8x8x1 -> conv 6x6x4 (int8, 144 B) -> ELU (float: 576 B) -> Flatten's Transpose (float copy:
    # 576 B) -> quantised for the dense layer (144 B) -> dense (3 B) -> softmax. Peak: the ELU
    # output and its transposed copy, 1,152 bytes (the in-place estimate said 208).
    s = summary({"input_shape": [8, 8, 1], "layers": [_conv(4, activation="elu"), FLAT, {"type": "dense",
                                                                                         "units": 3}]})
    assert s.ram_int8 == 576 + 576
    assert s.flash_int8 == (36 + 8 * 4) + (144 * 3 + 8 * 3)  # int8 weights + int32 bias and float scale


def test_the_arena_has_no_float_copy_of_an_input_the_first_op_quantises():
    spec = MIXED["flatten_transpose"]
    ram, _ = _header_figures(spec, "int8")
    assert ram < 4 * 8 * 8 * 2  # the float input alone would need 512 bytes


def test_a_spec_the_c_export_cannot_run_has_no_figure_and_refuses_a_budget(capsys):
    spec = {"input_shape": [8, 8, 1], "layers": [FLAT, {"type": "dense", "units": 3, "activation": "gelu"}]}
    s = summary(spec)
    assert s.ram_int8 is None and s.flash_int8 is None and "gelu" in s.c_export_problem
    assert "Peak RAM and flash: none" in str(s)
    from mnistlab.errors import MnistlabError
    from mnistlab.models import check_budget
    with pytest.raises(MnistlabError, match="max_ram_bytes is checked against the C export.*gelu") as err:
        check_budget(spec, max_ram_bytes=10_000)
    assert "\n" not in str(err.value)


def test_average_pooling_that_pads_is_refused_before_any_export():
    from mnistlab.errors import MnistlabError
    spec = resolve_spec(_small({"type": "avgpool2d", "pool": 3, "strides": 2, "padding": "same"}, FLAT, DENSE))
    with pytest.raises(MnistlabError, match=r"layer 0 \(avgpool2d\) pads its 8x8 input"):
        X.check_spec(spec)


def test_the_planner_never_overlaps_live_buffers():
    from mnistlab.models.memory import Buffer, plan_arena
    bs = [Buffer(str(i), (n,), "q", first=a, last=b) for i, (n, a, b) in
          enumerate([(100, 0, 1), (50, 1, 2), (80, 2, 3), (30, 0, 3), (100, 3, 4)])]
    total = plan_arena(bs)
    for a in bs:
        for b in bs:
            if a is not b and not (a.last < b.first or b.last < a.first):
                assert a.offset + a.nbytes <= b.offset or b.offset + b.nbytes <= a.offset
    assert total == max(b.offset + b.nbytes for b in bs)
