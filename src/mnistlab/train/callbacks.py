"""Callbacks with Keras 3 semantics: EarlyStopping, ReduceLROnPlateau, ModelCheckpoint, and
the other learning-rate schedules.

One implementation each. The recipe's `callbacks:` section builds these objects, and the
same classes are `mnistlab.EarlyStopping`, `mnistlab.ReduceLROnPlateau` and
`mnistlab.ModelCheckpoint`, with Keras' argument names and defaults. An object passed to
`fit(callbacks=[...])` is recorded in the recipe's callbacks section (`fold_callbacks`), so
config.yaml reproduces the run, and it is the object the run uses (its state reads as in
Keras afterwards: `stopper.stopped_epoch`, `stopper.best`).

Each class's `check(config, prefix)` is the one validation of its settings (the Recipe calls
it; so does the constructor). A monitored name must be one the run logs (`LOGGED`, val_*
only with validation data), checked before the first epoch: Keras 3 raises on a name whose
direction it cannot tell (EarlyStopping(monitor="val_acc") with mode auto); mnistlab refuses
every name the history row will not hold.

Schedules give the base learning rate for every optimiser step: `lr(epoch, step, steps)`.
`step` and `reduce_on_plateau` change it per epoch (epochs count from 0, as Keras passes
them to LearningRateScheduler); `cosine` and `onecycle` change it every step. The
optimiser's own Keras `decay` then applies on top, as it did in Keras 2.
Every callback has state_dict()/load_state_dict() so a resumed run continues exactly.
"""
from __future__ import annotations

import copy
import math
import os
import string

from mnistlab.errors import MnistlabError, did_you_mean
from mnistlab.train.checks import choice, flag, known_keys, number, section_name

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


def _common(c: dict, prefix: str) -> None:
    """monitor (a string), mode, min_delta (a number; Keras uses its absolute value), verbose."""
    c["mode"] = choice(c["mode"], f"{prefix}mode", MODES)
    if not isinstance(c["monitor"], str):
        raise MnistlabError(f"'{prefix}monitor' must be a metric name like val_loss, got {c['monitor']!r}")
    if "min_delta" in c:
        c["min_delta"] = number(c["min_delta"], f"{prefix}min_delta")
    c["verbose"] = number(c["verbose"], f"{prefix}verbose", lo=0, integer=True)


class _Monitor:
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


class EarlyStopping(_Monitor):
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
        _common(c, prefix)
        check_monitor(c["monitor"], c["mode"], f"{prefix}monitor", has_validation)
        c["patience"] = number(c["patience"], f"{prefix}patience", lo=0, integer=True)
        c["baseline"] = number(c["baseline"], f"{prefix}baseline", allow_none=True)
        c["restore_best_weights"] = flag(c["restore_best_weights"], f"{prefix}restore_best_weights")
        c["start_from_epoch"] = number(c["start_from_epoch"], f"{prefix}start_from_epoch", lo=0, integer=True)
        return c

    def recipe_value(self) -> dict:
        return copy.deepcopy(self.config)

    def on_train_begin(self) -> None:
        """Keras: an instance can be reused across fits; each starts afresh."""
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0

    def on_epoch_end(self, epoch: int, logs: dict, model) -> bool:
        """True when training should stop."""
        current = logs.get(self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return False
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
            return False  # Keras returns here: an improving epoch never stops training
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, model) -> int | None:
        """Restore the best weights if asked and recorded; returns their 0-based epoch (or None)."""
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.", flush=True)
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

    def on_train_begin(self) -> None:
        pass

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


class ReduceLROnPlateau(_Monitor, Schedule):
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
        _common(c, prefix)
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

    def on_train_begin(self) -> None:
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def lr(self, epoch, step, steps):
        return self.current

    def on_epoch_end(self, epoch, logs):
        current = logs.get(self.monitor)
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


