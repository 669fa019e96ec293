"""One callback protocol (train/callback.py): a user callback sees every hook once per epoch,
in Keras 3's order, and `self.model.stop_training = True` ends training as in Keras, with
early stopping, a learning-rate schedule and a model checkpoint on the same list.

The order is checked against real Keras 3 (KERAS_BACKEND=torch): the same recorder class,
subclassing keras.callbacks.Callback there and mnistlab.Callback here, must record the same
calls."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mnistlab
from tinydata import tiny_arrays, tiny_recipe, write_tiny_data

SPEC = {"input_shape": [8, 8, 1], "layers": [{"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"}]}
LOGGED = {"loss", "accuracy", "val_loss", "val_accuracy"}
EPOCHS, STOP_AT = 5, 2  # the recorder stops training at the end of epoch 2 (0-based)


def recorder(base):
    class Recorder(base):
        def __init__(self):
            super().__init__()
            self.calls = []

        def on_train_begin(self, logs=None):
            self.calls.append(("on_train_begin",))

        def on_epoch_begin(self, epoch, logs=None):
            self.calls.append(("on_epoch_begin", epoch))

        def on_epoch_end(self, epoch, logs=None):
            self.calls.append(("on_epoch_end", epoch, sorted(LOGGED & set(logs))))
            if epoch == STOP_AT:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            self.calls.append(("on_train_end", sorted(LOGGED & set(logs or {}))))
    return Recorder()


KERAS_SCRIPT = """
import json, sys
import keras
from test_callback_protocol import EPOCHS, recorder
from tinydata import tiny_arrays
assert keras.backend.backend() == "torch"
(x, y), (xv, yv) = tiny_arrays()
model = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
rec = recorder(keras.callbacks.Callback)
model.fit(x / 255, y, epochs=EPOCHS, batch_size=32, validation_data=(xv / 255, yv), verbose=0, callbacks=[rec])
print(json.dumps(rec.calls))
"""


def keras_calls() -> list:
    """The recorder's calls under Keras 3's fit, in a process of its own (importing keras
    changes the environment of the process that imports it)."""
    import importlib.util
    if importlib.util.find_spec("keras") is None:  # not imported here: it would pick its default backend
        pytest.skip("keras is not installed")
    env = {**os.environ, "KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", KERAS_SCRIPT], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    return [tuple(c) for c in json.loads(out.stdout.strip().splitlines()[-1])]


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("protocol")
    (x, y), _ = tiny_arrays()
    rec = recorder(mnistlab.Callback)

    class SeesTheCheckpoint(mnistlab.Callback):
        """Runs after the recipe's callbacks: this epoch's ModelCheckpoint file is written."""
        found = []

        def on_epoch_end(self, epoch, logs=None):
            self.found.append((tmp / "ckpt" / f"e{epoch + 1:02d}.safetensors").is_file())

    stopper = mnistlab.EarlyStopping(monitor="val_loss", patience=10)  # never stops first
    saver = mnistlab.ModelCheckpoint(str(tmp / "ckpt" / "e{epoch:02d}.safetensors"))
    sees = SeesTheCheckpoint()
    run = mnistlab.fit(SPEC, x, y, validation_split=0.25, epochs=EPOCHS, batch_size=32, optimizer="sgd", lr=0.1,
                       lr_schedule={"name": "step", "boundaries": [1], "factors": [0.5]}, seed=0, device="cpu",
                       callbacks=[rec, stopper, saver, sees], out=tmp / "runs", quiet=True, report=False)
    return run, rec, stopper, sees, tmp


def test_hooks_in_keras_order_once_per_epoch(ours):
    _, rec, *_ = ours
    logs = sorted(LOGGED)
    expected = [("on_train_begin",)]
    for epoch in range(STOP_AT + 1):
        expected += [("on_epoch_begin", epoch), ("on_epoch_end", epoch, logs)]
    expected.append(("on_train_end", logs))  # Keras passes the last epoch's logs
    assert rec.calls == expected


def test_the_order_is_keras_3s(ours):
    """The same recorder under Keras 3's fit records the same calls, stop included."""
    _, rec, *_ = ours
    assert rec.calls == keras_calls()


def test_stop_training_is_honoured_beside_early_stopping_schedule_and_checkpoint(ours):
    run, _, stopper, sees, tmp = ours
    assert run.metrics["epochs_run"] == STOP_AT + 1 and run.metrics["stopped_early"] is True
    assert run.history["lr"] == pytest.approx([0.1, 0.1, 0.05])  # the step schedule ran on the list
    assert stopper.best is not None and stopper.stopped_epoch == 0  # early stopping watched, did not stop
    assert sorted(p.name for p in (tmp / "ckpt").iterdir()) == ["e01.safetensors", "e02.safetensors",
                                                                "e03.safetensors"]
    assert sees.found == [True, True, True]  # the recipe's callbacks run before the user's
    # the recipe records the objects given to fit, so config.yaml reruns the same way
    cb = run.config["callbacks"]
    assert cb["early_stopping"]["patience"] == 10 and cb["model_checkpoint"]["filepath"].endswith("e{epoch:02d}.safetensors")


def test_a_user_callback_that_raises_leaves_the_epoch_resumable(tmp_path):
    """The epoch's checkpoint is written on the list before the user's callbacks."""
    data = write_tiny_data(tmp_path / "tiny.npz")

    class Boom(mnistlab.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        mnistlab.fit(tiny_recipe(data, epochs=3), callbacks=[Boom()], out=tmp_path / "runs", quiet=True, report=False)
    (folder,) = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    from mnistlab.runs.files import read_history
    assert [r["epoch"] for r in read_history(folder)] == [1, 2]
    resumed = mnistlab.fit(resume=folder, quiet=True, report=False)
    assert resumed.history.epoch == [1, 2, 3]
    assert np.isfinite(resumed.metrics["test_accuracy"])
