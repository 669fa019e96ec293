"""Every zoo model written to .keras by mnistlab and loaded by real Keras 3 (torch backend)
predicts all 10,000 MNIST test images as mnistlab does: softmax outputs within 1e-5, the same
class wherever the top two classes are not tied within that tolerance (untrained weights,
with perturbed BatchNorm statistics; docs/keras.md)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from mnistlab.data import load_dataset
from mnistlab.models import ZOO, build
from mnistlab.models.keras import write_keras




@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_export_predicts_the_mnist_test_set_like_mnistlab(keras, data_root, tmp_path, name):
    x = load_dataset("mnist").x_test.numpy()
    torch.manual_seed(0)
    net = build(name).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
        ours = torch.cat([torch.softmax(net(torch.from_numpy(x[i:i + 1000]).permute(0, 3, 1, 2).float() / 255), 1)
                          for i in range(0, len(x), 1000)]).numpy()
    write_keras(tmp_path / "m.keras", name, net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(keras.saving.load_model(tmp_path / "m.keras").predict(x.astype(np.float32) / 255,
                                                                                   batch_size=1000, verbose=0))
    assert np.abs(ours - theirs).max() <= 1e-5
    top2 = np.sort(ours, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-5
    assert (ours.argmax(1) == theirs.argmax(1))[clear].all()
    assert clear.sum() >= 9900  # the tolerance leaves almost every image decided
