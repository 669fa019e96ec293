"""Issue 22 item 2: the data's identity (data/identity.py). What take() names a slice loads back
through load_dataset, a run records a name the CLI can load again, and two datasets are one
identity exactly when their content is the same."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from mnistlab.data import from_arrays, load_dataset
from mnistlab.data.formats import Raw
from mnistlab.data.identity import parse_slice, sliced
from mnistlab.errors import MnistlabError
from tinydata import tiny_recipe, write_tiny_data


@pytest.fixture()
def data(tmp_path):
    return write_tiny_data(tmp_path / "tiny.npz")


def test_a_file_is_named_by_its_absolute_path(data, monkeypatch):
    with monkeypatch.context() as m:
        m.chdir(data.parent)
        ds = load_dataset("tiny.npz")
    assert ds.reference == str(data.resolve())
    assert load_dataset(ds.reference).identity == ds.identity


@pytest.mark.parametrize("train, test, suffix", [(100, None, "[:100]"), (100, 20, "[:100,:20]"),
                                                 (5000, 0, "[:240,:0]")])
def test_take_slices_load_back_by_their_name(data, train, test, suffix):
    ds = load_dataset(data).take(train, test)
    assert ds.name == "tiny.npz" + suffix and ds.reference == str(data.resolve()) + suffix
    again = load_dataset(ds.reference)
    assert again.identity == ds.identity and len(again.x_train) == len(ds.x_train)
    assert len(again.x_test) == len(ds.x_test)


def test_a_slice_of_a_slice_is_one_slice(data):
    ds = load_dataset(data).take(200, 30).take(100)
    assert ds.reference.endswith("[:100,:30]")
    assert load_dataset(ds.reference).identity == ds.identity
    assert sliced("mnist[:50]", 100, 10) == "mnist[:50,:10]"
    assert parse_slice("mnist[:2000]") == ("mnist", 2000, None)
    assert parse_slice("data[1].npz") is None


def test_identity_is_the_content_not_the_place(data, tmp_path):
    a = load_dataset(data)
    copy = tmp_path / "copy.npz"
    copy.write_bytes(data.read_bytes())
    assert load_dataset(copy).identity.sha256 == a.identity.sha256  # same data elsewhere
    other = load_dataset(write_tiny_data(tmp_path / "other.npz", seed=1))
    assert other.identity.sha256 != a.identity.sha256
    assert a.take(239).identity.sha256 != a.identity.sha256
    assert a.identity.differs(a.identity.record()) is None
    assert "other.npz" in a.identity.differs(other.identity.record())


def test_arrays_in_memory_say_they_must_be_passed_back():
    (xt, yt), (xe, ye) = __import__("tinydata").tiny_arrays()
    ds = from_arrays("mine", Raw(xt, yt, xe, ye))
    assert ds.reference == "memory:mine" and ds.identity.in_memory
    with pytest.raises(MnistlabError, match="given in memory.*pass the same data back"):
        load_dataset(ds.reference)


def test_a_run_on_a_slice_records_a_name_resume_and_eval_load(tmp_path, data):
    from mnistlab.runs import open_run
    from mnistlab.train import train_run

    ds = load_dataset(data).take(120, 40)
    run = train_run(tiny_recipe(data, epochs=1), dataset=ds, out=tmp_path / "runs", quiet=True)
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["data"]["dataset"] == ds.reference
    splits = open_run(run).splits()  # what eval and report load: the slice, not the whole file
    assert len(splits.x_test) == 40 and len(splits.x_train) + len(splits.x_val) == 120
    (run / "metrics.json").unlink()  # unfinished: resume it from its folder alone
    again = train_run(resume=run, quiet=True, epochs=2)
    assert np.isfinite(open_run(again).metrics["test_accuracy"])
