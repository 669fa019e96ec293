"""mnistlab.fit as a Keras user writes it: data as arrays, a path or a name; a spec as the
model, positional or keyword; fit(resume=...) continuing an interrupted run."""
import numpy as np
import pytest
import sklearn  # noqa: F401  (imported here, not first inside a test: its import sets KMP_* variables)
import torch

import mnistlab
from mnistlab.errors import MnistlabError
from tinydata import tiny_arrays, tiny_recipe, write_tiny_data

SPEC = {"input_shape": [8, 8, 1], "layers": [{"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"}]}
LAYER_LIST = [{"type": "input", "shape": [8, 8, 1]}, {"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"}]
TRAIN = dict(epochs=1, batch_size=32, optimizer="sgd", lr=0.1, seed=0, device="cpu", quiet=True, report=False)




@pytest.mark.parametrize("call", [
    lambda: mnistlab.fit(SPEC),
    lambda: mnistlab.fit(model=SPEC),
    lambda: mnistlab.fit(LAYER_LIST),
    lambda: mnistlab.fit(model=LAYER_LIST),
    lambda: mnistlab.fit("nb000-cnn", model=SPEC),  # the recipe's settings, the spec's model
])
def test_a_spec_is_a_model_wherever_a_model_goes(call, captured):
    with pytest.raises(SystemExit):
        call()
    recipe = captured[0][0]
    assert recipe.model["input_shape"] == [8, 8, 1] and recipe.model["layers"][-1]["units"] == 3
    assert captured[0][1]["model"] is None  # a spec is built by training, not passed as a module


def test_summary_takes_a_spec_a_layer_list_and_a_recipe_dict():
    total = mnistlab.summary(SPEC).total
    assert total == 8 * 8 * 3 + 3
    assert mnistlab.summary(LAYER_LIST).total == total == mnistlab.summary(model=SPEC).total
    assert mnistlab.summary({"model": SPEC, "epochs": 3}).total == total


@pytest.mark.parametrize("dataset, recorded", [("mnist", "mnist"), ("fashion-mnist", "fashion-mnist")])
def test_a_builtin_name_is_the_recipes_dataset(dataset, recorded, captured):
    with pytest.raises(SystemExit):
        mnistlab.fit("nb000-cnn", dataset=dataset, epochs=1)
    recipe, kw = captured[0]
    assert recipe.data["dataset"] == recorded and kw["dataset"] is None  # config.yaml names it


def test_every_data_form_trains(tmp_path):
    (xt, yt), (xe, ye) = tiny_arrays()
    path = write_tiny_data(tmp_path / "tiny.npz")
    by_path = mnistlab.fit(SPEC, dataset=path, out=tmp_path / "a", **TRAIN)
    assert by_path.config["data"]["dataset"] == str(path)  # reproducible from its folder
    by_arrays = mnistlab.fit(SPEC, dataset=((xt, yt), (xe, ye)), out=tmp_path / "b", **TRAIN)
    by_keras = mnistlab.fit(SPEC, xt, yt, out=tmp_path / "c", **TRAIN)  # model.fit(x, y)
    assert by_keras.metrics.get("test_accuracy") is None  # Keras' fit has no test set
    one_hot = mnistlab.fit(SPEC, xt.astype("float32") / 255, np.eye(3, dtype="float32")[yt],
                           out=tmp_path / "d", **TRAIN)
    # the same images, labels and seed: the same training, whatever the form
    for other in (by_arrays, by_keras, one_hot):
        assert other.history["loss"] == pytest.approx(by_path.history["loss"], rel=1e-6)
    with_val = mnistlab.fit(SPEC, xt, yt, validation_data=(xe, ye), out=tmp_path / "e", **TRAIN)
    assert with_val.history["val_accuracy"][0] == pytest.approx(with_val.metrics["test_accuracy"], abs=1e-6)


def test_positional_arrays_with_a_packaged_recipe(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8)
    y = np.arange(64) % 10
    run = mnistlab.fit("nb000-cnn", x, y, epochs=1, batch_size=32, validation_split=0.25, device="cpu",
                       out=tmp_path, quiet=True, report=False)  # was "takes from 0 to 1 positional arguments"
    assert len(run.history["loss"]) == 1 and run.predict(x[:3]).shape == (3,)
    expected = run.predict_proba(x[:3])
    nchw = torch.from_numpy(x[:3])[:, None].float() / 255  # a torch batch (N, 1, 28, 28)
    np.testing.assert_allclose(run.predict_proba(nchw), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run.predict_proba(x[0][..., None]), expected[:1], rtol=1e-5, atol=1e-6)  # Keras (28, 28, 1)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(64, 3)

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_own_module_on_a_path_and_validation_data_recorded(tmp_path):
    path = write_tiny_data(tmp_path / "tiny.npz")
    run = mnistlab.fit(Net(), dataset=path, out=tmp_path, **TRAIN)
    assert run.config["model"]["input_shape"] == [8, 8, 1] and len(run.history.epoch) == 1
    (xt, yt), (xe, ye) = tiny_arrays()
    run = mnistlab.fit(Net(), xt, yt, validation_data=(xe, ye), out=tmp_path, **TRAIN)
    assert run.config["data"]["validation"] == "test" and run.history["val_loss"][0] is not None


