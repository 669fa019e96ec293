"""The epoch loop reads numbers from the device once per epoch (a GPU waits only then)."""
import contextlib

import pytest
import torch

from mnistlab.models import build, l2_penalty
from mnistlab.train import load_recipe
from mnistlab.train.loop import epoch_values, evaluate, train_epoch
from mnistlab.train.optim import make_optimizer

SPEC = {"input_shape": [6, 6, 1], "layers": [
    {"type": "conv2d", "filters": 3, "kernel": 3, "activation": "relu"},
    {"type": "flatten"}, {"type": "dropout", "rate": 0.2},
    {"type": "dense", "units": 3, "activation": "softmax", "l2": 0.001}]}


def data(device, n=96):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randint(0, 60, (n, 6, 6, 1), generator=g, dtype=torch.uint8)
    x[torch.arange(n), y * 2, 1] = 250
    return x.to(device), y.to(device)


def keras_adam(model):
    """mnistlab's own Adam (Keras update rule), as train_run() makes it."""
    cfg = load_recipe({"model": SPEC, "optimizer": {"name": "adam", "lr": 0.01}}).optimizer
    return make_optimizer(model.parameters(), cfg)


def one_epoch(device):
    torch.manual_seed(0)
    model = build(SPEC).to(device)
    opt = keras_adam(model)
    x, y = data(device)
    logs = train_epoch(model, opt, x, y, batch_size=16, generator=torch.Generator().manual_seed(1),
                       lr_at=lambda i, n: 0.01, penalty=l2_penalty, sync=False)
    val = evaluate(model, x[:30], y[:30], penalty=l2_penalty, sync=False)
    return logs, val


@contextlib.contextmanager
def count_host_reads(monkeypatch):
    reads = []
    for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
        original = getattr(torch.Tensor, name)

        def spy(self, *a, _original=original, _name=name, **kw):
            reads.append(_name)
            return _original(self, *a, **kw)
        monkeypatch.setattr(torch.Tensor, name, spy)
    yield reads
    monkeypatch.undo()


def test_an_epoch_reads_its_numbers_from_the_device_once(monkeypatch):
    with count_host_reads(monkeypatch) as reads:
        logs, val = one_epoch(torch.device("cpu"))
        assert reads == []  # training and validation left every number on the device
        loss, acc, val_loss, val_acc = epoch_values(logs["sums"], val)
        assert reads == ["tolist"]
    assert loss > 0 and 0 <= acc <= 1 and val_loss > 0 and 0 <= val_acc <= 1


def test_deferred_numbers_equal_the_synchronous_ones():
    logs, val = one_epoch(torch.device("cpu"))
    torch.manual_seed(0)
    model = build(SPEC)
    opt = keras_adam(model)
    x, y = data("cpu")
    sync_logs = train_epoch(model, opt, x, y, batch_size=16, generator=torch.Generator().manual_seed(1),
                            lr_at=lambda i, n: 0.01, penalty=l2_penalty)
    assert [sync_logs["loss"], sync_logs["accuracy"]] == logs["sums"].tolist()
    assert list(evaluate(model, x[:30], y[:30], penalty=l2_penalty)) == val.tolist()


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="no CUDA GPU on this machine: the CUDA path runs only where one is present")
def test_cuda_epoch_keeps_data_on_the_device_and_syncs_once(tmp_path):
    """On a GPU, training and validation never wait for the device (sync debug mode turns any
    wait into an error); the one read at the end gives finite numbers; train_run() runs end to end."""
    device = torch.device("cuda")
    one_epoch(device)  # warm-up: cuDNN/cuBLAS handles are created on first use
    torch.cuda.set_sync_debug_mode("error")
    try:
        logs, val = one_epoch(device)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert logs["sums"].device.type == "cuda" and val.device.type == "cuda"
    values = epoch_values(logs["sums"], val)
    assert all(v == v and abs(v) < 1e6 for v in values)

    from mnistlab.data import Dataset
    from mnistlab.train import train_run, open_run
    x, y = data("cpu")
    ds = Dataset("tiny", x, y, x[:30].clone(), y[:30].clone(), ["a", "b", "c"])
    run = open_run(train_run({"name": "tiny", "model": SPEC, "data": {"validation_split": 0.25}, "batch_size": 16,
                        "epochs": 2, "device": "cuda", "optimizer": {"name": "adam", "lr": 0.01}},
                       dataset=ds, out=tmp_path, quiet=True))
    assert run.metrics["device"].startswith("cuda") and len(run.history.rows) == 2
    assert run.config["eval_batch"] == 4096
