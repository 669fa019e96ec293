"""Quantisation-aware training: int8 rounding in the forward pass, plain fp32 weights saved."""
import torch
from tinydata import tiny_recipe, write_tiny_data

from mnistlab.models import build
from mnistlab.train import train_run, open_run
from mnistlab.train.qat import ActivationRange, enable, fake_quantize_weight


def test_weights_round_per_channel_to_int8_with_a_straight_through_gradient():
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    q = fake_quantize_weight(w)
    scale = w.detach().abs().flatten(1).amax(1).view(-1, 1, 1, 1) / 127
    levels = q.detach() / scale
    assert torch.allclose(levels, levels.round(), atol=1e-4) and levels.abs().max() <= 127 + 1e-4
    q.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))


def test_activation_rounding_has_256_levels_with_an_exact_zero():
    fq, m = ActivationRange(momentum=1.0), torch.nn.ReLU().train()
    x = torch.linspace(-1, 3, 1000)
    y = fq(m, (x,), torch.relu(x))
    assert len(torch.unique(y)) <= 256 and bool((y[x <= 0] == 0).all())


def test_quantize_aware_recipe_trains_and_saves_plain_weights(tmp_path):
    r = tiny_recipe(write_tiny_data(tmp_path / "d.npz"), epochs=2)
    r["quantize_aware"] = True
    run = open_run(train_run(r, out=tmp_path / "runs", quiet=True))
    assert run.config["quantize_aware"] is True
    assert set(run.model.state_dict()) == set(build(r["model"]).state_dict())
    assert run.history["accuracy"][-1] > 0.5  # History: per-epoch lists, as Keras


def test_enable_changes_the_forward_pass_only():
    torch.manual_seed(0)
    model = build({"input_shape": [8, 8, 1], "layers": [
        {"type": "conv2d", "filters": 3, "kernel": 3}, {"type": "flatten"}, {"type": "dense", "units": 2}]})
    x = torch.rand(5, 1, 8, 8)
    before = model.eval()(x)
    keys = list(model.state_dict())
    enable(model).train()(x)
    after = model.eval()(x)
    assert not torch.equal(before, after) and torch.allclose(before, after, atol=0.1)
    assert list(model.state_dict()) == keys
