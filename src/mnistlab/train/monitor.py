"""What a run logs each epoch and the monitored-name rule every Keras monitor callback follows
(EarlyStopping, ReduceLROnPlateau, ModelCheckpoint): Keras 3's MonitorCallback.

A monitored name must be one the run logs (`LOGGED`, val_* only with validation data), checked
before the first epoch: Keras 3 raises on a name whose direction it cannot tell
(EarlyStopping(monitor="val_acc") with mode auto); mnistlab refuses every name the history
row will not hold.
"""
from __future__ import annotations

from mnistlab.errors import MnistlabError, did_you_mean
from mnistlab.train.callback import Callback
from mnistlab.train.checks import choice, number

# What a run logs each epoch (training._one_epoch's history row, besides epoch and seconds).
LOGGED = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")
MODES = ("auto", "min", "max")
# Keras 3 MonitorCallback, mode auto: "loss" goes down, a metric with direction "up"
# (accuracy) goes up; any other name makes Keras raise (the learning rate, here).
_DIRECTION = {"loss": "min", "accuracy": "max"}


def logged(has_validation: bool) -> tuple[str, ...]:
    return LOGGED if has_validation else tuple(k for k in LOGGED if not k.startswith("val_"))


def check_monitor(monitor, mode: str, key: str, has_validation: bool | None = None) -> None:
    """`monitor` must be logged by the run (val_* only when `has_validation`; None: not
    known yet), and with mode auto its direction must be known, as Keras 3 requires."""
    if not isinstance(monitor, str) or monitor not in LOGGED:
        raise MnistlabError(f"'{key}' is {monitor!r}, which the run does not log"
                            f"{did_you_mean(str(monitor), LOGGED)}; it logs {', '.join(LOGGED)} "
                            "(val_* with validation data)")
    if has_validation is False and monitor.startswith("val_"):
        raise MnistlabError(f"'{key}' is {monitor} but the run has no validation data; set "
                            f"data.validation_split (e.g. 0.1) or monitor {monitor[4:]}")
    if mode == "auto" and monitor.removeprefix("val_") not in _DIRECTION:
        raise MnistlabError(f"'{key}' is {monitor} with mode auto, and whether {monitor} should go "
                            "up or down is unknown (Keras raises too); set mode: min or max")


def check_common(c: dict, prefix: str) -> None:
    """monitor (a string), mode, min_delta (a number; Keras uses its absolute value), verbose."""
    c["mode"] = choice(c["mode"], f"{prefix}mode", MODES)
    if not isinstance(c["monitor"], str):
        raise MnistlabError(f"'{prefix}monitor' must be a metric name like val_loss, got {c['monitor']!r}")
    if "min_delta" in c:
        c["min_delta"] = number(c["min_delta"], f"{prefix}min_delta")
    c["verbose"] = number(c["verbose"], f"{prefix}verbose", lo=0, integer=True)


class Monitor(Callback):
    """Keras 3's MonitorCallback (keras/src/callbacks/monitor_callback.py): the direction of
    `monitor` and `_is_improvement`; a reference of None (no best yet) is always beaten."""

    def _set_monitor(self, monitor: str, mode: str, min_delta: float) -> None:
        self.monitor, self.mode = monitor, mode
        self._up = mode == "max" or (mode == "auto" and _DIRECTION.get(monitor.removeprefix("val_")) == "max")
        self.min_delta = abs(float(min_delta))

    def _is_improvement(self, value, reference) -> bool:
        if reference is None:
            return True
        if self._up:  # ops.greater(value - min_delta, reference)
            return value - self.min_delta > reference
        return value + self.min_delta < reference  # ops.less(value - (-min_delta), reference)


