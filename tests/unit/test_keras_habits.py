"""Issue 28's table: Keras habits a new user brings, each working as Keras does or refused in
one line. Tiny synthetic data (tinydata) unless a packaged recipe needs 28x28 images."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import mnistlab
from mnistlab.errors import MnistlabError, surface
from mnistlab.recipes import DIR, names
from tinydata import TINY_SPACE, tiny_arrays, tiny_recipe, write_tiny_data

SPEC = {"input_shape": [8, 8, 1], "layers": [{"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"}]}
TRAIN = dict(epochs=2, batch_size=32, optimizer="sgd", lr=0.1, seed=0, device="cpu", quiet=True, report=False)


def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text and "Traceback" not in text
    return text


@pytest.fixture(scope="module")
def arrays():
    return tiny_arrays()


@pytest.fixture(scope="module")
def run(arrays, tmp_path_factory):
    (x, y), (xv, yv) = arrays
    return mnistlab.fit(SPEC, x, y, validation_data=(xv, yv), out=tmp_path_factory.mktemp("runs"), **TRAIN)


# ---------------------------------------------------------------- validation_data=

def _packaged_recipes():
    """Every packaged recipe (sweep files and tune spaces are no recipes: they have no model)."""
    return [n for n in names() if "model" in (yaml.safe_load((DIR / f"{n}.yaml").read_text()) or {})]




@pytest.mark.parametrize("name", _packaged_recipes())
def test_validation_data_replaces_every_packaged_recipes_validation(name, captured):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (40, 28, 28), dtype=np.uint8), np.arange(40) % 5
    with pytest.raises(SystemExit):  # was: 'data.validation: test' ... drop data.validation_split
        mnistlab.fit(name, x, y, validation_data=(x[:10], y[:10]), epochs=1)
    recipe, kw = captured[0]
    data = recipe.data
    assert (data["validation"], data["validation_split"], data["split"]) == ("test", None, None), name
    assert len(kw["dataset"].y_test) == 10  # the validation arrays are what the run validates on


def test_packaged_recipes_are_all_seen():
    assert {"nb000-cnn", "nb002-cnn", "nb004-resnet", "demo"} <= set(_packaged_recipes())


def test_validation_data_trains_and_is_recorded_in_config(run, arrays):
    config = yaml.safe_load((run.path / "config.yaml").read_text())
    assert config["data"]["validation"] == "test" and config["data"]["validation_split"] is None
    assert len(run.history["val_accuracy"]) == 2
    # Keras scores validation_data after every epoch: the last epoch's val_* are the run's own
    assert run.history["val_loss"][-1] == pytest.approx(run.metrics["test_loss"], rel=1e-5)


def test_validation_split_zero_goes_with_validation_data(arrays, tmp_path):
    (x, y), (xv, yv) = arrays
    ran = mnistlab.fit(SPEC, x, y, validation_data=(xv, yv), validation_split=0, out=tmp_path, **TRAIN)
    assert ran.config["data"]["validation"] == "test"  # was: give validation_data or validation_split, not both
    with pytest.raises(MnistlabError) as err:
        mnistlab.fit(SPEC, x, y, validation_data=(xv, yv), validation_split=0.2, out=tmp_path, **TRAIN)
    assert "validation_data= or validation_split=" in _one_line(err)


# ---------------------------------------------------------------- evaluate(x, y)

def test_run_evaluate_x_y_as_keras(run, arrays):
    _, (xv, yv) = arrays
    ev = run.evaluate(xv, yv)  # was a TypeError: takes from 1 to 2 positional arguments
    assert ev.split == "x, y" and ev.metrics["n"] == len(yv)
    assert ev.accuracy == pytest.approx(run.metrics["test_accuracy"], abs=1e-6)
    assert ev.loss == pytest.approx(run.metrics["test_loss"], rel=1e-5)  # Keras' loss, as training reports it
    # Keras takes floats in [0, 1] and one-hot labels alike
    one_hot = np.eye(3)[yv]
    for x, y in ((xv.astype("float32") / 255, yv), (xv, one_hot), (torch.from_numpy(xv), torch.from_numpy(yv))):
        again = run.evaluate(x, y)
        assert again.accuracy == ev.accuracy and again.loss == pytest.approx(ev.loss, rel=1e-5)
    # the same through the function and through dataset=(x, y)
    assert mnistlab.evaluate(run, xv, yv).accuracy == ev.accuracy
    assert mnistlab.evaluate(run, dataset=(xv, yv)).accuracy == ev.accuracy  # was AttributeError: no x_train
    assert run.evaluate(dataset=(xv, yv)).accuracy == ev.accuracy
    assert run.evaluate("test").accuracy == ev.accuracy  # a split by name still works positionally


def test_evaluate_arrays_map_labels_by_name(tmp_path):
    """A run whose classes are 1..3: labels are the class names (what run.predict returns)."""
    (x, y), (xv, yv) = tiny_arrays()
    ran = mnistlab.fit(SPEC, x, y + 1, validation_data=(xv, yv + 1), out=tmp_path, **TRAIN)
    assert ran.classes == ["1", "2", "3"]
    by_name = ran.evaluate(xv, yv + 1)
    assert by_name.accuracy == pytest.approx(ran.metrics["test_accuracy"], abs=1e-6)
    assert ran.evaluate(xv, np.eye(3)[yv]).accuracy == by_name.accuracy  # one-hot: columns in class order
    with pytest.raises(MnistlabError) as err:
        ran.evaluate(xv, yv)  # 0 is no class of this run
    assert "the label 0, which is none of the run's classes" in _one_line(err)


@pytest.mark.parametrize("call, words", [
    (lambda run, xv, yv: run.evaluate(xv), "evaluate(run, x, y)"),
    (lambda run, xv, yv: run.evaluate(xv, yv, split="val"), "not both"),
    (lambda run, xv, yv: run.evaluate(xv[:, :4], yv), "cannot take images of shape (4, 8, 1)"),
    (lambda run, xv, yv: run.evaluate(dataset=3), "dataset= takes a Dataset"),
    (lambda run, xv, yv: run.evaluate(xv, np.eye(4)[yv % 4]), "one-hot with 4 columns but the run has 3"),
])
def test_evaluate_mistakes_are_one_line(run, arrays, call, words):
    _, (xv, yv) = arrays
    with pytest.raises(MnistlabError) as err:
        call(run, xv, yv)
    assert words in _one_line(err)


# ---------------------------------------------------------------- callbacks=

class Seen(mnistlab.Callback):
    def __init__(self):
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_one_callback_not_in_a_list_is_taken_as_keras_3_does(arrays, tmp_path):
    (x, y), _ = arrays
    seen = Seen()
    mnistlab.fit(SPEC, x, y, callbacks=seen, out=tmp_path, **TRAIN)  # was a 43-line TypeError
    assert seen.epochs == [0, 1]


@pytest.mark.parametrize("callbacks, words", [
    ([lambda *a: print("called")], "callbacks[0] is a function, not a callback; wrap it as Keras does: "
                                   "mnistlab.LambdaCallback(on_epoch_end=fn)"),  # was accepted, never called
    (print, "callbacks is a function"),
    ([Seen], "callbacks[0] is the class Seen, not a callback; pass an instance"),
    ([3], "callbacks[0] is a int, not a callback"),
])
def test_what_is_no_callback_is_one_line(arrays, tmp_path, callbacks, words):
    (x, y), _ = arrays
    with pytest.raises(MnistlabError) as err:
        mnistlab.fit(SPEC, x, y, callbacks=callbacks, out=tmp_path, **TRAIN)
    assert words in _one_line(err)
    assert not list(tmp_path.iterdir())  # refused before any run folder


def test_a_function_runs_wrapped_in_lambda_callback(arrays, tmp_path):
    (x, y), _ = arrays
    called = []
    mnistlab.fit(SPEC, x, y, callbacks=[mnistlab.LambdaCallback(on_epoch_end=lambda e, logs: called.append(e))],
                 out=tmp_path, **TRAIN)
    assert called == [0, 1]
    with pytest.raises(MnistlabError, match="takes a function"):
        mnistlab.LambdaCallback(on_epoch_end=3)


# ---------------------------------------------------------------- Python words, not flags

@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_python_errors_name_keywords_and_the_cli_names_flags(arrays, tmp_path):
    (x, y), _ = arrays
    with pytest.raises(MnistlabError) as err:
        mnistlab.fit(SPEC, x, y, out=tmp_path, **{**TRAIN, "device": "cuda"})
    assert "use device='cpu'" in _one_line(err) and "--device" not in str(err.value)
    with surface("cli"), pytest.raises(MnistlabError, match="use --device cpu"):
        mnistlab.fit(SPEC, x, y, out=tmp_path, **{**TRAIN, "device": "cuda"})


def test_resume_device_gpu_is_one_line(run):
    with pytest.raises(MnistlabError) as err:  # was a raw KeyError: 'gpu'
        mnistlab.fit(resume=run, device="gpu", epochs=3, quiet=True)
    assert "'device' must be one of auto, cpu, cuda, mps" in _one_line(err)
    assert (run.path / "metrics.json").is_file()  # checked before the run changed


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_resume_on_a_missing_device_leaves_the_run_finished(run):
    """Extending a run rewrites config.yaml; a device this machine lacks fails before that."""
    before = (run.path / "config.yaml").read_text()
    with pytest.raises(MnistlabError, match="device 'cuda' is not available"):
        mnistlab.fit(resume=run, device="cuda", epochs=5, quiet=True)
    assert (run.path / "metrics.json").is_file() and (run.path / "config.yaml").read_text() == before


def test_tune_and_sweep_errors_name_keywords(tmp_path):
    data = write_tiny_data(tmp_path / "tiny.npz")
    with pytest.raises(MnistlabError) as err:
        mnistlab.tune(tiny_recipe(data), TINY_SPACE, trials=-1, out=tmp_path / "st", quiet=True)
    assert "trials= must be 0 or more" in _one_line(err) and "--" not in str(err.value)
    with pytest.raises(MnistlabError) as err:
        mnistlab.sweep(tiny_recipe(data), grid={"batch_size": [16]}, workers=0, out=tmp_path / "sw", quiet=True)
    assert "workers= must be at least 1" in _one_line(err)


# ---------------------------------------------------------------- tune and its results

def test_study_best_is_typed(tmp_path):
    data = write_tiny_data(tmp_path / "tiny.npz")
    study = mnistlab.tune(tiny_recipe(data, epochs=1), TINY_SPACE, trials=2, out=tmp_path / "st", quiet=True)
    best = study.best
    assert isinstance(best["number"], int) and isinstance(best["value"], float)  # were strings
    assert isinstance(best["params.optimizer.lr"], float) and isinstance(best["params.batch_size"], int)
    run_dir = best["run_dir"]
    assert isinstance(run_dir, Path) and not run_dir.is_absolute()  # relative to the study
    assert (study.path / run_dir / "metrics.json").is_file()
    assert best["value"] == max(t["value"] for t in study.trials if t["state"] == "COMPLETE")


def test_tune_in_a_kernel_without_ipywidgets_prints_no_tqdm_warning(tmp_path):
    """A Jupyter kernel without ipywidgets: tqdm.auto (imported by Optuna) warns with a
    site-packages path unless mnistlab imported it first, quietly."""
    data = write_tiny_data(tmp_path / "tiny.npz")
    script = textwrap.dedent(f"""
        import sys, types, warnings
        sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")  # what tqdm sniffs
        sys.modules["ipywidgets"] = None  # not installed
        import IPython  # noqa: F401  (tqdm asks it for the shell)
        warnings.simplefilter("always")
        import tqdm.std
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            import tqdm.autonotebook  # the check itself: without mnistlab, tqdm warns here
        assert any(issubclass(w.category, tqdm.std.TqdmWarning) for w in seen), "no kernel simulated"
        del sys.modules["tqdm.autonotebook"]  # imported afresh: the first import is the one that warns
        import mnistlab
        from tinydata import tiny_recipe, TINY_SPACE
        from pathlib import Path
        mnistlab.tune(tiny_recipe(Path({str(data)!r}), epochs=1), TINY_SPACE, trials=1,
                      out={str(tmp_path / "st")!r}, quiet=True)
    """)
    pytest.importorskip("IPython")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr
    assert "TqdmWarning" not in out.stderr and "IProgress" not in out.stderr, out.stderr