@pytest.mark.parametrize("args, kwargs, words", [
    ((SPEC, np.zeros((4, 8, 8))), {}, "needs y, the labels"),
    ((SPEC, np.zeros((4, 8, 8)), np.zeros(4)), {"dataset": "mnist"}, "the data is given twice"),
    ((SPEC,), {"dataset": 3}, "dataset= takes a Dataset"),
    ((SPEC,), {"dataset": "mnist", "validation_data": (np.zeros((2, 8, 8)), np.zeros(2))}, "goes with training arrays"),
    ((SPEC, np.zeros((4, 8, 8)), np.arange(4) % 2), {"validation_data": (np.zeros((2, 8, 8)), np.arange(2)),
                                                      "validation_split": 0.2}, "not both"),
    ((SPEC, np.zeros((4, 8, 8)), np.zeros(3)), {}, "4 images but y_train 3 labels"),
    ((), {"resume": "x", "lr": 0.1}, "'lr' cannot change"),
    (("nb000-cnn",), {"resume": "x"}, "drop the recipe"),
])
def test_wrong_forms_are_one_line(args, kwargs, words, tmp_path):
    with pytest.raises(MnistlabError) as err:
        mnistlab.fit(*args, out=tmp_path, quiet=True, **kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------- resume


class StopAfterFirstEpoch(mnistlab.Callback):
    """The kernel's stop button, pressed while epoch 1's hooks run (after its checkpoint)."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise KeyboardInterrupt


def _rows(run):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in run.history.rows]


def test_resume_from_python_gives_the_uninterrupted_history(tmp_path, capsys):
    data = write_tiny_data(tmp_path / "tiny.npz")
    recipe = tiny_recipe(data, epochs=3)
    whole = mnistlab.fit(recipe, out=tmp_path / "whole", quiet=True, report=False)
    with pytest.raises(KeyboardInterrupt):
        mnistlab.fit(recipe, out=tmp_path / "cut", quiet=True, report=False, callbacks=[StopAfterFirstEpoch()])
    (folder,) = [p for p in (tmp_path / "cut").iterdir() if not p.name.startswith(".")]
    err = capsys.readouterr().err
    assert f"mnistlab train --resume {folder}" in err and f"mnistlab.fit(resume={str(folder)!r})" in err
    with pytest.raises(MnistlabError, match=r"mnistlab.fit\(resume="):
        mnistlab.load_run(folder)  # unfinished: the message names the Python call too
    resumed = mnistlab.fit(resume=str(folder), quiet=True, report=False)
    # Exact: the checkpoint restores weights, optimiser and every RNG, and on one CPU thread
    # the same kernels run in the same order, so the floats are the same bits.
    assert _rows(resumed) == _rows(whole)
    assert resumed.metrics["test_accuracy"] == whole.metrics["test_accuracy"]
    longer = mnistlab.fit(resume=resumed, epochs=4, quiet=True, report=False)  # a Run, trained further
    assert longer.history.epoch == [1, 2, 3, 4] and _rows(longer)[:3] == _rows(whole)


def test_resume_in_memory_data_says_to_pass_it_again(tmp_path, capsys):
    (xt, yt), (xe, ye) = tiny_arrays()
    ds = mnistlab.load_dataset((xt, yt), (xe, ye), name="toy")
    args = dict(TRAIN, epochs=3, validation_split=0.25)
    whole = mnistlab.fit(SPEC, dataset=ds, out=tmp_path / "whole", **args)
    with pytest.raises(KeyboardInterrupt):
        mnistlab.fit(SPEC, dataset=ds, out=tmp_path / "cut", callbacks=[StopAfterFirstEpoch()], **args)
    assert "dataset=...)  (the same data again)" in capsys.readouterr().err
    (folder,) = [p for p in (tmp_path / "cut").iterdir() if not p.name.startswith(".")]
    resumed = mnistlab.fit(resume=folder, dataset=((xt, yt), (xe, ye)), quiet=True, report=False)
    assert _rows(resumed) == _rows(whole)
    assert (resumed.path / "test_data.npz").is_file() and resumed.evaluate().metrics["n"] == 60
