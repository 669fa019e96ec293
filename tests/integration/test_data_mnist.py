"""Real MNIST from the data directory (../shared/data in CI; fails there when missing)."""
import time

import pytest
import torch

from mnistlab import settings
from mnistlab.cli import main
from mnistlab.data import load_dataset, make_splits

pytestmark = pytest.mark.integration

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(scope="module")
def mnist(data_root):
    settings.set_data_dir(None)
    t0 = time.perf_counter()
    ds = load_dataset("mnist")
    return ds, time.perf_counter() - t0


def test_mnist_sizes_counts_checksums(mnist):
    ds, seconds = mnist
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_train.dtype == torch.uint8
    assert ds.x_test.shape == (10000, 28, 28, 1) and ds.y_test.dtype == torch.int64
    assert torch.bincount(ds.y_train, minlength=10).tolist() == TRAIN_COUNTS
    assert ds.classes == [str(i) for i in range(10)]
    assert len(ds.checksums) == 4 and all(s.startswith("ok (sha256)") for s in ds.checksums.values())
    assert seconds < 10, f"loading MNIST took {seconds:.1f} s"   # ~0.3 s measured; loose for busy CI


def test_mnist_keras_validation_split(mnist):
    ds, _ = mnist
    s = make_splits(ds, validation_split=0.2)
    assert (len(s.x_train), len(s.x_val), len(s.x_test)) == (48000, 12000, 10000)
    assert torch.equal(s.y_val, ds.y_train[48000:])


def test_cli_info_mnist(data_root, capsys):
    try:
        assert main(["data", "info", "mnist", "--data-dir", str(data_root)]) == 0
    finally:
        settings.set_data_dir(None)
    out = capsys.readouterr().out
    assert "60,000 train, 10,000 test" in out and "mean 0.1307, std 0.3081" in out
    assert out.count("ok (sha256)") == 4


def test_builtin_slice_names_resolve(data_root):
    """take() names a slice of a built-in as load_dataset reads it back (what a run, a sweep
    and best_recipe.yaml record)."""
    ds = load_dataset("mnist").take(2000)
    assert ds.reference == ds.name == "mnist[:2000]"
    assert load_dataset("mnist[:2000]").identity == ds.identity