class ModelCheckpoint(_Monitor):
    """keras.callbacks.ModelCheckpoint: after every epoch, save the model's weights to
    `filepath` (formatted with `epoch`, 1-based, and the epoch's logs, as Keras does:
    "ckpt-{epoch:02d}-{val_loss:.3f}.safetensors"); with save_best_only only when `monitor`
    improves (the first value always does, or it must beat `initial_value_threshold`).

    The file is safetensors (Keras writes .keras/.h5): the weights, with the model's
    architecture as metadata ("mnistlab_spec") unless save_weights_only=True. Paths are
    relative to the working folder, as in Keras. save_freq takes only "epoch": the training
    loop has no per-batch callbacks.
    """

    KEY = "model_checkpoint"
    DEFAULTS = {"filepath": None, "monitor": "val_loss", "verbose": 0, "save_best_only": False,
                "save_weights_only": False, "mode": "auto", "save_freq": "epoch", "initial_value_threshold": None}

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        if isinstance(filepath, os.PathLike):
            filepath = os.fspath(filepath)
        c = self.config = self.check(dict(filepath=filepath, monitor=monitor, verbose=verbose,
                                          save_best_only=save_best_only, save_weights_only=save_weights_only,
                                          mode=mode, save_freq=save_freq,
                                          initial_value_threshold=initial_value_threshold), "ModelCheckpoint.")
        self._set_monitor(c["monitor"], c["mode"], 0.0)
        self.filepath, self.verbose = c["filepath"], c["verbose"]
        self.save_best_only, self.save_weights_only = c["save_best_only"], c["save_weights_only"]
        self.best = c["initial_value_threshold"]
        self.spec = None  # the model's spec, set by the run that uses it (metadata of the file)

    @classmethod
    def check(cls, given, prefix: str, has_validation: bool | None = None) -> dict:
        c = known_keys(cls.DEFAULTS, given, prefix.rstrip("."))
        _common(c, prefix)
        path = c["filepath"]
        if not isinstance(path, str) or not path.endswith(".safetensors") or path == ".safetensors":
            raise MnistlabError(f"'{prefix}filepath' must be a file name ending in .safetensors "
                                f"(e.g. best-{{epoch:02d}}.safetensors), got {path!r}")
        names = [f for _, f, _, _ in _parse(path, prefix) if f is not None]
        allowed = ("epoch", *(logged(has_validation) if has_validation is not None else LOGGED))
        for name in names:
            if name not in allowed:
                raise MnistlabError(f"'{prefix}filepath' has the field {{{name}}}, which the run does not log"
                                    f"{did_you_mean(name, allowed)}; use {', '.join(allowed)}")
        try:  # a bad format spec ({epoch:zz}) fails here, not after the first epoch
            path.format(**{n: (1 if n == "epoch" else 0.5) for n in names})
        except (ValueError, TypeError, IndexError, KeyError) as err:
            raise MnistlabError(f"'{prefix}filepath' {path!r} cannot be formatted: {err}") from None
        c["save_best_only"] = flag(c["save_best_only"], f"{prefix}save_best_only")
        if c["save_best_only"]:  # the monitor decides what is saved
            check_monitor(c["monitor"], c["mode"], f"{prefix}monitor", has_validation)
        else:  # unused, as in Keras, but a misspelt name is still one
            check_monitor(c["monitor"], "min", f"{prefix}monitor")
        c["save_weights_only"] = flag(c["save_weights_only"], f"{prefix}save_weights_only")
        if c["save_freq"] != "epoch":
            raise MnistlabError(f"'{prefix}save_freq' can only be \"epoch\" (the training loop has no "
                                f"per-batch callbacks), got {c['save_freq']!r}")
        c["initial_value_threshold"] = number(c["initial_value_threshold"], f"{prefix}initial_value_threshold",
                                              allow_none=True)
        return c

    def recipe_value(self) -> dict:
        return copy.deepcopy(self.config)

    def on_train_begin(self) -> None:
        pass  # Keras keeps `best` across fits for ModelCheckpoint

    def on_epoch_end(self, epoch: int, logs: dict, model) -> None:
        path = self.filepath.format(**{**logs, "epoch": epoch + 1})
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is not None and not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}", flush=True)
                return
            self.best = current
        self._save(path, model)
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}", flush=True)

    def _save(self, path: str, model) -> None:
        import json
        from pathlib import Path

        from safetensors.torch import save

        from mnistlab.runs.files import write_atomic
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        meta = None
        if not self.save_weights_only:
            meta = ({"mnistlab_spec": json.dumps(self.spec)} if self.spec is not None
                    else {"torch_module": f"{type(model).__module__}:{type(model).__qualname__}"})
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(Path(path), save(state, metadata=meta))

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]


