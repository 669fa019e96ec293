"""Issue 17 item 1: BatchNormalization's moving statistics follow Keras, not torch.

Expected values come from Keras' documented algorithm in numpy:
moving = moving * momentum + batch * (1 - momentum), batch variance BIASED (ops.moments),
momentum 0.99, epsilon 1e-3; inference: gamma * (x - moving_mean) / sqrt(moving_var + eps) + beta.
"""
import numpy as np
import pytest
import torch

from mnistlab.models import build


def keras_moving(batches, axes, momentum=0.99):
    c = batches[0].shape[1]
    mean, var = np.zeros(c), np.ones(c)  # Keras initialises moving mean 0, moving variance 1
    for b in batches:
        mean = mean * momentum + b.mean(axis=axes) * (1 - momentum)
        var = var * momentum + b.var(axis=axes) * (1 - momentum)  # np.var: biased (ddof=0)
    return mean, var


@pytest.mark.parametrize("spec_layers, shape, axes", [
    ([{"type": "flatten"}, {"type": "batchnorm"}], (128, 4, 3, 1), (0,)),          # BN after Flatten
    ([{"type": "batchnorm"}, {"type": "flatten"}], (128, 4, 3, 2), (0, 2, 3)),     # BN on feature maps
])
def test_moving_statistics_match_keras_after_five_batches(spec_layers, shape, axes):
    n, h, w, c = shape
    model = build({"input_shape": [h, w, c], "layers": spec_layers}).train()
    rng = np.random.default_rng(0)
    batches_nhwc = [rng.normal(3.0, 2.0, (n, h, w, c)).astype(np.float32) for _ in range(5)]
    seen = []
    for b in batches_nhwc:
        x = torch.from_numpy(b).permute(0, 3, 1, 2)
        model(x)
        if axes == (0,):  # Flatten in Keras (H, W, C) order feeds BN1d
            seen.append(b.reshape(n, -1).astype(np.float64))
        else:
            seen.append(b.transpose(0, 3, 1, 2).astype(np.float64))
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))
    mean, var = keras_moving(seen, axes)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-5)
    # torch's own update would be n/(n-1) larger in the variance's batch part: clearly apart
    unbiased = keras_moving([s * np.sqrt(n / (n - 1)) + 0 for s in seen], axes)[1]
    assert not np.allclose(bn.running_var.numpy(), unbiased, rtol=1e-4)

    # inference (eval, as export and predict run it) uses exactly these statistics
    model.eval()
    x = seen[0][:8]
    out = model(torch.from_numpy(batches_nhwc[0][:8]).permute(0, 3, 1, 2)).detach().numpy()
    gamma, beta = bn.weight.detach().numpy(), bn.bias.detach().numpy()
    shp = (1, -1) + (1,) * (x.ndim - 2)
    want = gamma.reshape(shp) * (x - mean.reshape(shp)) / np.sqrt(var.reshape(shp) + 1e-3) + beta.reshape(shp)
    if want.ndim == 4:  # Flatten after the feature maps: Keras (H, W, C) order
        want = want.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out, want.reshape(8, -1), rtol=1e-4, atol=1e-5)


def test_state_dict_keys_are_torchs_so_checkpoints_resume():
    spec = {"input_shape": [4, 4, 1], "layers": [{"type": "batchnorm"}, {"type": "flatten"}]}
    a, b = build(spec).train(), build(spec)
    a(torch.randn(16, 1, 4, 4) * 3)
    b.load_state_dict(a.state_dict())
    assert set(a.state_dict()) == set(b.state_dict())
    bn_a, bn_b = (next(m for m in net.modules() if hasattr(m, "running_var")) for net in (a, b))
    assert torch.equal(bn_a.running_var, bn_b.running_var) and int(bn_b.num_batches_tracked) == 1
