"""Callbacks with Keras semantics: EarlyStopping and learning-rate schedules.

Schedules give the base learning rate for every optimiser step: `lr(epoch, step, steps)`.
`step` and `reduce_on_plateau` change it per epoch (epochs count from 0, as Keras passes
them to LearningRateScheduler); `cosine` and `onecycle` change it every step. The
optimiser's own Keras `decay` then applies on top, as it did in Keras 2.
Every callback has state_dict()/load_state_dict() so a resumed run continues exactly.
"""
from __future__ import annotations

import copy
import math

from mnistlab.errors import MnistlabError

EARLY_STOPPING_DEFAULTS = {"monitor": "val_loss", "min_delta": 0.0, "patience": 0, "mode": "auto",
                           "baseline": None, "restore_best_weights": False, "start_from_epoch": 0}

SCHEDULE_DEFAULTS = {
    # lr = base * factors[i] once epoch > boundaries[i] (notebook 004's lr_schedule:
    # boundaries [80, 120, 160, 180], factors [1e-1, 1e-2, 1e-3, 0.5e-3])
    "step": {"boundaries": [], "factors": []},
    "cosine": {"min_lr": 0.0, "warmup_epochs": 0},
    # torch.optim.lr_scheduler.OneCycleLR's shape (cosine anneal); max_lr null = optimizer lr
    "onecycle": {"max_lr": None, "pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4},
    "reduce_on_plateau": {"monitor": "val_loss", "factor": 0.1, "patience": 10, "min_delta": 1e-4,
                          "cooldown": 0, "min_lr": 0.0, "mode": "auto"},
}


def _mode(mode: str, monitor: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise MnistlabError(f"mode must be auto, min or max, got {mode!r}")
    if mode == "auto":  # Keras: accuracy-like metrics go up, everything else down
        return "max" if "acc" in monitor or monitor.endswith("auc") else "min"
    return mode


class EarlyStopping:
    """keras.callbacks.EarlyStopping, Keras 3 logic (keras/src/callbacks/early_stopping.py):

    - an epoch that improves on the best never stops training, even when it does not beat
      `baseline` (it then only leaves `wait` counting);
    - a NaN is never an improvement (NaN < best is False), but the first monitored epoch's
      weights are kept as the best so far, so a run whose first value is NaN stops after
      `patience` epochs and restores that epoch;
    - restore_best_weights restores at the end of training (on_train_end) whenever best
      weights were recorded, whether training stopped early or ran all its epochs.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        self.monitor = monitor
        self.mode = _mode(mode, monitor)
        self.min_delta = abs(float(min_delta))
        self.patience = int(patience)
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.wait = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0
        self.stopped_epoch = 0
        self.best_weights = None

    def _improved(self, value, reference) -> bool:
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_epoch_end(self, epoch: int, logs: dict, model) -> bool:
        """True when training should stop (weights already restored if asked)."""
        current = logs.get(self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return False
        if self.restore_best_weights and self.best_weights is None:
            # never set: the current weights are the best so far (Keras, even for a NaN)
            self.best_weights, self.best_epoch = _copy_state(model), epoch
        self.wait += 1
        if self._improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = _copy_state(model)
            # only restart wait when beating both the baseline and the previous best
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return False  # Keras returns here: an improving epoch never stops training
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, model) -> int | None:
        """Restore the best weights if asked and recorded; returns their 0-based epoch (or None)."""
        if self.restore_best_weights and self.best_weights is not None:
            model.load_state_dict(self.best_weights)
            return self.best_epoch
        return None

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("wait", "best", "best_epoch", "stopped_epoch", "best_weights")}

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)


def _copy_state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Schedule:
    """Constant learning rate; subclasses change it."""

    def __init__(self, base_lr: float, epochs: int):
        self.base_lr, self.epochs = base_lr, epochs

    def lr(self, epoch: int, step: int, steps: int) -> float:
        return self.base_lr

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


class StepSchedule(Schedule):
    def __init__(self, base_lr, epochs, boundaries=(), factors=()):
        super().__init__(base_lr, epochs)
        if len(boundaries) != len(factors) or list(boundaries) != sorted(boundaries):
            raise MnistlabError("lr_schedule step needs ascending 'boundaries' and one 'factors' entry per boundary")
        self.boundaries, self.factors = list(boundaries), list(factors)

    def lr(self, epoch, step, steps):
        passed = sum(epoch > b for b in self.boundaries)
        return self.base_lr * (self.factors[passed - 1] if passed else 1.0)


class CosineSchedule(Schedule):
    """Linear warm-up from 0, then cosine from the base lr to min_lr over the remaining steps."""

    def __init__(self, base_lr, epochs, min_lr=0.0, warmup_epochs=0):
        super().__init__(base_lr, epochs)
        self.min_lr, self.warmup_epochs = float(min_lr), float(warmup_epochs)

    def lr(self, epoch, step, steps):
        t, total, warm = epoch * steps + step, self.epochs * steps, self.warmup_epochs * steps
        if t < warm:
            return self.base_lr * (t + 1) / warm
        progress = (t - warm) / max(1.0, total - warm)
        return self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


class OneCycleSchedule(Schedule):
    """torch's OneCycleLR (anneal_strategy='cos', no momentum cycling)."""

    def __init__(self, base_lr, epochs, max_lr=None, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
        super().__init__(base_lr, epochs)
        self.max_lr = float(max_lr if max_lr is not None else base_lr)
        self.pct_start, self.div_factor, self.final_div_factor = pct_start, div_factor, final_div_factor

    def lr(self, epoch, step, steps):
        t, total = epoch * steps + step, self.epochs * steps
        start = self.max_lr / self.div_factor
        end = start / self.final_div_factor
        up = self.pct_start * total - 1
        if t <= up:
            return _cos_anneal(start, self.max_lr, t / up if up > 0 else 1.0)
        return _cos_anneal(self.max_lr, end, (t - up) / max(1e-12, total - 1 - up))


def _cos_anneal(start, end, pct):
    return end + (start - end) / 2.0 * (math.cos(math.pi * min(1.0, pct)) + 1)


class ReduceLROnPlateau(Schedule):
    """keras.callbacks.ReduceLROnPlateau."""

    def __init__(self, base_lr, epochs, monitor="val_loss", factor=0.1, patience=10, min_delta=1e-4,
                 cooldown=0, min_lr=0.0, mode="auto"):
        super().__init__(base_lr, epochs)
        if not 0 < factor < 1:
            raise MnistlabError(f"reduce_on_plateau factor must be between 0 and 1, got {factor}")
        self.monitor, self.mode = monitor, _mode(mode, monitor)
        self.factor, self.patience, self.min_delta = factor, patience, min_delta
        self.cooldown, self.min_lr = cooldown, min_lr
        self.current = base_lr
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = self.cooldown_counter = 0

    def lr(self, epoch, step, steps):
        return self.current

    def on_epoch_end(self, epoch, logs):
        value = logs.get(self.monitor)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        better = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if better:
            self.best, self.wait = value, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience and self.current > self.min_lr:
                self.current = max(self.current * self.factor, self.min_lr)
                self.cooldown_counter, self.wait = self.cooldown, 0

    def state_dict(self):
        return {k: getattr(self, k) for k in ("current", "best", "wait", "cooldown_counter")}


SCHEDULES = {"step": StepSchedule, "cosine": CosineSchedule, "onecycle": OneCycleSchedule,
             "reduce_on_plateau": ReduceLROnPlateau}


def make_schedule(config: dict | None, base_lr: float, epochs: int) -> Schedule:
    if config is None:
        return Schedule(base_lr, epochs)
    cfg = dict(config)
    return SCHEDULES[cfg.pop("name")](base_lr, epochs, **cfg)


def make_early_stopping(config: dict | None) -> EarlyStopping | None:
    return None if config is None else EarlyStopping(**copy.deepcopy(config))