def _parse(path: str, prefix: str):
    try:
        return list(string.Formatter().parse(path))
    except ValueError as err:
        raise MnistlabError(f"'{prefix}filepath' {path!r} cannot be formatted: {err}") from None


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


def make_early_stopping(config: dict | None) -> EarlyStopping | None:
    return None if config is None else EarlyStopping(**copy.deepcopy(config))


# ---------------------------------------------------------------- objects given to fit()

RECIPE_CALLBACKS = (EarlyStopping, ReduceLROnPlateau, ModelCheckpoint)


def fold_callbacks(recipe, callbacks, *, resume: bool = False):
    """(the recipe with each EarlyStopping / ReduceLROnPlateau / ModelCheckpoint in
    `callbacks` recorded in its callbacks section, {recipe key: that object}, the other
    callbacks). A recipe that already sets that key differently is one line, not a guess."""
    own, hooks = {}, []
    for cb in callbacks or []:
        if isinstance(cb, RECIPE_CALLBACKS):
            if cb.KEY in own:
                raise MnistlabError(f"callbacks= has two {cb.KEY} callbacks ({type(own[cb.KEY]).__name__} and "
                                    f"{type(cb).__name__}); a run takes one")
            own[cb.KEY] = cb
        else:
            hooks.append(cb)
    if not own:
        return recipe, own, hooks
    section = recipe.callbacks
    updates = {}
    for key, cb in own.items():
        value = cb.recipe_value()
        if section.get(key) is not None and section[key] != value:
            raise MnistlabError(f"the recipe already sets callbacks.{key} and callbacks= passes {type(cb).__name__}; "
                                f"give one of them (fit(..., {key}=None) drops the recipe's)")
        updates[f"callbacks.{key}"] = value
    folded = recipe.replace(updates)
    if resume and folded != recipe:
        raise MnistlabError("a resumed run keeps the callbacks its config.yaml records; drop "
                            f"{', '.join(type(c).__name__ for c in own.values())} from callbacks=")
    return folded, own, hooks


def build_callbacks(cfg: dict, given: dict | None = None, spec=None):
    """(schedule, early stopping or None, model checkpoint or None) for a run: the objects
    given to fit() where there are any (already recorded in `cfg`), else built from `cfg`."""
    given = given or {}
    cb = cfg["callbacks"]
    base_lr, epochs = cfg["optimizer"]["lr"], cfg["epochs"]
    if isinstance(given.get("lr_schedule"), ReduceLROnPlateau):
        schedule = given["lr_schedule"].bind(base_lr, epochs)
    else:
        schedule = make_schedule(cb["lr_schedule"], base_lr, epochs)
    stopper = given.get("early_stopping") or make_early_stopping(cb["early_stopping"])
    if stopper is not None:
        stopper.on_train_begin()
    saver = given.get("model_checkpoint")
    if saver is None and cb.get("model_checkpoint") is not None:
        saver = ModelCheckpoint(**copy.deepcopy(cb["model_checkpoint"]))
    if saver is not None:
        saver.spec = spec
    return schedule, stopper, saver
