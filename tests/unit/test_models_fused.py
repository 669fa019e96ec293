"""The fused max-pool -> ReLU -> dropout kernels (models/fused.py, kernels/pooltail.c) against
torch's own ops: forward outputs and input gradients bit for bit, on random shapes, both
precisions, both layouts, with many ties; the dropout draw's keep rate and determinism; and
the fallback without a compiler."""
from __future__ import annotations

import os
import random
import tempfile
import warnings

import pytest
import torch
import torch.nn.functional as F

from mnistlab.errors import MnistlabWarning
from mnistlab.models import fused, native
from mnistlab.models import build as build_model
from mnistlab.models.layers import Dropout, Pool2d, use_kernels



def _library_in_a_scratch_cache():
    """Build (or load) the kernels at import, in a scratch cache: collection runs before the
    conftest's isolated cache, and a test never writes the user's real one."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="mnistlab-fused-test-")
    try:
        return fused._lib()
    finally:
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved


lib = _library_in_a_scratch_cache()
needs_kernels = pytest.mark.skipif(lib is None, reason="the fused kernels did not build here (no C compiler?)")


def build(spec, kernels="fused"):
    """A built model on the fused path, as a run with `kernels: fused` trains it (a built
    model's default is torch's ops); a test that compares switches it with use_kernels."""
    net = build_model(spec)
    use_kernels(net, kernels)
    return net


def _case(rng: random.Random):
    pool = rng.choice([2, 3, (2, 3)])
    strides = rng.choice([1, 2, 3, None])
    strides = pool if strides is None else strides
    padding = rng.choice(["valid", "same"])
    ph, pw = (pool, pool) if isinstance(pool, int) else pool
    h, w = rng.randint(ph, 13), rng.randint(pw, 13)
    c = rng.choice([1, 3, 10, 17, 64, 70])
    n = rng.randint(1, 4)
    return dict(n=n, h=h, w=w, c=c, pool=pool, strides=strides, padding=padding,
                relu=rng.random() < 0.7, rate=rng.choice([0.0, 0.1, 0.3]),
                dtype=rng.choice([torch.float32, torch.bfloat16]), nhwc=rng.random() < 0.7)


def _tail_of(pool: Pool2d, relu: bool, rate: float) -> fused.Tail:
    (kh, kw), (sh, sw) = pool.pool, pool.strides
    return fused.Tail(kh, kw, sh, sw, pool.pads or (0, 0, 0, 0), relu, rate)


def _reference(x, pool: Pool2d, relu: bool, rate: float, keep_bits):
    """torch's modules as layers.build chains them, with the kernel's dropout mask."""
    y = pool(x)
    if relu:
        y = torch.relu(y)
    if rate > 0:  # layers.Dropout's arithmetic: a mask of x's type, scaled in place
        keep = keep_bits.to(y.dtype).mul_(1.0 / (1.0 - rate))
        y = y * keep
    return y


@needs_kernels
@pytest.mark.parametrize("seed", range(40))
def test_forward_and_gradients_match_torch_ops(seed):
    rng = random.Random(seed)
    k = _case(rng)
    g = torch.Generator().manual_seed(seed)
    # few distinct values: windows full of ties (torch keeps the first maximum)
    x0 = torch.randint(-3, 4, (k["n"], k["c"], k["h"], k["w"]), generator=g).to(k["dtype"]) / 2
    if k["nhwc"]:
        x0 = x0.contiguous(memory_format=torch.channels_last)
    pool = Pool2d("max", (k["h"], k["w"], k["c"]), k["pool"], k["strides"], k["padding"])
    t = _tail_of(pool, k["relu"], k["rate"])

    x = x0.clone().requires_grad_()
    key = 12345 + seed
    y = fused._TailFn.apply(x, lib, t, key)
    _, code, _, _ = fused._forward(lib, t, x0, key, save=True)
    keep_bits = (code >> 4) & 1

    xr = x0.clone().requires_grad_()
    yr = _reference(xr, pool, k["relu"], k["rate"], keep_bits)
    assert y.shape == yr.shape and y.dtype == yr.dtype, k
    assert torch.equal(y, yr), k
    gy = torch.randn(y.shape, generator=g).to(k["dtype"])
    y.backward(gy)
    yr.backward(gy)
    assert torch.equal(x.grad, xr.grad), k
    assert x.grad.is_contiguous(memory_format=torch.channels_last if k["nhwc"] else torch.contiguous_format)


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dropout_alone_and_after_relu_match_on_2d(dtype):
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(33, 35, generator=g).to(dtype)
    for relu in (False, True):
        t = fused.Tail(relu=relu, rate=0.25)
        x = x0.clone().requires_grad_()
        y = fused._TailFn.apply(x, lib, t, 7)
        keep = (fused._forward(lib, t, x0, 7, save=True)[1] >> 4) & 1
        xr = x0.clone().requires_grad_()
        yr = (torch.relu(xr) if relu else xr) * keep.to(dtype).mul_(1 / 0.75)
        assert torch.equal(y, yr)
        gy = torch.randn(y.shape, generator=g).to(dtype)
        y.backward(gy)
        yr.backward(gy)
        assert torch.equal(x.grad, xr.grad)


@needs_kernels
def test_nan_wins_the_window_like_torch():
    x = torch.tensor([[[[1.0, float("nan")], [5.0, 2.0]]]])
    pool = Pool2d("max", (2, 2, 1), 2, 2, "valid")
    y = fused.apply(x, _tail_of(pool, False, 0.0), training=False)
    assert torch.isnan(y).all() and torch.isnan(pool(x)).all()


@needs_kernels
def test_dropout_keep_rate_and_scale():
    x = torch.ones(64, 16, 32, 32)
    y = fused.apply(x, fused.Tail(rate=0.3), training=True, generator=torch.Generator().manual_seed(0))
    kept = (y != 0).double().mean().item()
    n = x.numel()
    assert abs(kept - 0.7) < 5 * (0.3 * 0.7 / n) ** 0.5  # binomial: within 5 standard deviations
    assert torch.equal(torch.unique(y), torch.tensor([0.0, 1 / 0.7]))
    # neighbouring elements are not correlated (a poor counter hash would show here)
    a, b = (y.flatten()[:-1] != 0).double(), (y.flatten()[1:] != 0).double()
    assert abs(((a - a.mean()) * (b - b.mean())).mean().item()) < 0.003


@needs_kernels
def test_masks_repeat_with_the_seed_and_not_with_the_thread_count(monkeypatch):
    x = torch.randn(32, 10, 26, 26).contiguous(memory_format=torch.channels_last)
    t = fused.Tail(2, 2, 2, 2, (0, 0, 0, 0), True, 0.1)
    before = torch.get_num_threads()
    outs = []
    try:
        for threads in (1, 2, 1):
            torch.set_num_threads(threads)
            outs.append(fused.apply(x, t, training=True, generator=torch.Generator().manual_seed(3)))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
    other = fused.apply(x, t, training=True, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(outs[0], other)
    # the next step draws a new key from the same generator: a new mask
    gen = torch.Generator().manual_seed(3)
    first, second = (fused.apply(x, t, training=True, generator=gen) for _ in range(2))
    assert torch.equal(first, outs[0]) and not torch.equal(first, second)


@needs_kernels
@pytest.mark.parametrize("model", ["nb000-cnn", "nb002-cnn", "nb003-cnn"])
def test_built_models_give_the_same_logits_and_gradients_as_torch_ops(model):
    """A training step with dropout off (its masks differ by design): the fused path and
    torch's modules give the same logits and parameter gradients."""
    torch.manual_seed(0)
    net = build(model).to(memory_format=torch.channels_last)
    for m in net.modules():
        if isinstance(m, Dropout):
            m.p = 0.0
    x = torch.rand(8, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    outs = {}
    for mode in ("fused", "torch"):
        use_kernels(net, mode)
        net.zero_grad()
        net.train()
        logits = net(x)
        logits.square().sum().backward()
        outs[mode] = logits.detach(), [p.grad.clone() for p in net.parameters()]
    assert torch.equal(outs["fused"][0], outs["torch"][0])
    for a, b in zip(outs["fused"][1], outs["torch"][1]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@needs_kernels
def test_training_model_uses_the_kernel_and_the_seeded_generator():
    torch.manual_seed(0)
    net = build("nb000-cnn").to(memory_format=torch.channels_last).train()
    x = torch.rand(4, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    torch.manual_seed(5)
    a = net(x)
    torch.manual_seed(5)
    b = net(x)
    c = net(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    with torch.profiler.profile() as prof:
        net(x).sum().backward()
    names = {e.name for e in prof.events()}
    assert "mnistlab::pool_tail" in names and "aten::max_pool2d_with_indices" not in names


@pytest.fixture
def fresh_library():
    native.library.cache_clear()
    fused._warned.clear()
    yield
    native.library.cache_clear()
    fused._warned.clear()


def test_without_a_compiler_the_model_runs_on_torch_ops_with_one_warning(monkeypatch, tmp_path, fresh_library):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    torch.manual_seed(0)
    net = build("nb000-cnn").train()
    x = torch.rand(4, 1, 28, 28)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            net(x).sum().backward()
    ours = [w for w in caught if issubclass(w.category, MnistlabWarning)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    assert "CC=/nonexistent/cc is not found" in str(ours[0].message) and "slower" in str(ours[0].message)
    assert fused.status() == (False, "the C compiler CC=/nonexistent/cc is not found")
    # the same numbers as torch's modules (eval: no dropout)
    net.eval()
    use_kernels(net, "torch")
    ref = net(x)
    use_kernels(net, "fused")
    assert torch.equal(net(x), ref)


def test_a_model_on_torchs_path_never_asks_for_the_kernels(monkeypatch, tmp_path, fresh_library):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    net = build("nb000-cnn", kernels="torch").train()
    assert build_model("nb000-cnn").kernels == "torch"  # a built model's default
    with warnings.catch_warnings():
        warnings.simplefilter("error", MnistlabWarning)
        net(torch.rand(4, 1, 28, 28)).sum().backward()
    with pytest.raises(ValueError, match="kernels path 'fast'"):
        use_kernels(net, "fast")


def test_a_failed_build_is_one_line_and_the_next_process_builds_again(monkeypatch, tmp_path, fresh_library):
    cc = tmp_path / "cc"
    cc.write_text("#!/bin/sh\necho 'cc: error: no such target' >&2\nexit 1\n")
    cc.chmod(0o755)
    monkeypatch.setenv("CC", str(cc))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lib_, why = native.library("pooltail")
    assert lib_ is None and "cc: error: no such target" in why and "\n" not in why
    assert not list((tmp_path / "cache").rglob("*.so"))


def test_hooked_layers_run_as_modules_so_their_hooks_fire():
    net = build("nb000-cnn").eval()
    seen = []
    pool = next(m for m in net if isinstance(m, Pool2d))
    pool.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    net(torch.rand(2, 1, 28, 28))
    assert seen == [torch.Size([2, 10, 13, 13])]


def test_doctor_says_which_path_the_tail_takes(monkeypatch, capsys, tmp_path, fresh_library):
    from mnistlab.cli import main
    if lib is not None:  # built into this test's own cache first, so the test passes alone too
        assert fused._lib() is not None
        assert main(["doctor"]) == 0
        out = capsys.readouterr().out
        assert "CPU max-pool / ReLU / dropout tail (kernels auto): fused native kernels (" in out
        assert "timed against torch's ops per model and batch" in out and "kernels choices" in out
        native.library.cache_clear()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", "/nonexistent/cc")
    assert main(["doctor"]) == 0
    assert ("tail (kernels auto): torch ops: the C compiler CC=/nonexistent/cc is not found (nothing to time"
            in capsys.readouterr().out)


@needs_kernels
@pytest.mark.parametrize("strides", [1, 2, 3])
def test_a_one_cell_pool_with_strides_subsamples(strides):
    """pool 1 with strides > 1 is a subsampling, not an identity (a hypothesis case)."""
    x = torch.randn(2, 3, 7, 7).contiguous(memory_format=torch.channels_last)
    pool = Pool2d("max", (7, 7, 3), 1, strides, "valid")
    assert torch.equal(fused.apply(x, _tail_of(pool, False, 0.0), training=False), pool(x))


@needs_kernels
def test_inference_runs_torchs_modules_and_training_the_kernel():
    net = build("nb000-cnn").to(memory_format=torch.channels_last)
    x = torch.rand(4, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    for mode, grad, fused_expected in (("eval", False, False), ("train", True, True), ("eval", True, True)):
        getattr(net, mode)()
        with torch.set_grad_enabled(grad), torch.profiler.profile() as prof:
            net(x)
        names = {e.name for e in prof.events()}
        assert ("mnistlab::pool_tail" in names) == fused_expected, (mode, grad)


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_outputs_and_gradients_do_not_depend_on_the_thread_count(dtype):
    x0 = torch.randn(16, 10, 26, 26).to(dtype).contiguous(memory_format=torch.channels_last)
    t = fused.Tail(3, 3, 2, 2, (0, 1, 0, 1), True, 0.3)  # overlapping windows, padding
    gy = None
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            x = x0.clone().requires_grad_()
            y = fused._TailFn.apply(x, lib, t, 99)
            gy = torch.randn(y.shape, generator=torch.Generator().manual_seed(0)).to(dtype) if gy is None else gy
            y.backward(gy)
            results.append((y.detach(), x.grad))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
