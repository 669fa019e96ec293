"""Learning-rate schedules: the base learning rate for every optimiser step, `lr(epoch, step, steps)`.

`step` and `reduce_on_plateau` change it per epoch (epochs count from 0, as Keras passes
them to LearningRateScheduler); `cosine` and `onecycle` change it every step. The
optimiser's own Keras `decay` then applies on top, as it did in Keras 2. Each schedule is a
callback on the run's CallbackList (ReduceLROnPlateau reads the epoch's logs there) with
state_dict()/load_state_dict(), so a resumed run continues exactly. `check_schedule` is the
one validation of the recipe's `callbacks.lr_schedule`.
"""
from __future__ import annotations

import copy
import math

from mnistlab.errors import MnistlabError
from mnistlab.train.callback import Callback
from mnistlab.train.checks import known_keys, number, section_name
from mnistlab.train.monitor import Monitor, check_common, check_monitor

class Schedule(Callback):
    """Constant learning rate; subclasses change it."""

    def __init__(self, base_lr: float, epochs: int):
        self.base_lr, self.epochs = base_lr, epochs

    def lr(self, epoch: int, step: int, steps: int) -> float:
        return self.base_lr

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


class StepSchedule(Schedule):
    def __init__(self, base_lr, epochs, boundaries=(), factors=()):
        super().__init__(base_lr, epochs)
        assert len(boundaries) == len(factors), "checked by check_schedule with the recipe"
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


class ReduceLROnPlateau(Monitor, Schedule):
    """keras.callbacks.ReduceLROnPlateau, Keras 3 (keras/src/callbacks/reduce_lr_on_plateau.py):
    the first monitored value is always the best so far (best starts at None); after
    `patience` epochs without improving by more than `min_delta`, lr = max(lr * factor,
    min_lr), then `cooldown` epochs without counting. The recipe's
    `lr_schedule: {name: reduce_on_plateau, ...}` builds this class; `verbose=1` prints
    Keras' "Epoch N: ReduceLROnPlateau reducing learning rate to X." line."""

    KEY, NAME = "lr_schedule", "reduce_on_plateau"
    DEFAULTS = {"monitor": "val_loss", "factor": 0.1, "patience": 10, "verbose": 0, "mode": "auto",
                "min_delta": 1e-4, "cooldown": 0, "min_lr": 0.0}

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        c = self.config = self.check(dict(monitor=monitor, factor=factor, patience=patience, verbose=verbose,
                                          mode=mode, min_delta=min_delta, cooldown=cooldown, min_lr=min_lr),
                                     "ReduceLROnPlateau.")
        self._set_monitor(c["monitor"], c["mode"], c["min_delta"])
        self.factor, self.patience, self.verbose = c["factor"], c["patience"], c["verbose"]
        self.cooldown, self.min_lr = c["cooldown"], c["min_lr"]
        self.bind(None, None)

    @classmethod
    def check(cls, given, prefix: str, has_validation: bool | None = None) -> dict:
        c = known_keys(cls.DEFAULTS, given, prefix.rstrip("."))
        check_common(c, prefix)
        check_monitor(c["monitor"], c["mode"], f"{prefix}monitor", has_validation)
        # Keras refuses factor >= 1; 0 or less would not reduce the rate either
        c["factor"] = number(c["factor"], f"{prefix}factor", above=0.0, hi=1.0)
        if c["factor"] == 1.0:
            raise MnistlabError(f"'{prefix}factor' must be below 1 (new lr = lr * factor), got 1.0")
        c["patience"] = number(c["patience"], f"{prefix}patience", lo=0, integer=True)
        c["cooldown"] = number(c["cooldown"], f"{prefix}cooldown", lo=0, integer=True)
        c["min_lr"] = number(c["min_lr"], f"{prefix}min_lr", lo=0.0)
        return c

    def recipe_value(self) -> dict:
        return {"name": self.NAME, **copy.deepcopy(self.config)}

    def bind(self, base_lr, epochs) -> "ReduceLROnPlateau":
        """Start from the optimiser's learning rate (what Keras reads from model.optimizer)."""
        Schedule.__init__(self, base_lr, epochs)
        self.current = base_lr
        self.on_train_begin()
        return self

    def on_train_begin(self, logs=None) -> None:
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def lr(self, epoch, step, steps):
        return self.current

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif not self.cooldown_counter > 0:
            self.wait += 1
            if self.wait >= self.patience and self.current > self.min_lr:
                self.current = max(self.current * self.factor, self.min_lr)
                if self.verbose > 0:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {self.current}.", flush=True)
                self.cooldown_counter, self.wait = self.cooldown, 0

    def state_dict(self):
        return {k: getattr(self, k) for k in ("current", "best", "wait", "cooldown_counter")}


