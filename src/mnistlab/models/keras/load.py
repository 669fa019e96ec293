"""A Keras model (object or file) -> spec, built network with its weights, recipe settings."""
from __future__ import annotations

import math
from dataclasses import dataclass

from mnistlab.errors import MnistlabError
from mnistlab.models.keras.files import KerasSource, read_source
from mnistlab.models.keras.to_spec import keras_layers, to_spec
from mnistlab.models.spec import resolve_spec

# Keras optimizer class -> mnistlab optimizer name; Keras argument -> recipe argument
_OPTIMIZERS = {"SGD": "sgd", "RMSprop": "rmsprop", "Adam": "adam", "AdamW": "adamw", "Adadelta": "adadelta"}
_ARGS = {"learning_rate": "lr", "lr": "lr", "momentum": "momentum", "nesterov": "nesterov", "rho": "rho",
         "epsilon": "epsilon", "centered": "centered", "beta_1": "beta_1", "beta_2": "beta_2",
         "amsgrad": "amsgrad", "weight_decay": "weight_decay", "decay": "decay"}
# Keras arguments that change training and that mnistlab does not have: refused unless off
_OFF = {"clipnorm": None, "global_clipnorm": None, "clipvalue": None, "use_ema": False,
        "loss_scale_factor": None, "gradient_accumulation_steps": None}
_LOSSES = {"sparse_categorical_crossentropy", "categorical_crossentropy", "SparseCategoricalCrossentropy",
           "CategoricalCrossentropy"}


@dataclass
class KerasImport:
    spec: dict                   # resolved mnistlab spec
    names: list                  # the Keras layer name behind each spec layer
    source: KerasSource

    @property
    def has_weights(self) -> bool:
        return self.source.weights is not None

    def build(self):
        """The network with the Keras weights (or a fresh Keras-style initialisation when the
        model was never built); float NCHW in [0, 1] -> logits."""
        from mnistlab.models.keras.weights import load_keras_arrays, weighted_modules
        from mnistlab.models.layers import build
        net = build(self.spec)
        if self.source.weights is None:
            return net
        layers = [(n, layer) for n, layer in zip(self.names, self.spec["layers"])
                  if layer["type"] in ("conv2d", "separable_conv2d", "dense", "batchnorm")]
        modules = weighted_modules(net)
        assert len(modules) == len(layers)
        for (name, layer), module in zip(layers, modules):
            if name not in self.source.weights:
                raise MnistlabError(f"{self.source.origin}: the weights of layer '{name}' are missing; "
                                    "save the model again")
            load_keras_arrays(module, self.source.weights[name], f"{self.source.origin}: layer '{name}'")
        return net

    def recipe_settings(self) -> dict:
        """fit() keywords from the model's compile(): optimizer (name, lr, Keras arguments) and
        the loss's label smoothing; empty when it was not compiled."""
        settings = compile_settings(self.source.compile, self.source.origin)
        logits = settings.pop("from_logits", None)
        softmax = self.spec["layers"][-1].get("activation") == "softmax"
        if logits is not None and logits == softmax:
            raise MnistlabError(f"{self.source.origin}: the loss has from_logits={logits} but the model "
                                f"{'ends in' if softmax else 'does not end in'} softmax; mnistlab's loss reads a "
                                "softmax ending as probabilities and any other ending as logits")
        return settings


def read_keras(source, *, input_shape=None) -> KerasImport:
    """A keras.Model, a .keras / .h5 / .json path or model.to_json() text -> KerasImport."""
    src = read_source(source)
    body, _, _ = keras_layers(src.config)
    spec = resolve_spec(to_spec(src.config, input_shape=input_shape))
    names = [layer.get("config", {}).get("name") for layer in body]
    return KerasImport(spec, names, src)


def compile_settings(compile_config, origin: str) -> dict:
    if not compile_config:
        return {}
    out = {}
    opt = compile_config.get("optimizer")
    if opt is not None:
        out["optimizer"] = _optimizer(opt, origin)
    loss = compile_config.get("loss")
    if loss is not None:
        out.update(_loss(loss, origin))
    return out


def _optimizer(opt, origin: str) -> dict:
    if isinstance(opt, str):
        cls, config = opt, {}
    else:
        cls, config = opt.get("class_name"), opt.get("config") or {}
    name = _OPTIMIZERS.get(cls) or {v: v for v in _OPTIMIZERS.values()}.get(str(cls).lower())
    if name is None:
        raise MnistlabError(f"{origin}: the model is compiled with optimizer {cls}, which mnistlab does not have; "
                            f"use one of {', '.join(_OPTIMIZERS)} or pass optimizer= to fit")
    out = {"name": name}
    for key, value in config.items():
        if key in ("name", "is_legacy_optimizer", "jit_compile", "ema_momentum", "ema_overwrite_frequency"):
            continue
        if key in _OFF:
            if value != _OFF[key]:
                raise MnistlabError(f"{origin}: the optimizer's {key}={value!r} has no mnistlab equivalent; "
                                    "compile without it or pass optimizer= to fit")
            continue
        if key not in _ARGS:
            raise MnistlabError(f"{origin}: the optimizer argument {key}={value!r} is not supported; "
                                "pass optimizer= to fit")
        if isinstance(value, dict):
            raise MnistlabError(f"{origin}: the optimizer's {key} is a schedule ({value.get('class_name')}); "
                                "mnistlab sets schedules with lr_schedule= (see docs/training.md)")
        if value is None:
            continue
        if isinstance(value, float) and math.isfinite(value):
            value = float(f"{value:.7g}")  # Keras stores float32: 0.0010000000474974513 is 0.001
        out[_ARGS[key]] = value
    return out


def _loss(loss, origin: str) -> dict:
    if isinstance(loss, dict):
        cls, config = loss.get("class_name"), loss.get("config") or {}
        if cls == "function":
            cls, config = config, {}
    else:
        cls, config = loss, {}
    if cls not in _LOSSES:
        raise MnistlabError(f"{origin}: the model is compiled with loss {cls!r}; mnistlab trains with the "
                            "(sparse) categorical cross-entropy")
    smoothing = float(config.get("label_smoothing") or 0.0)
    return {"from_logits": bool(config.get("from_logits", False)),
            **({"label_smoothing": smoothing} if smoothing else {})}
