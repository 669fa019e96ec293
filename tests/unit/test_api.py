"""The notebook API: every public name callable after every subpackage is imported, objects
that show themselves (text and HTML), Figures from every plot, fit() keywords."""
import importlib
import inspect
import pkgutil

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import mnistlab
from mnistlab.errors import MnistlabError
from tests.unit.tinydata import tiny_recipe, write_tiny_data


def _import_every_subpackage():
    for mod in pkgutil.walk_packages(mnistlab.__path__, "mnistlab."):
        if mod.name.endswith("__main__"):
            continue
        importlib.import_module(mod.name)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    data = write_tiny_data(tmp / "tiny.npz")
    from mnistlab.train import train_run
    return mnistlab.load_run(train_run(tiny_recipe(data), out=tmp / "runs", quiet=True))


def _public_types():
    return {name: type(getattr(mnistlab, name)) for name in mnistlab.__all__}


def test_every_public_name_has_one_type_whatever_was_imported(run):
    before = _public_types()
    _import_every_subpackage()
    assert _public_types() == before  # importing mnistlab.evaluation/sweeps/... replaces nothing
    for verb in ("evaluate", "sweep", "tune", "fit", "load_run", "summary"):
        assert inspect.isfunction(getattr(mnistlab, verb)), verb
    for name in mnistlab.__all__:
        obj = getattr(mnistlab, name)
        assert obj is not None, name
        if name[0].islower() and name != "__version__":  # every public function stays callable
            assert callable(obj), name
    subpackages = {m.name for m in pkgutil.iter_modules(mnistlab.__path__) if m.ispkg}
    assert not subpackages & set(mnistlab.__all__), "a verb and a package share a name"
    for pkg in subpackages:  # a lazily exported name never shadows a submodule (sweep.tune was both)
        module = importlib.import_module(f"mnistlab.{pkg}")
        submodules = {m.name for m in pkgutil.iter_modules(module.__path__)}
        assert not submodules & set(getattr(module, "__all__", ())), pkg


def test_one_run_class(run):
    from mnistlab.runs import Run, open_run
    assert type(run) is mnistlab.Run and isinstance(run, Run)
    assert run.path == run.dir and run.model is not None
    reader = open_run(run.path)
    assert not isinstance(reader, mnistlab.Run)  # the reader alone, for code below the API
    # the same attributes, of the same types, whichever path made the Run
    for name in ("dir", "path", "name", "config", "history", "metrics", "classes"):
        assert type(getattr(reader, name)) is type(getattr(run, name)), name
    assert reader.history == run.history and reader.history.rows == run.history.rows
    assert mnistlab.evaluate(open_run(run.path)).accuracy == run.evaluate().accuracy


def test_evaluate_takes_a_run_a_folder_or_its_files(run):
    ev = mnistlab.evaluate(run)
    assert ev.accuracy == pytest.approx(run.metrics["test_accuracy"], abs=1e-6)  # float32 sums in training
    assert mnistlab.evaluate(str(run.path)).accuracy == ev.accuracy
    assert run.evaluate().accuracy == ev.accuracy
    from mnistlab.runs import open_run as read_run
    assert mnistlab.evaluate(read_run(run.path)).accuracy == ev.accuracy  # was a raw TypeError
    with pytest.raises(MnistlabError, match="not a run directory"):
        mnistlab.evaluate(run.path.parent)
    assert "dataset" in inspect.signature(mnistlab.evaluate).parameters


def test_history_is_keras_shaped(run):
    h = run.history
    assert list(h) [:4] == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert h.epoch == [1, 2] and len(h["val_accuracy"]) == 2
    assert all(isinstance(v, float) for v in h["loss"])
    assert "val_accuracy" in h._repr_html_() and "val_accuracy" in repr(h)


def test_displays_and_figures(run):
    ev = run.evaluate()
    assert ev.confusion_matrix.shape == (3, 3) and ev.confusion_matrix.sum() == 60
    assert "precision" in ev.report and "<img" in ev._repr_html_() and "accuracy" in repr(ev)
    assert isinstance(run.plot(), Figure) and isinstance(ev.plot(), Figure) and isinstance(ev.show_errors(), Figure)
    assert "<img" in run._repr_html_() and run.name in repr(run)
    s = mnistlab.summary("nb000-cnn")
    assert "Total params: 5,899" in repr(s) and s._repr_html_().startswith("<pre>")
    from mnistlab.api import make_recipe
    assert "validation_split: 0.2" in make_recipe("nb000-cnn")._repr_html_()


