"""keras.callbacks.EarlyStopping (mnistlab.EarlyStopping; the recipe's callbacks.early_stopping)."""
from __future__ import annotations

import copy

from mnistlab.train.checks import flag, known_keys, number
from mnistlab.train.monitor import Monitor, check_common, check_monitor

class EarlyStopping(Monitor):
    """keras.callbacks.EarlyStopping, Keras 3 (keras/src/callbacks/early_stopping.py, 3.15):

    - on_train_begin sets `best` to None, so the first monitored epoch is always an
      improvement, even a NaN one; as a NaN compares false with everything, nothing after
      a NaN first value improves: with patience p, training stops p epochs later and
      restore_best_weights restores that first epoch (NaN first, patience 5: 6 epochs run,
      epoch 1's weights kept);
    - an epoch that improves on the best never stops training, even when it does not beat
      `baseline` (it then only leaves `wait` counting);
    - restore_best_weights restores at the end of training (on_train_end) whenever best
      weights were recorded, whether training stopped early or ran all its epochs.

    Epochs are 0-based here, as Keras passes them to callbacks. `verbose=1` prints Keras'
    messages ("Epoch 6: early stopping", "Restoring model weights from ...").
    """

    KEY = "early_stopping"
    DEFAULTS = {"monitor": "val_loss", "min_delta": 0.0, "patience": 0, "verbose": 0, "mode": "auto",
                "baseline": None, "restore_best_weights": False, "start_from_epoch": 0}

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        c = self.config = self.check(dict(monitor=monitor, min_delta=min_delta, patience=patience, verbose=verbose,
                                          mode=mode, baseline=baseline, restore_best_weights=restore_best_weights,
                                          start_from_epoch=start_from_epoch), "EarlyStopping.")
        self._set_monitor(c["monitor"], c["mode"], c["min_delta"])
        self.patience, self.verbose, self.baseline = c["patience"], c["verbose"], c["baseline"]
        self.restore_best_weights, self.start_from_epoch = c["restore_best_weights"], c["start_from_epoch"]
        self.on_train_begin()

    @classmethod
    def check(cls, given, prefix: str, has_validation: bool | None = None) -> dict:
        c = known_keys(cls.DEFAULTS, given, prefix.rstrip("."))
        check_common(c, prefix)
        check_monitor(c["monitor"], c["mode"], f"{prefix}monitor", has_validation)
        c["patience"] = number(c["patience"], f"{prefix}patience", lo=0, integer=True)
        c["baseline"] = number(c["baseline"], f"{prefix}baseline", allow_none=True)
        c["restore_best_weights"] = flag(c["restore_best_weights"], f"{prefix}restore_best_weights")
        c["start_from_epoch"] = number(c["start_from_epoch"], f"{prefix}start_from_epoch", lo=0, integer=True)
        return c

    def recipe_value(self) -> dict:
        return copy.deepcopy(self.config)

    def on_train_begin(self, logs=None) -> None:
        """Keras: an instance can be reused across fits; each starts afresh."""
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0
        self.restored_epoch = None  # set by on_train_end when it restores the best weights

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        """Sets self.model.stop_training when training should stop (Keras)."""
        if self._improved_or_waits(epoch, logs or {}) is False:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def _improved_or_waits(self, epoch: int, logs: dict) -> bool | None:
        """False when training should stop; True or None otherwise (Keras' on_epoch_end)."""
        model = self.model
        current = logs.get(self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return None
        if self.restore_best_weights and self.best_weights is None:
            # best weights never set: the current weights are the best (Keras)
            self.best_weights, self.best_epoch = _copy_state(model), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = _copy_state(model)
            # only restart wait when beating both the baseline and the previous best
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return True  # Keras returns here: an improving epoch never stops training
        if self.wait >= self.patience and epoch > 0:
            return False
        return None

    def on_train_end(self, logs=None) -> None:
        """Restore the best weights if asked and recorded (their 0-based epoch: restored_epoch)."""
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.", flush=True)
            self.model.load_state_dict(self.best_weights)
            self.restored_epoch = self.best_epoch

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("wait", "best", "best_epoch", "stopped_epoch", "best_weights")}

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)


def _copy_state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


