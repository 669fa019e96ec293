"""A Keras model config (Keras 3 `config.json`, `model.to_json()`, or Keras 2's HDF5
`model_config`) -> a mnistlab spec, reading the JSON only: no class is looked up or called.

Each supported Keras class maps to one spec layer (an activation layer after a conv/dense
stays its own `activation` row, so the summary rows are Keras'). Anything else, or a setting
the spec cannot express, is refused naming the layer, its position in `model.layers` and
what is supported: a partial import would be a silently different model.
"""
from __future__ import annotations

import math

from mnistlab.errors import MnistlabError

SUPPORTED = ("InputLayer, Conv2D, SeparableConv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, "
             "Dropout, Flatten, Dense, BatchNormalization, Activation, ReLU, ELU, LeakyReLU(0.3), Softmax, "
             "Rescaling (first), Add, Concatenate, l2 kernel_regularizer")
# Keras activation name -> spec activation. Keras 3's "leaky_relu" string has slope 0.2, the
# spec's leaky_relu is the LeakyReLU layer's 0.3, so that string is refused rather than mapped.
_ACTS = {"linear": "linear", "relu": "relu", "elu": "elu", "sigmoid": "sigmoid", "tanh": "tanh",
         "softmax": "softmax", "gelu": "gelu", None: "linear"}
_INITS = {"GlorotUniform": "glorot_uniform", "GlorotNormal": "glorot_normal", "HeNormal": "he_normal",
          "HeUniform": "he_uniform", "glorot_uniform": "glorot_uniform", "glorot_normal": "glorot_normal",
          "he_normal": "he_normal", "he_uniform": "he_uniform"}
_CONTAINERS = ("Sequential", "Functional", "Model")


class Where:
    """Names one Keras layer in an error: position in model.layers, name and class."""

    def __init__(self, pos, layer):
        self.pos, self.name, self.cls = pos, layer.get("config", {}).get("name", "?"), layer.get("class_name")
        self.registered = layer.get("registered_name")
        self.module = str(layer.get("module") or "keras.layers")  # Keras 2 files have no module

    def error(self, what: str) -> MnistlabError:
        return MnistlabError(f"Keras layer {self.pos} '{self.name}' ({self.cls}): {what}")


def keras_layers(model_config) -> tuple[list[dict], list | None, dict | None]:
    """The layers of a Sequential or functional model in model.layers order (InputLayer left
    out), the input shape the config declares (None when the model was never built), and for
    a functional model each layer's inputs by name."""
    if not isinstance(model_config, dict) or "class_name" not in model_config:
        raise MnistlabError("not a Keras model config: expected a JSON object with class_name and config")
    cls = model_config["class_name"]
    if cls not in _CONTAINERS:
        raise MnistlabError(f"the Keras file holds a {cls}, not a model; mnistlab imports Sequential and "
                            "functional (keras.Model) models")
    config = model_config.get("config") or {}
    if config.get("trainable", True) is False:
        raise MnistlabError("the Keras model is frozen (trainable=False); mnistlab trains every layer")
    layers = config.get("layers")
    if not isinstance(layers, list):
        raise MnistlabError(f"the Keras {cls} config has no layers list; the file is damaged")
    routes = None if cls == "Sequential" else _routes(layers, config)
    shape = None
    body = []
    for layer in layers:
        if not isinstance(layer, dict):
            raise MnistlabError("a Keras layer config is not a JSON object; the file is damaged")
        if layer.get("class_name") == "InputLayer":
            c = layer.get("config") or {}
            shape = c.get("batch_shape") or c.get("batch_input_shape")
            continue
        c = layer.get("config") or {}
        if shape is None and not body and c.get("batch_input_shape"):  # Keras 2: the first layer's input_shape
            shape = c["batch_input_shape"]
        body.append(layer)
    if shape is None:
        built = (model_config.get("build_config") or {}).get("input_shape") or config.get("build_input_shape")
        shape = built
    return body, (list(shape[1:]) if shape else None), routes