def test_dataset_card_and_show():
    from mnistlab.data.datasets import Dataset
    x = torch.zeros((30, 8, 8, 1), dtype=torch.uint8)
    y = torch.tensor([0, 1, 2] * 10)
    ds = Dataset("toy", x, y, x[:6], y[:6], ["a", "b", "c"])
    assert "30 train + 6 test" in repr(ds) and "<table>" in ds._repr_html_()
    assert "10" in repr(ds).splitlines()[2]  # per-class counts
    fig = ds.show(12)
    assert isinstance(fig, Figure)
    with pytest.raises(MnistlabError, match="split"):
        ds.show(5, split="val")


def test_predict_takes_keras_floats(run):
    x = np.load(run.config["data"]["dataset"])["x_test"][:10]
    p_uint8 = run.predict_proba(x)
    np.testing.assert_allclose(run.predict_proba(x.astype("float32") / 255), p_uint8, atol=1e-6)
    assert run.predict(x).tolist() == p_uint8.argmax(1).tolist()
    with pytest.raises(MnistlabError, match=r"\[0, 1\]"):
        run.predict(x.astype("float32"))


def test_module_summary_counts_every_parameter():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3)
            self.bn = torch.nn.BatchNorm2d(4)
            self.fc = torch.nn.Linear(4 * 26 * 26, 10)
            self.scale = torch.nn.Parameter(torch.ones(1))

        def forward(self, x):
            return self.fc(self.bn(self.conv(x)).flatten(1)) * self.scale

    s = mnistlab.summary(Net())
    assert s.trainable == sum(p.numel() for p in Net().parameters())
    assert [r.output_shape for r in s.layers[:3]] == [(4, 26, 26), (4, 26, 26), (10,)]
    assert s.layers[0].macs == 4 * 26 * 26 * 9
    assert "(other parameters)" in str(s) and mnistlab.summary(Net).total == s.total
    with pytest.raises(MnistlabError, match="input_shape"):
        mnistlab.summary(Net(), input_shape=(3, 28, 28))


def test_fit_keywords_and_did_you_mean():
    from mnistlab.api import make_recipe
    r = make_recipe("nb000-cnn", {"epochs": 3, "batch_size": 512, "optimizer": "rmsprop",
                                  "validation_split": 0.2, "lr": 0.002})
    assert (r.epochs, r.batch_size, r.optimizer["name"], r.data["validation_split"], r.optimizer["lr"]) == \
        (3, 512, "rmsprop", 0.2, 0.002)
    assert make_recipe("nb003-mlp").model == "nb003-mlp" if "nb003-mlp" in __import__(
        "mnistlab.models", fromlist=["ZOO"]).ZOO else True
    with pytest.raises(MnistlabError, match=r"unknown recipe key 'epoch' \(did you mean 'epochs'\?\)"):
        make_recipe("nb000-cnn", {"epoch": 3})
    with pytest.raises(MnistlabError, match="did you mean 'nb000-cnn'"):
        make_recipe("nb00-cnn")


def test_sweep_and_tune_results_show_tables_and_figures(tmp_path):
    data = write_tiny_data(tmp_path / "tiny.npz")
    sw = mnistlab.sweep(tiny_recipe(data), grid={"optimizer.lr": [0.01, 0.1]}, repeats=2, epochs=2,
                        out=tmp_path / "sweep", quiet=True)
    assert [e["optimizer.lr"] for e in sw.summary] == [0.01, 0.1] and all(e["n"] == 2 for e in sw.summary)
    assert isinstance(sw.plot(), Figure) and "<img" in sw._repr_html_() and "± " in repr(sw)
    assert sw.best["optimizer.lr"] in (0.01, 0.1)
    with pytest.raises(MnistlabError, match="did you mean 'epochs'"):
        mnistlab.sweep(tiny_recipe(data), grid={"optimizer.lr": [0.1]}, epoch=2, out=tmp_path / "x")
    tu = mnistlab.tune(tiny_recipe(data), {"optimizer.lr": {"low": 0.01, "high": 0.3, "log": True}}, trials=2,
                       epochs=1, out=tmp_path / "tune", quiet=True, seed=0)
    assert len(tu.trials) == 2 and tu.best_recipe.is_file()
    assert isinstance(tu.plot(), Figure) and "<table>" in tu._repr_html_() and "optimizer.lr" in repr(tu)
