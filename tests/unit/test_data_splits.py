"""make_splits: Keras validation_split, seeded/stratified fractions, test-as-validation."""
import numpy as np
import pytest
import torch

from mnistlab.data import Dataset, Splits, make_splits
from mnistlab.errors import MnistlabError


def ds(n=100, k=5, test=20):
    x = torch.arange(n, dtype=torch.int64).remainder(256).to(torch.uint8).view(n, 1, 1, 1)
    y = torch.arange(n) % k
    xt = torch.zeros(test, 1, 1, 1, dtype=torch.uint8) if test else None
    yt = torch.arange(test) % k if test else None
    return Dataset("t", x, y, xt, yt, [str(i + 1) for i in range(k)])


def test_keras_validation_split_is_last_fraction_unshuffled():
    s = make_splits(ds(), validation_split=0.2)
    assert isinstance(s, Splits) and s.sizes() == {"train": 80, "val": 20, "test": 20}
    assert s.x_train[:, 0, 0, 0].tolist() == list(range(80))
    assert s.x_val[:, 0, 0, 0].tolist() == list(range(80, 100))
    assert not s.val_is_test and s.classes == ["1", "2", "3", "4", "5"]


def test_keras_split_index_rounds_like_keras():
    # Keras: split_at = int(n * (1 - f)); 10 * 0.75 = 7.5 -> 7 train, 3 val
    with pytest.warns(UserWarning, match="lacks 2 of the 5 classes"):  # labels 0..4 cycle; val = 2,3,4
        s = make_splits(ds(10, test=0), validation_split=0.25)
    assert s.sizes() == {"train": 7, "val": 3, "test": 0}


def test_no_validation_by_default_and_zero_split():
    for s in (make_splits(ds()), make_splits(ds(), validation_split=0.0), make_splits(ds(), validation="none")):
        assert s.x_val is None and len(s.x_train) == 100 and len(s.x_test) == 20


def test_three_way_split_like_notebook_004():
    """90/5/5 of a train-only source, identical to two sklearn train_test_split calls."""
    from sklearn.model_selection import train_test_split

    d = ds(200, test=0)
    s = make_splits(d, split=[0.9, 0.05, 0.05], split_seed=0)
    assert s.sizes() == {"train": 180, "val": 10, "test": 10}
    idx = np.arange(200)
    tr, rest = train_test_split(idx, test_size=0.10, random_state=0)
    te, va = train_test_split(rest, test_size=0.5, random_state=0)
    assert s.x_train[:, 0, 0, 0].tolist() == (tr % 256).tolist()
    assert s.x_val[:, 0, 0, 0].tolist() == (va % 256).tolist()
    assert s.x_test[:, 0, 0, 0].tolist() == (te % 256).tolist()
    everything = sorted(s.x_train[:, 0, 0, 0].tolist() + s.x_val[:, 0, 0, 0].tolist() + s.x_test[:, 0, 0, 0].tolist())
    assert everything == sorted((idx % 256).tolist())


def test_split_is_seeded():
    a = make_splits(ds(), split=[0.8, 0.2], split_seed=1)
    b = make_splits(ds(), split=[0.8, 0.2], split_seed=1)
    c = make_splits(ds(), split=[0.8, 0.2], split_seed=2)
    assert torch.equal(a.x_val, b.x_val) and not torch.equal(a.x_val, c.x_val)
    assert len(a.x_test) == 20   # two fractions keep the source's test set


def test_stratified_split_keeps_class_balance():
    s = make_splits(ds(100, k=5), split=[0.8, 0.2], stratify=True)
    assert torch.bincount(s.y_val, minlength=5).tolist() == [4, 4, 4, 4, 4]


def test_test_as_validation_warns():
    with pytest.warns(UserWarning, match="no longer an unbiased"):
        s = make_splits(ds(), validation="test")
    assert s.val_is_test and s.x_val is s.x_test and len(s.x_train) == 100


@pytest.mark.parametrize("kwargs, msg", [
    (dict(validation_split=0.2, split=[0.8, 0.2]), "not both"),
    (dict(validation_split=1.0), r"\[0, 1\)"),
    (dict(validation_split=0.2, stratify=True), "'stratify' applies to split"),
    (dict(split=[0.5, 0.4]), "must sum to 1"),
    (dict(split=[0.9, 0.05, 0.05]), "already has a test set"),
    (dict(split="abc"), "list of 2 or 3 fractions"),
    (dict(validation="val"), "'validation' must be one of"),
    (dict(validation="none", validation_split=0.1), "validation: none"),
    (dict(validation="test", validation_split=0.1), "validation: test"),
    (dict(validation="test", split=[0.8, 0.2]), "validation: test"),
])
def test_bad_split_options(kwargs, msg):
    with pytest.raises(MnistlabError, match=msg):
        make_splits(ds(), **kwargs)


def test_test_as_validation_needs_test_set():
    with pytest.raises(MnistlabError, match="has none"):
        make_splits(ds(test=0), validation="test")


def test_one_class_training_set_says_it_needs_two_classes():
    one = Dataset("one", torch.zeros(10, 1, 1, 1, dtype=torch.uint8), torch.zeros(10, dtype=torch.int64),
                  None, None, ["cat"])
    with pytest.raises(MnistlabError, match="at least two classes"):
        make_splits(one, validation_split=0.2)


def test_array_source_keeps_last_fraction_but_warns_on_missing_classes():
    sorted_ds = ds(100, k=5, test=0)
    sorted_ds.y_train = torch.arange(100) // 20  # sorted by class: the last 20% is class 4 only
    with pytest.warns(UserWarning, match="lacks 4 of the 5 classes"):
        s = make_splits(sorted_ds, validation_split=0.2)
    assert s.x_val[:, 0, 0, 0].tolist() == list(range(80, 100))  # still Keras' last fraction


def test_image_folders_shuffle_with_the_seed_before_validation_split(tmp_path):
    from PIL import Image

    from mnistlab.data import load_dataset
    for k, name in enumerate(["a", "b", "c", "d"]):
        (tmp_path / name).mkdir()
        for i in range(10):
            Image.fromarray(np.full((4, 4), 10 * k + i, np.uint8)).save(tmp_path / name / f"{i}.png")
    folders = load_dataset(tmp_path)
    s = make_splits(folders, validation_split=0.25, split_seed=0)
    assert sorted(set(s.y_val.tolist())) == [0, 1, 2, 3]  # unshuffled it would be class 'd' alone
    perm = np.random.default_rng(0).permutation(40)  # the documented rule: shuffle, then last f
    assert s.y_val.tolist() == folders.y_train[perm[30:]].tolist()
    other = make_splits(folders, validation_split=0.25, split_seed=1)
    assert other.y_val.tolist() != s.y_val.tolist()