def _inbound(layer) -> list[str]:
    """Names of the layers feeding this one (Keras 3 and Keras 2 node formats)."""
    names = []
    for node in layer.get("inbound_nodes") or []:
        if isinstance(node, dict):  # Keras 3: {"args": [tensor or [tensors]], "kwargs": {}}
            stack = list(node.get("args", []))
            while stack:
                item = stack.pop(0)
                if isinstance(item, list):
                    stack = item + stack
                elif isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
                    names.append(item["config"]["keras_history"][0])
        elif isinstance(node, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
            names += [t[0] for t in node if isinstance(t, list) and t]
    return names


def _routes(layers: list, config: dict) -> dict:
    """Functional models: layer name -> the layer names it reads ("input" for the model's
    input), from the config's inbound nodes. One input, one output; a layer called twice
    (shared weights) is refused."""
    routes = {}
    inputs = [layer for layer in layers if layer.get("class_name") == "InputLayer"]
    if len(inputs) != 1:
        raise MnistlabError(f"the Keras model has {len(inputs)} inputs; mnistlab models take one image input")
    outs = config.get("output_layers") or []
    if outs and isinstance(outs[0], list) and len(outs) > 1:
        raise MnistlabError("the Keras model has several outputs; mnistlab models have one")
    input_name = inputs[0].get("config", {}).get("name") or inputs[0].get("name")
    for pos, layer in enumerate(layers):
        if layer.get("class_name") == "InputLayer":
            continue
        if len(layer.get("inbound_nodes") or []) > 1:
            raise Where(pos, layer).error("is called more than once (shared weights), which is not supported")
        routes[layer.get("config", {}).get("name")] = ["input" if n == input_name else n for n in _inbound(layer)]
    return routes


def _input_shape(shape, where_text: str) -> list[int]:
    if shape is None:
        raise MnistlabError(f"{where_text}: the Keras model has no input shape (it was never built); add "
                            "keras.Input(shape=(28, 28, 1)) first, or pass input_shape=(28, 28, 1)")
    shape = [int(d) for d in shape]
    if len(shape) == 2:  # (28, 28): a grey image without its channel axis
        shape = shape + [1]
    if len(shape) != 3:
        raise MnistlabError(f"{where_text}: the Keras model's input shape is {tuple(shape)}; mnistlab models take "
                            "images (H, W, C), e.g. keras.Input(shape=(28, 28, 1))")
    return shape


def to_spec(model_config, *, input_shape=None, name: str | None = None) -> dict:
    """Keras model config -> (unresolved) mnistlab spec dict."""
    body, declared, routes = keras_layers(model_config)
    shape = _input_shape(declared if declared is not None else input_shape, "Keras model")
    if input_shape is not None and declared is not None and list(input_shape) != shape:
        shape2 = _input_shape(input_shape, "input_shape")
        if shape2 != shape:
            raise MnistlabError(f"input_shape {tuple(shape2)} disagrees with the Keras model's own {tuple(shape)}; "
                                "drop input_shape=")
    out = []
    for pos, layer in enumerate(body):
        w = Where(pos + (routes is not None), layer)  # a functional model.layers starts with its InputLayer
        out += _layer(w, layer.get("class_name"), layer.get("config") or {}, first=not out)
        if routes is not None:
            _route(w, out, body, pos, routes)
    spec_name = name or (model_config.get("config") or {}).get("name") or "keras-model"
    return {"name": str(spec_name), "input_shape": shape, "layers": out}


def _route(w: Where, out: list, body: list, pos: int, routes: dict) -> None:
    """Give the spec layer just added the Keras layer's inputs (when it does not simply read
    the layer before it) and name the layers it reads."""
    feeds = routes.get(w.name) or []
    merge = out[-1]["type"] in ("add", "concatenate")
    if not feeds or (len(feeds) > 1 and not merge):
        raise w.error(f"reads {len(feeds)} tensors; only Add and Concatenate merge several (supported: {SUPPORTED})")
    previous = body[pos - 1].get("config", {}).get("name") if pos else "input"
    if feeds == [previous] and not merge:
        return
    out[-1]["inputs"] = feeds
    names = [b.get("config", {}).get("name") for b in body[:pos]]
    for name in feeds:
        if name != "input" and name not in names:
            raise w.error(f"reads '{name}', which is not an earlier layer; the file is damaged")
        if name != "input":
            out[names.index(name)]["name"] = name


# ---------------------------------------------------------------- one layer

def _layer(w: Where, cls, c: dict, first: bool) -> list[dict]:
    if cls in _CONTAINERS:
        raise w.error("a model nested inside the model; rebuild it as one flat Sequential or functional model")
    if c.get("trainable", True) is False:
        raise w.error("trainable=False (a frozen layer) is not supported; mnistlab trains every layer")
    if c.get("data_format", "channels_last") != "channels_last":
        raise w.error("data_format channels_first is not supported; mnistlab (like Keras' default) is channels_last")
    if c.get("dtype") not in (None, "float32") and _dtype_name(c.get("dtype")) != "float32":
        raise w.error(f"dtype {_dtype_name(c.get('dtype'))}; mnistlab imports float32 layers")
    handler = _HANDLERS.get(cls)
    if cls == "Lambda":
        raise w.error("a Lambda layer holds Python code, which mnistlab never runs from a file; "
                      f"rewrite it with built-in layers (supported: {SUPPORTED})")
    if handler is None and (w.registered or not w.module.startswith("keras")):
        raise w.error(f"a custom class ({w.registered or w.module}), whose code mnistlab never runs from a "
                      f"file; supported: {SUPPORTED}")
    if handler is None:
        raise w.error(f"this layer type is not supported (it is never executed from a file); "
                      f"supported: {SUPPORTED}")
    return handler(w, c, first)


def _dtype_name(d) -> str:
    if isinstance(d, dict):
        return str((d.get("config") or {}).get("name", "float32"))
    return str(d)


def _activation(w: Where, a) -> str:
    if isinstance(a, dict):  # a serialised activation function object
        a = a.get("config") if a.get("class_name") == "function" else a.get("class_name")
    if a not in _ACTS:
        raise w.error(f"activation {a!r} is not supported; use one of linear, relu, elu, sigmoid, tanh, "
                      "softmax, gelu (or a LeakyReLU layer)")
    return _ACTS[a]


def _l2(w: Where, c: dict) -> float:
    for key in ("bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint",
                "depthwise_regularizer", "pointwise_regularizer", "depthwise_constraint", "pointwise_constraint"):
        if c.get(key) is not None:
            raise w.error(f"{key} is set; mnistlab supports only an l2 kernel_regularizer")
    reg = c.get("kernel_regularizer")
    if reg is None:
        return 0.0
    cls, rc = reg.get("class_name"), reg.get("config") or {}
    if cls in ("L2", "l2") or (cls in ("L1L2", "l1_l2") and not rc.get("l1")):
        return float(rc.get("l2", 0.0))
    raise w.error(f"kernel_regularizer {cls} {rc}; mnistlab supports only l2 (an l1 term is not supported)")


def _init(w: Where, c: dict, key: str = "kernel_initializer") -> str:
    init = c.get(key)
    name = init.get("class_name") if isinstance(init, dict) else init
    if name is None:
        return "glorot_uniform"
    if name not in _INITS:
        raise w.error(f"{key} {name} is not supported; use GlorotUniform, GlorotNormal, HeNormal or HeUniform")
    return _INITS[name]


def _bias_init(w: Where, c: dict) -> None:
    init = c.get("bias_initializer")
    name = init.get("class_name") if isinstance(init, dict) else init
    if name not in (None, "Zeros", "zeros"):
        raise w.error(f"bias_initializer {name}; mnistlab initialises biases to zeros")


def _kernel(w: Where, c: dict, key: str):
    v = c.get(key)
    v = list(v) if isinstance(v, (list, tuple)) else [v, v]
    if len(v) != 2 or not all(isinstance(x, int) for x in v):
        raise w.error(f"{key} {c.get(key)!r} is not two integers")
    return v[0] if v[0] == v[1] else v


def _plain_conv(w: Where, c: dict) -> None:
    if _kernel(w, c, "dilation_rate") not in (1, [1, 1]) and c.get("dilation_rate") is not None:
        raise w.error("dilation_rate other than 1 is not supported")
    if c.get("groups", 1) != 1:
        raise w.error("groups other than 1 is not supported")
    if c.get("padding", "valid") not in ("valid", "same"):
        raise w.error(f"padding {c.get('padding')!r}; use valid or same")


def _conv2d(w, c, first):
    _plain_conv(w, c)
    _bias_init(w, c)
    return [{"type": "conv2d", "filters": c["filters"], "kernel": _kernel(w, c, "kernel_size"),
             "strides": _kernel(w, c, "strides"), "padding": c.get("padding", "valid"),
             "activation": _activation(w, c.get("activation")), "use_bias": bool(c.get("use_bias", True)),
             "l2": _l2(w, c), "kernel_initializer": _init(w, c)}]


def _separable(w, c, first):
    _plain_conv(w, c)
    _bias_init(w, c)
    if c.get("kernel_regularizer") is not None:
        raise w.error("kernel_regularizer on a SeparableConv2D; use depthwise/pointwise without one")
    reg = c.get("depthwise_regularizer") or c.get("pointwise_regularizer")
    inits = {_init(w, c, "depthwise_initializer"), _init(w, c, "pointwise_initializer")}
    if len(inits) != 1:
        raise w.error("different depthwise and pointwise initializers are not supported")
    c2 = {k: v for k, v in c.items() if k not in ("depthwise_regularizer", "pointwise_regularizer")}
    l2 = 0.0
    if reg is not None:
        if (c.get("depthwise_regularizer") or {}) != (c.get("pointwise_regularizer") or {}):
            raise w.error("different depthwise and pointwise regularizers are not supported")
        l2 = _l2(w, {"kernel_regularizer": reg})
    _l2(w, {k: v for k, v in c2.items() if k != "kernel_regularizer"})
    return [{"type": "separable_conv2d", "filters": c["filters"], "kernel": _kernel(w, c, "kernel_size"),
             "strides": _kernel(w, c, "strides"), "padding": c.get("padding", "valid"),
             "activation": _activation(w, c.get("activation")), "use_bias": bool(c.get("use_bias", True)),
             "l2": l2, "kernel_initializer": inits.pop(), "depth_multiplier": c.get("depth_multiplier", 1)}]


def _dense(w, c, first):
    _bias_init(w, c)
    return [{"type": "dense", "units": c["units"], "activation": _activation(w, c.get("activation")),
             "use_bias": bool(c.get("use_bias", True)), "l2": _l2(w, c), "kernel_initializer": _init(w, c)}]


def _pool(kind):
    def handler(w, c, first):
        if c.get("padding", "valid") not in ("valid", "same"):
            raise w.error(f"padding {c.get('padding')!r}; use valid or same")
        strides = c.get("strides")
        return [{"type": kind, "pool": _kernel(w, c, "pool_size"),
                 "strides": None if strides is None else _kernel(w, c, "strides"),
                 "padding": c.get("padding", "valid")}]
    return handler


def _gap(w, c, first):
    if c.get("keepdims"):
        raise w.error("keepdims=True is not supported")
    return [{"type": "global_avg_pool"}]


def _dropout(w, c, first):
    if c.get("noise_shape") is not None:
        raise w.error("noise_shape is not supported")
    return [{"type": "dropout", "rate": float(c["rate"])}]


def _flatten(w, c, first):
    return [{"type": "flatten"}]


def _batchnorm(w, c, first):
    axis = c.get("axis", -1)
    if axis not in (-1, 3, [3], [-1]):
        raise w.error(f"axis {axis}; mnistlab normalises the channels axis (-1)")
    if not c.get("center", True) or not c.get("scale", True):
        raise w.error("center=False or scale=False is not supported")
    if c.get("renorm") or c.get("synchronized"):
        raise w.error("renorm / synchronized BatchNormalization is not supported")
    for key in ("beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"):
        if c.get(key) is not None:
            raise w.error(f"{key} is not supported")
    return [{"type": "batchnorm", "momentum": float(c.get("momentum", 0.99)), "epsilon": float(c.get("epsilon", 1e-3))}]


def _activation_layer(w, c, first):
    return [{"type": "activation", "activation": _activation(w, c.get("activation"))}]


def _relu(w, c, first):
    if c.get("max_value") is not None or c.get("negative_slope", 0) or c.get("threshold", 0):
        raise w.error("ReLU with max_value, negative_slope or threshold is not supported")
    return [{"type": "activation", "activation": "relu"}]


def _elu(w, c, first):
    if float(c.get("alpha", 1.0)) != 1.0:
        raise w.error(f"ELU alpha {c.get('alpha')}; mnistlab's elu has alpha 1.0")
    return [{"type": "activation", "activation": "elu"}]


def _leaky(w, c, first):
    slope = c.get("negative_slope", c.get("alpha", 0.3))
    if not math.isclose(float(slope), 0.3, rel_tol=1e-6):
        raise w.error(f"LeakyReLU negative_slope {slope}; mnistlab's leaky_relu has Keras' default 0.3")
    return [{"type": "activation", "activation": "leaky_relu"}]


def _softmax(w, c, first):
    if c.get("axis", -1) != -1:
        raise w.error("Softmax over an axis other than -1 is not supported")
    return [{"type": "activation", "activation": "softmax"}]


def _rescaling(w, c, first):
    if not first:
        raise w.error("Rescaling after another layer scales features, which is not supported; "
                      "mnistlab supports Rescaling as the first layer (the pixel scale)")
    scale, offset = c.get("scale", 1.0), c.get("offset", 0.0)
    if isinstance(scale, (list, dict)) or isinstance(offset, (list, dict)):
        raise w.error("a per-channel scale or offset is not supported")
    return [{"type": "rescaling", "scale": float(scale), "offset": float(offset)}]


def _add(w, c, first):
    return [{"type": "add"}]


def _concatenate(w, c, first):
    if c.get("axis", -1) not in (-1, 3):
        raise w.error(f"Concatenate axis {c.get('axis')}; mnistlab concatenates channels (axis -1)")
    return [{"type": "concatenate"}]


_HANDLERS = {
    "Conv2D": _conv2d, "Convolution2D": _conv2d, "SeparableConv2D": _separable,
    "SeparableConvolution2D": _separable, "Dense": _dense,
    "MaxPooling2D": _pool("maxpool2d"), "MaxPool2D": _pool("maxpool2d"),
    "AveragePooling2D": _pool("avgpool2d"), "AvgPool2D": _pool("avgpool2d"),
    "GlobalAveragePooling2D": _gap, "GlobalAvgPool2D": _gap,
    "Dropout": _dropout, "Flatten": _flatten, "BatchNormalization": _batchnorm,
    "Activation": _activation_layer, "ReLU": _relu, "ELU": _elu, "LeakyReLU": _leaky, "Softmax": _softmax,
    "Rescaling": _rescaling, "Add": _add, "Concatenate": _concatenate,
}
