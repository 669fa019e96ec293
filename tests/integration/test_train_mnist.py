"""Notebook 000's CNN, one epoch on real MNIST: the whole fit path, data to metrics.json."""
import pytest
import torch

from mnistlab.train import train_run, open_run

pytestmark = pytest.mark.integration


@pytest.fixture
def one_thread():
    """On a shared 2-core machine, 2 spinning OpenMP threads run 3-6x slower than 1."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_nb000_cnn_one_epoch_beats_90_percent(data_root, tmp_path, one_thread):
    recipe = {"name": "nb000-1ep", "model": "nb000-cnn", "data": {"dataset": "mnist", "validation_split": 0.2},
              "optimizer": {"name": "rmsprop"}, "batch_size": 64, "epochs": 1, "seed": 0, "device": "cpu"}
    run = open_run(train_run(recipe, out=tmp_path, quiet=True))
    assert run.metrics["test_accuracy"] > 0.90
    assert run.metrics["params"] == 5899
    assert len(run.history.rows) == 1 and run.history["val_accuracy"][0] > 0.88
