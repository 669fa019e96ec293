"""The run's callbacks: the recipe's callbacks section and the objects given to fit(), as one
CallbackList (train/callback.py) in one order.

The recipe's `callbacks:` section builds EarlyStopping (early_stopping.py), a schedule
(schedules.py, ReduceLROnPlateau among them) and ModelCheckpoint (model_checkpoint.py); the
same classes are `mnistlab.EarlyStopping`, `mnistlab.ReduceLROnPlateau` and
`mnistlab.ModelCheckpoint`. Such an object passed to `fit(callbacks=[...])` is recorded in
the recipe's callbacks section (`fold_callbacks`), so config.yaml reproduces the run, and it
is the object the run uses (its state reads as in Keras afterwards: `stopper.stopped_epoch`).
"""
from __future__ import annotations

import copy

from mnistlab.errors import MnistlabError
from mnistlab.train.early_stopping import EarlyStopping
from mnistlab.train.model_checkpoint import ModelCheckpoint
from mnistlab.train.schedules import ReduceLROnPlateau, make_schedule

def make_early_stopping(config: dict | None) -> EarlyStopping | None:
    return None if config is None else EarlyStopping(**copy.deepcopy(config))


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
