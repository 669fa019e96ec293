"""mnistlab's EarlyStopping against a transcription of Keras 3's, fed the same sequences.

`KerasEarlyStopping` below is copied, line for line where it matters, from keras-team/keras
v3.15.1 (the same at master, 3.16.0.dev): keras/src/callbacks/early_stopping.py
(EarlyStopping) and keras/src/callbacks/monitor_callback.py (MonitorCallback:
_set_monitor_op, _is_improvement). Kept separate from mnistlab's code: ops.less /
ops.greater are `<` / `>` on Python floats (both False with a NaN, as in Keras), model
weights are the epoch they came from, and mode auto knows the two compiled metrics a
mnistlab run has (loss goes down; accuracy has _direction "up"). Since Keras 3.8 (and again
from 3.15) on_train_begin sets best = None, so the first monitored value, even a NaN, is an
improvement; 3.0-3.7 started from +-inf instead.
"""
import math
import operator
import random

import pytest
import torch

from mnistlab.train.early_stopping import EarlyStopping

less, greater = operator.lt, operator.gt


class KerasEarlyStopping:
    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        # MonitorCallback.__init__(monitor, mode, min_delta=min_delta)
        self.monitor = monitor
        self.mode = mode
        self.best = None  # baseline is not passed on to MonitorCallback by EarlyStopping
        self.min_delta = abs(min_delta)
        self.monitor_op = None
        # EarlyStopping.__init__
        self.patience = patience
        self.baseline = baseline
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.start_from_epoch = start_from_epoch
        self.model_weights = None  # stands for self.model.get_weights(): the epoch they are from
        self.stop_training = False

    def _set_monitor_op(self):
        if self.mode == "min":
            self.monitor_op = less
        elif self.mode == "max":
            self.monitor_op = greater
        else:
            metric_name = self.monitor.removeprefix("val_")
            if metric_name == "loss":
                self.monitor_op = less
            if metric_name == "accuracy":  # the compiled metric's _direction == "up"
                self.monitor_op = greater
            if self.monitor_op is None:
                raise ValueError(f"cannot tell the direction of {self.monitor}")
        if self.monitor_op == less:
            self.min_delta *= -1

    def _is_improvement(self, monitor_value, reference_value):
        if reference_value is None:
            return True
        return self.monitor_op(monitor_value - self.min_delta, reference_value)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = (logs or {}).get(self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model_weights
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model_weights
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model_weights = self.best_weights


def keras_run(kwargs, values, key):
    """(epochs run, epoch whose weights the model ends with) under Keras' fit loop."""
    cb = KerasEarlyStopping(**kwargs)
    cb.on_train_begin()
    run = 0
    for epoch, v in enumerate(values):
        cb.model_weights = epoch
        run = epoch + 1
        cb.on_epoch_end(epoch, {key: v})
        if cb.stop_training:
            break
    cb.on_train_end()
    return run, cb.model_weights


class Weights(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))


def ours_run(kwargs, values, key):
    stopper, model = EarlyStopping(**kwargs), Weights()
    stopper.set_model(model)
    model.stop_training = False
    run = 0
    for epoch, v in enumerate(values):
        model.w.data.fill_(epoch)
        run = epoch + 1
        stopper.on_epoch_end(epoch, {key: v})
        if model.stop_training:
            break
    stopper.on_train_end()
    return run, int(model.w.item())


NAN = math.nan
CASES = [  # (EarlyStopping arguments, monitored values)
    ({"patience": 5, "restore_best_weights": True}, [NAN, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]),  # the issue's
    ({"patience": 2, "restore_best_weights": True}, [NAN] * 6),
    ({"patience": 2, "restore_best_weights": True}, [1.0, 0.8, NAN, 0.7, 0.9, 0.95, 0.99]),  # NaN in the middle
    ({"patience": 1, "restore_best_weights": True}, [1.0, NAN, NAN, 0.5]),
    ({"patience": 2}, [1.0, 0.5, 0.6, 0.7, 0.1]),
    ({"patience": 2, "restore_best_weights": True}, [1.0, 0.5, 0.6, 0.7, 0.1]),
    ({"patience": 1, "min_delta": 0.1}, [1.0, 0.95, 0.5]),
    ({"patience": 2, "min_delta": -0.1, "restore_best_weights": True}, [1.0, 0.95, 0.8, 0.75, 0.72]),
    ({"patience": 0}, [5, 4, 3, 2, 1]),
    ({"patience": 0}, [5, 6]),
    ({"monitor": "val_accuracy", "patience": 1}, [0.5, 0.6, 0.55]),
    ({"monitor": "val_accuracy", "patience": 2, "restore_best_weights": True}, [NAN, 0.6, 0.7, 0.8]),
    ({"monitor": "val_accuracy", "mode": "min", "patience": 1}, [0.5, 0.6, 0.4, 0.45, 0.44]),
    ({"monitor": "val_loss", "mode": "max", "patience": 1, "restore_best_weights": True}, [0.5, 0.6, 0.4, 0.45]),
    ({"monitor": "loss", "patience": 2, "baseline": 0.3}, [0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35]),
    ({"monitor": "loss", "patience": 2, "baseline": 0.3}, [0.9, 0.95, 0.96]),
    ({"monitor": "loss", "patience": 2, "baseline": 0.3, "restore_best_weights": True}, [0.9, 0.2, 0.25, 0.3, 0.1]),
    ({"monitor": "val_accuracy", "patience": 1, "baseline": 0.9, "restore_best_weights": True}, [0.5, 0.6, 0.6, 0.95]),
    ({"patience": 2, "restore_best_weights": True, "start_from_epoch": 1}, [5.0, NAN, NAN, NAN]),
    ({"patience": 1, "restore_best_weights": True, "start_from_epoch": 3}, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
    ({"patience": 3, "restore_best_weights": True}, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
]


@pytest.mark.parametrize("kwargs,values", CASES)
def test_stop_and_restored_epoch_match_keras(kwargs, values):
    key = kwargs.get("monitor", "val_loss")
    assert ours_run(kwargs, values, key) == keras_run(kwargs, values, key)


def test_the_issue_case_as_keras_runs_it():
    # NaN first, patience 5: Keras runs 6 epochs and restores the first (epoch 0)
    assert keras_run(*CASES[0], "val_loss") == (6, 0) == ours_run(*CASES[0], "val_loss")


def test_random_sequences_match_keras():
    rng = random.Random(20240611)
    for _ in range(400):
        n = rng.randint(1, 12)
        values = [NAN if rng.random() < 0.15 else round(rng.uniform(0, 1), 2) for _ in range(n)]
        kwargs = {"monitor": rng.choice(["val_loss", "val_accuracy", "loss"]),
                  "patience": rng.randint(0, 4), "mode": rng.choice(["auto", "min", "max"]),
                  "min_delta": rng.choice([0, 0.01, 0.1]), "restore_best_weights": rng.random() < 0.6,
                  "start_from_epoch": rng.choice([0, 0, 1, 3]),
                  "baseline": rng.choice([None, None, 0.3, 0.7])}
        assert ours_run(kwargs, values, kwargs["monitor"]) == keras_run(kwargs, values, kwargs["monitor"]), (kwargs, values)
