"""ONNX export parity and int8 quantisation on a small module and synthetic images."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from mnistlab.serve import export as E


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny CNN trained for a moment to tell bright-top from bright-bottom images."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 60, size=(1200, 28, 28, 1), dtype=np.uint8)
    y = rng.integers(0, 2, size=1200)
    for i, k in enumerate(y):
        rows = slice(2, 12) if k == 0 else slice(16, 26)
        x[i, rows, 6:22] = rng.integers(150, 256, size=(10, 16, 1))
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 13 * 13, 2))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    X, Y = torch.from_numpy(E.to_input(x[:1000])), torch.from_numpy(y[:1000])
    for i in range(0, 1000, 50):
        loss = nn.functional.cross_entropy(model(X[i:i + 50]), Y[i:i + 50])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    path = E.export_onnx(model, tmp_path_factory.mktemp("onnx") / "m.onnx")
    return model, path, x, y


def test_onnx_has_named_io_and_a_dynamic_batch(trained):
    _, path, x, _ = trained
    m = onnx.load(path)
    onnx.checker.check_model(m)
    assert [i.name for i in m.graph.input] == ["image"]
    assert [o.name for o in m.graph.output] == ["probabilities"]
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic, not fixed
    sess = E.session(path)
    for n in (1, 7, 300):
        p = E.onnx_probabilities(sess, x[:n])
        assert p.shape == (n, 2) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_onnx_matches_pytorch(trained):
    model, path, x, _ = trained
    parity = E.check_parity(model, path, x[1000:])
    assert parity.n == 200 and parity.ok
    assert parity.max_abs_diff <= 1e-4 and parity.agreement >= 0.999


def test_parity_detects_a_different_model(trained, tmp_path):
    model, path, x, _ = trained
    other = nn.Sequential(nn.Flatten(), nn.Linear(784, 2))
    assert not E.check_parity(other, path, x[1000:]).ok


def test_int8_is_smaller_keeps_accuracy_and_reports_it(trained, tmp_path):
    model, path, x, y = trained
    q = E.quantize_int8(path, tmp_path / "m.int8.onnx", x[:1000], samples=200)
    ops = {n.op_type for n in onnx.load(q).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    rows = [E.benchmark("fp32", path, x[1000:], y[1000:], repeats=20),
            E.benchmark("int8", q, x[1000:], y[1000:], repeats=20)]
    fp32, int8 = rows
    assert int8.size_bytes < fp32.size_bytes
    assert fp32.accuracy > 0.9 and int8.accuracy >= fp32.accuracy - 0.02
    assert fp32.latency_ms > 0 and int8.latency_ms > 0
    table = E.format_table(rows)
    assert "fp32" in table and "int8" in table and f"{int8.size_bytes:,d}" in table
    drop = 100 * (int8.accuracy - fp32.accuracy)
    assert f"int8 vs fp32: accuracy {drop:+.2f} points" in table
    assert fp32.throughput > 0 and int8.throughput > 0


def test_export_failure_is_a_one_line_error(tmp_path):
    from mnistlab.errors import MnistlabError

    class Bad(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom\nsecond line")

    with pytest.raises(MnistlabError, match="ONNX export failed") as err:
        E.export_onnx(Bad(), tmp_path / "bad.onnx")
    assert "\n" not in str(err.value)
    assert not list(tmp_path.iterdir())  # no half-written file left behind
