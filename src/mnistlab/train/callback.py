"""The callback protocol, Keras' (keras.callbacks.Callback / CallbackList): one list, one order.

fit() holds one CallbackList: the recipe's callbacks (early stopping, the learning-rate
schedule, the model checkpoint), then the user's, in the order given. For every hook, each
callback is called in that order, as Keras 3 calls them:

    on_train_begin(logs)                      once, after set-up (and a resumed run's restore)
    on_epoch_begin(epoch, logs)               epoch 0-based, as Keras passes it
    on_epoch_end(epoch, logs)                 logs: the history row (loss, accuracy, val_loss,
                                              val_accuracy, lr, seconds)
    on_train_end(logs)                        the last epoch's logs; EarlyStopping restores
                                              its best weights here, before the test
    on_test_end(logs)                         fit's final test: test_loss, test_accuracy

A callback stops training as in Keras: `self.model.stop_training = True` (`self.model` is
the run's torch module, set through `set_model`); fit checks it after each epoch's
on_epoch_end. There are no per-batch hooks: the loop runs on the device without them.
The epoch's checkpoint is written after on_epoch_end, so it holds every callback's state
after the epoch; a hook that raises leaves the previous epoch's checkpoint to resume from.
"""
from __future__ import annotations

from mnistlab.errors import MnistlabError

HOOKS = ("on_train_begin", "on_epoch_begin", "on_epoch_end", "on_train_end", "on_test_end")


class Callback:
    """Subclass and override the hooks you need (Keras' keras.callbacks.Callback shape)."""

    model = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass


class LambdaCallback(Callback):
    """keras.callbacks.LambdaCallback: hooks from plain functions, e.g.
    LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["val_accuracy"]))."""

    def __init__(self, on_train_begin=None, on_epoch_begin=None, on_epoch_end=None, on_train_end=None,
                 on_test_end=None):
        given = dict(on_train_begin=on_train_begin, on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_end=on_train_end, on_test_end=on_test_end)
        for name, fn in given.items():
            if fn is not None:
                if not callable(fn):
                    raise MnistlabError(f"LambdaCallback({name}=...) takes a function, not {type(fn).__name__}")
                setattr(self, name, fn)


def as_callbacks(callbacks) -> list:
    """fit(callbacks=...) as a list: a list or tuple of callbacks, or one callback (Keras 3
    takes one as a list of it). A function, a class or anything without Keras' hooks is one
    line: Keras would fail on it at the first hook."""
    if callbacks is None:
        return []
    items = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
    for i, cb in enumerate(items):
        where = f"callbacks[{i}]" if isinstance(callbacks, (list, tuple)) else "callbacks"
        if isinstance(cb, type):
            raise MnistlabError(f"{where} is the class {cb.__name__}, not a callback; pass an instance, "
                                f"{cb.__name__}(...)")
        if not any(callable(getattr(cb, hook, None)) for hook in HOOKS):
            if callable(cb):
                raise MnistlabError(f"{where} is a function, not a callback; wrap it as Keras does: "
                                    "mnistlab.LambdaCallback(on_epoch_end=fn) (fn(epoch, logs))")
            raise MnistlabError(f"{where} is a {type(cb).__name__}, not a callback; pass objects with Keras' "
                                "hooks (subclass mnistlab.Callback: on_epoch_end(epoch, logs), ...)")
    return items


class CallbackList:
    """Every hook of every callback, in list order (keras.callbacks.CallbackList)."""

    def __init__(self, callbacks, model):
        self.callbacks = [cb for cb in callbacks if cb is not None]
        self.model = model
        for cb in self.callbacks:
            if callable(getattr(cb, "set_model", None)):
                cb.set_model(model)
            else:  # an object with Keras' hooks but not a Callback subclass
                try:
                    cb.model = model
                except AttributeError:
                    pass

    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            method = getattr(cb, hook, None)
            if method is not None:
                method(*args)

    def on_train_begin(self, logs=None) -> None:
        self.model.stop_training = False  # Keras resets it at the start of every fit
        self._call("on_train_begin", dict(logs or {}))

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._call("on_epoch_begin", epoch, dict(logs or {}))

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        """Calls every callback; True when one of them set model.stop_training."""
        self._call("on_epoch_end", epoch, dict(logs))
        return bool(getattr(self.model, "stop_training", False))

    def on_train_end(self, logs=None) -> None:
        self._call("on_train_end", dict(logs or {}))

    def on_test_end(self, logs=None) -> None:
        self._call("on_test_end", dict(logs or {}))
