"""Specs with named inputs (Keras' functional API): add and concatenate, validation, build,
summary, and training one (the graph Keras models import to; tests/unit/test_keras_bridge.py
checks them against Keras)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import mnistlab
from mnistlab.errors import MnistlabError
from mnistlab.models import build, resolve_spec, summary
from tinydata import tiny_arrays

GRAPH = {"input_shape": [8, 8, 1], "layers": [
    {"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same", "activation": "relu", "name": "a"},
    {"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same"},
    {"type": "batchnorm", "name": "b"},
    {"type": "add", "inputs": ["a", "b"]},
    {"type": "activation", "activation": "relu", "name": "r"},
    {"type": "conv2d", "filters": 2, "kernel": 1, "inputs": "input", "name": "skip"},
    {"type": "concatenate", "inputs": ["r", "skip"]},
    {"type": "global_avg_pool"},
    {"type": "dense", "units": 3, "activation": "softmax"}]}


def test_a_graph_builds_and_computes_what_it_says():
    torch.manual_seed(0)
    net = build(GRAPH).eval()
    x = torch.rand(2, 1, 8, 8)
    m = list(net.children())  # conv a, relu, conv, bn, relu, conv skip, gap, dense
    with torch.no_grad():
        a = m[1](m[0](x))
        r = m[4](a + m[3](m[2](a)))
        y = torch.cat([r, m[5](x)], dim=1)
        expected = m[7](m[6](y))
        assert torch.allclose(net(x), expected)
    rows = summary(GRAPH).layers
    assert [r.type for r in rows][3:7] == ["Add", "Activation", "Conv2D", "Concatenate"]
    assert rows[6].output_shape == (8, 8, 6)
    assert summary(GRAPH).total == 40 + 148 + 16 + 4 + 6 * 3 + 3


def test_chains_resolve_as_before():
    spec = resolve_spec("nb000-cnn")
    assert not any("inputs" in layer or "name" in layer for layer in spec["layers"])
    assert type(build(spec)).__name__ == "Net"


@pytest.mark.parametrize("change, words", [
    ({3: {"type": "add", "inputs": ["a", "nope"]}}, "inputs names 'nope', which is no earlier layer's name"),
    ({3: {"type": "add", "inputs": ["a"]}}, "a merge reads two or more layers"),
    ({3: {"type": "add"}}, "a merge reads two or more layers"),
    ({1: {"type": "conv2d", "filters": 4, "kernel": 3, "inputs": ["a", "input"]}}, "reads one layer, but inputs names 2"),
    ({2: {"type": "batchnorm", "name": "a"}}, "the name 'a' is taken"),
    ({5: {"type": "conv2d", "filters": 3, "kernel": 1, "inputs": "input", "name": "skip"},
      6: {"type": "add", "inputs": ["r", "skip"]}}, "adds tensors of different shapes 8x8x4, 8x8x3"),
    ({3: {"type": "add", "inputs": "a b"}}, "inputs names 'a b'"),
    ({0: {"type": "conv2d", "filters": 4, "kernel": 3, "name": ""}}, "name must be a non-empty string"),
    ({3: {"type": "add", "inputs": ["a", 3]}}, "inputs must be a layer name or a list of them"),
])
def test_bad_graphs_are_one_line(change, words):
    spec = {"input_shape": GRAPH["input_shape"], "layers": [dict(x) for x in GRAPH["layers"]]}
    for i, layer in change.items():
        spec["layers"][i] = layer
    with pytest.raises(MnistlabError) as err:
        resolve_spec(spec)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_the_c_export_refuses_a_graph_in_one_line():
    s = summary(GRAPH)
    assert s.c_export("int8") is None
    assert "not a graph" in s.c_export_problem


def test_a_graph_trains_and_reloads(tmp_path):
    (x, y), (xt, yt) = tiny_arrays(120, 30)
    run = mnistlab.fit(GRAPH, x[..., None], y, epochs=2, batch_size=32, quiet=True, report=False, out=tmp_path)
    assert len(run.history["loss"]) == 2
    again = mnistlab.load_run(run.path)
    assert np.allclose(again.predict_proba(xt[..., None]), run.predict_proba(xt[..., None]), atol=1e-6)