# ---------------------------------------------------------------- the recipe's schedules

def _check_step(c, prefix):
    b, f = c["boundaries"], c["factors"]
    if not isinstance(b, list) or not isinstance(f, list):
        raise MnistlabError(f"'{prefix}boundaries' and '{prefix}factors' must be lists, got {b!r} and {f!r}")
    c["boundaries"] = [number(x, f"{prefix}boundaries[{i}]", lo=0, integer=True) for i, x in enumerate(b)]
    c["factors"] = [number(x, f"{prefix}factors[{i}]", above=0.0) for i, x in enumerate(f)]
    if len(b) != len(f) or c["boundaries"] != sorted(set(c["boundaries"])):
        raise MnistlabError(f"'{prefix.rstrip('.')}' (step) needs ascending 'boundaries' and one 'factors' "
                            f"entry per boundary, got boundaries {b!r}, factors {f!r}")


def _check_cosine(c, prefix):
    c["min_lr"] = number(c["min_lr"], f"{prefix}min_lr", lo=0.0)
    c["warmup_epochs"] = number(c["warmup_epochs"], f"{prefix}warmup_epochs", lo=0.0)


def _check_onecycle(c, prefix):
    c["max_lr"] = number(c["max_lr"], f"{prefix}max_lr", above=0.0, allow_none=True)
    c["pct_start"] = number(c["pct_start"], f"{prefix}pct_start", above=0.0, hi=1.0)
    c["div_factor"] = number(c["div_factor"], f"{prefix}div_factor", above=0.0)
    c["final_div_factor"] = number(c["final_div_factor"], f"{prefix}final_div_factor", above=0.0)


SCHEDULES = {"step": StepSchedule, "cosine": CosineSchedule, "onecycle": OneCycleSchedule,
             "reduce_on_plateau": ReduceLROnPlateau}
SCHEDULE_DEFAULTS = {"step": {"boundaries": [], "factors": []},
                     "cosine": {"min_lr": 0.0, "warmup_epochs": 0},
                     # torch.optim.lr_scheduler.OneCycleLR's shape (cosine anneal); max_lr null = optimizer lr
                     "onecycle": {"max_lr": None, "pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4},
                     "reduce_on_plateau": ReduceLROnPlateau.DEFAULTS}
_SCHEDULE_CHECKS = {"step": _check_step, "cosine": _check_cosine, "onecycle": _check_onecycle}


def check_schedule(section, prefix: str, has_validation: bool | None = None) -> dict | None:
    """The recipe's `lr_schedule` ({name: ..., settings} or a bare name), validated, or None."""
    if section is None:
        return None
    name, section = section_name(section, SCHEDULES, prefix.rstrip("."))
    if name == ReduceLROnPlateau.NAME:
        return {"name": name, **ReduceLROnPlateau.check(section, prefix, has_validation)}
    c = known_keys(SCHEDULE_DEFAULTS[name], section, prefix.rstrip("."))
    _SCHEDULE_CHECKS[name](c, prefix)
    return {"name": name, **c}


def make_schedule(config: dict | None, base_lr: float, epochs: int) -> Schedule:
    if config is None:
        return Schedule(base_lr, epochs)
    cfg = dict(config)
    cls = SCHEDULES[cfg.pop("name")]
    if cls is ReduceLROnPlateau:
        return ReduceLROnPlateau(**cfg).bind(base_lr, epochs)
    return cls(base_lr, epochs, **cfg)


