"""mnistlab.fit as a notebook calls it: own nn.Module, in-memory data, callbacks, TensorBoard."""
import numpy as np
import pytest
import torch

import mnistlab
from mnistlab.data.datasets import Dataset
from mnistlab.errors import MnistlabError
from tinydata import tiny_arrays


def _toy(seed=0):
    (xt, yt), (xe, ye) = tiny_arrays(240, 60, seed)
    t = lambda x: torch.from_numpy(x)  # noqa: E731
    return Dataset("toy-in-memory", t(xt[..., None]), t(yt), t(xe[..., None]), t(ye), ["a", "b", "c"])


class Net(torch.nn.Module):
    def __init__(self, k=3):
        super().__init__()
        self.fc = torch.nn.Linear(64, k)

    def forward(self, x):
        return self.fc(x.flatten(1))


class Log(mnistlab.Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append("begin")

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append((epoch, sorted(logs)))

    def on_train_end(self, logs=None):
        self.calls.append(("end", sorted(logs)))  # Keras: the last epoch's logs

    def on_test_end(self, logs=None):
        self.calls.append(("test", "test_accuracy" in logs))  # fit's final test


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own")
    log = Log()
    run = mnistlab.fit(Net(), dataset=_toy(), epochs=2, batch_size=32, optimizer="sgd", lr=0.1,
                       validation_split=0.25, seed=0, device="cpu", out=tmp / "runs", quiet=True,
                       callbacks=[log])
    return run, log


def test_own_module_trains_and_keeps_everything(own):
    run, log = own
    assert (run.path / "model.safetensors").is_file() and (run.path / "report.html").is_file()
    assert log.calls[0] == "begin" and log.calls[-1] == ("test", True)
    assert log.calls[-2] == ("end", ["accuracy", "epoch", "loss", "lr", "seconds", "val_accuracy", "val_loss"])
    assert log.calls[1] == (0, ["accuracy", "epoch", "loss", "lr", "seconds", "val_accuracy", "val_loss"])
    assert len(run.history["loss"]) == 2
    ev = run.evaluate()  # in-memory data: the saved test split, never "unknown dataset"
    assert ev.metrics["n"] == 60 and ev.accuracy == pytest.approx(run.metrics["test_accuracy"])
    assert mnistlab.evaluate(run).accuracy == ev.accuracy
    assert mnistlab.evaluate(run, dataset=_toy()).accuracy == ev.accuracy  # the data passed back


def test_reload_needs_the_module(own):
    run, _ = own
    with pytest.raises(MnistlabError, match=r"load_run\(path, model="):
        mnistlab.load_run(run.path).model
    again = mnistlab.load_run(run.path, model=Net)
    x = _toy().x_test[:7].numpy()
    np.testing.assert_allclose(again.predict_proba(x), run.predict_proba(x), atol=1e-6)
    assert set(again.predict(x)) <= {"a", "b", "c"}
    with pytest.raises(MnistlabError, match="do not fit"):
        mnistlab.load_run(run.path, model=Net(k=5))


def test_wrong_output_fails_before_training(tmp_path):
    with pytest.raises(MnistlabError, match=r"outputs \(1, 10\).*3 classes"):
        mnistlab.fit(Net(k=10), dataset=_toy(), epochs=1, out=tmp_path, quiet=True)
    assert not any(p.name[0] != "." for p in tmp_path.iterdir())  # no run was made


def test_wrong_keyword_is_the_cli_did_you_mean(tmp_path):
    with pytest.raises(MnistlabError, match=r"unknown recipe key 'batchsize' \(did you mean 'batch_size'\?\)"):
        mnistlab.fit(Net(), dataset=_toy(), batchsize=3, out=tmp_path)


def test_tensorboard_writes_per_epoch_scalars(tmp_path):
    pytest.importorskip("tensorboard")  # the optional mnistlab[tensorboard] extra
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    mnistlab.fit(Net(), dataset=_toy(), epochs=2, batch_size=32, optimizer="sgd", lr=0.1, validation_split=0.25,
                 device="cpu", out=tmp_path / "runs", quiet=True, report=False,
                 callbacks=[mnistlab.TensorBoard(tmp_path / "tb")])
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"epoch_loss", "epoch_val_accuracy", "epoch_lr"} <= set(tags)
    assert [e.step for e in acc.Scalars("epoch_loss")] == [1, 2]


def test_in_memory_run_is_evaluated_later_by_the_cli(tmp_path, capsys):
    from mnistlab.cli import main
    spec = {"input_shape": [8, 8, 1], "layers": [{"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"}]}
    run = mnistlab.fit({"model": spec}, dataset=_toy(), epochs=1, batch_size=32, optimizer="sgd", lr=0.1,
                       device="cpu", out=tmp_path, quiet=True)
    assert (run.path / "test_data.npz").is_file()
    assert main(["eval", str(run.path)]) in (0, None)  # was "unknown dataset 'toy-in-memory'"
    assert "accuracy" in capsys.readouterr().out
