"""keras.callbacks.ModelCheckpoint (mnistlab.ModelCheckpoint; the recipe's callbacks.model_checkpoint)."""
from __future__ import annotations

import copy
import os
import string

from mnistlab.errors import MnistlabError, did_you_mean
from mnistlab.train.checks import flag, known_keys, number
from mnistlab.train.monitor import LOGGED, Monitor, check_common, check_monitor, logged

class ModelCheckpoint(Monitor):
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
        check_common(c, prefix)
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

    def on_train_begin(self, logs=None) -> None:
        pass  # Keras keeps `best` across fits for ModelCheckpoint

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs, model = logs or {}, self.model
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


