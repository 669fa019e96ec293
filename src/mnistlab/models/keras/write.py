"""A spec and its built network -> a Keras 3 `.keras` file, written without Keras.

The file is what keras.saving.saving_lib writes: a zip of metadata.json, config.json (a
Sequential, or a Functional graph when the spec has residual blocks) and model.weights.h5
(`layers/<name>/vars/<i>`). Layer names follow the summary's (conv2d, conv2d_1, ...). The
Keras model takes what the spec takes: pixels in [0, 1], or 0..255 when the spec starts with
a rescaling layer; its output is the spec's last activation (softmax for every zoo model).
"""
from __future__ import annotations

import datetime
import io
import json
import zipfile

from mnistlab.errors import MnistlabError
from mnistlab.models.spec import needs_projection, pair, plan, resolve_spec
from mnistlab.models.table import KERAS

KERAS_VERSION = "3.15.1"  # the format version written (the one the tests load it with)
_INITS = {"glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal", "he_normal": "HeNormal",
          "he_uniform": "HeUniform"}
_CLASSES = {**KERAS, "leaky_relu": ("LeakyReLU", "leaky_re_lu")}  # class and default name per kind
_INLINE_ACTS = {"linear", "relu", "elu", "sigmoid", "tanh", "softmax", "gelu"}


class _Graph:
    def __init__(self, input_shape):
        self.layers: list[dict] = []
        self.weights: dict[str, list] = {}
        self.seen: dict[str, int] = {}
        self.shapes: dict[str, list] = {}
        self.input = self._name("input_layer")
        self.layers.append({"module": "keras.layers", "class_name": "InputLayer",
                            "config": {"batch_shape": [None, *input_shape], "dtype": "float32", "sparse": False,
                                       "ragged": False, "name": self.input, "optional": False},
                            "registered_name": None, "name": self.input, "inbound_nodes": []})
        self.shapes[self.input] = [None, *input_shape]
        self.last = self.input
        self.chain = True

    def _name(self, base: str) -> str:
        n = self.seen.get(base, 0)
        self.seen[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def add(self, kind: str, config: dict, out_shape, inputs=None, weights=()) -> str:
        cls, base = _CLASSES[kind]
        name = self._name(base)
        inputs = inputs or [self.last]
        if inputs != [self.last]:
            self.chain = False
        tensors = [{"class_name": "__keras_tensor__",
                    "config": {"shape": self.shapes[i], "dtype": "float32", "keras_history": [i, 0, 0]}}
                   for i in inputs]
        in_shapes = [self.shapes[i] for i in inputs]
        self.layers.append({"module": "keras.layers", "class_name": cls,
                            "config": {"name": name, "trainable": True, "dtype": _DTYPE, **config},
                            "registered_name": None,
                            "build_config": {"input_shape": in_shapes if len(inputs) > 1 else in_shapes[0]},
                            "name": name,
                            "inbound_nodes": [{"args": [tensors] if len(inputs) > 1 else tensors, "kwargs": {}}]})
        self.shapes[name] = [None, *out_shape]
        self.weights[name] = list(weights)
        self.last = name
        return name

    def route(self, name: str) -> None:
        """The next layer reads `name` (a branch when that is not the last layer added)."""
        if name != self.last:
            self.chain = False
            self.last = name

    def model_config(self, name: str) -> dict:
        if self.chain:
            layers = [{k: v for k, v in layer.items() if k not in ("name", "inbound_nodes")} for layer in self.layers]
            return {"module": "keras", "class_name": "Sequential",
                    "config": {"name": name, "trainable": True, "dtype": _DTYPE, "layers": layers},
                    "registered_name": None, "build_config": {"input_shape": self.shapes[self.input]}}
        return {"module": "keras.src.models.functional", "class_name": "Functional",
                "config": {"name": name, "trainable": True, "layers": keras_order(self.layers, self.last),
                           "input_layers": [self.input, 0, 0], "output_layers": [self.last, 0, 0]},
                "registered_name": "Functional", "build_config": {"input_shape": None}}


def keras_order(layers: list[dict], output: str) -> list[dict]:
    """The layers in the order Keras' Functional lists them (keras/src/ops/function.py,
    map_graph: by depth from the output, ties in depth-first traversal order), which is the
    order model.weights.h5 numbers them in."""
    by_name = {layer["name"]: layer for layer in layers}
    parents = {n: [t["config"]["keras_history"][0] for node in layer["inbound_nodes"]
                   for t in (node["args"][0] if node["args"] and isinstance(node["args"][0], list) else node["args"])]
               for n, layer in by_name.items()}
    index: dict[str, int] = {}
    post: list[str] = []

    def visit(n):  # _build_map_helper
        if n in post:
            return
        index.setdefault(n, len(index))
        for p in parents[n]:
            visit(p)
        post.append(n)
    visit(output)
    depth: dict[str, int] = {}
    for n in reversed(post):
        d = depth.setdefault(n, 0)
        for p in parents[n]:
            depth[p] = max(d + 1, depth.get(p, 0))
    order = sorted(post, key=lambda n: (-depth[n], index[n]))
    return [by_name[n] for n in order]


_DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def _init(name: str) -> dict:
    return {"module": "keras.initializers", "class_name": _INITS[name], "config": {"seed": None},
            "registered_name": None}


def _zeros() -> dict:
    return {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": None}


def _reg(l2: float):
    if not l2:
        return None
    return {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": l2}, "registered_name": None}


def _conv_config(a: dict, act: str, *, kernel=None, strides=None, padding=None, separable=False) -> dict:
    c = {"filters": a["filters"], "kernel_size": list(pair(kernel or a["kernel"])),
         "strides": list(pair(strides or a["strides"])), "padding": padding or a.get("padding", "same"),
         "data_format": "channels_last", "dilation_rate": [1, 1], "activation": act,
         "use_bias": a.get("use_bias", True), "bias_initializer": _zeros(), "bias_regularizer": None,
         "activity_regularizer": None, "bias_constraint": None}
    if separable:
        c.update(depth_multiplier=a["depth_multiplier"], depthwise_initializer=_init(a["kernel_initializer"]),
                 pointwise_initializer=_init(a["kernel_initializer"]), depthwise_regularizer=_reg(a["l2"]),
                 pointwise_regularizer=_reg(a["l2"]), depthwise_constraint=None, pointwise_constraint=None)
    else:
        c.update(groups=1, kernel_initializer=_init(a["kernel_initializer"]), kernel_regularizer=_reg(a["l2"]),
                 kernel_constraint=None)
    return c


def _bn_config(a: dict) -> dict:
    return {"axis": -1, "momentum": a["momentum"], "epsilon": a["epsilon"], "center": True, "scale": True}


def _activation(g: _Graph, act: str, shape) -> None:
    if act == "leaky_relu":
        g.add("leaky_relu", {"negative_slope": 0.3}, shape)
    elif act != "linear":
        g.add("activation", {"activation": act}, shape)


def keras_model_config(spec, net) -> tuple[dict, dict]:
    """(config.json's model config, layer name -> weight arrays) for a spec and its network."""
    from mnistlab.models.keras.weights import to_keras_arrays, weighted_modules
    spec = resolve_spec(spec)
    g = _Graph(spec["input_shape"])
    modules = iter(weighted_modules(net))
    step_out: list[str] = []  # the Keras layer that is each step's output
    for step in plan(spec):
        a, kind, out = step.args, step.type, step.out_shape
        sources = [g.input if s < 0 else step_out[s] for s in step.sources]
        g.route(sources[0])
        act = a.get("activation", "linear")
        inline = act if act in _INLINE_ACTS else "linear"
        if kind in ("conv2d", "separable_conv2d"):
            g.add(kind, _conv_config(a, inline, separable=kind == "separable_conv2d"), out,
                  weights=to_keras_arrays(next(modules)))
            _activation(g, act if inline == "linear" else "linear", out)
        elif kind == "dense":
            g.add("dense", {"units": a["units"], "activation": inline, "use_bias": a["use_bias"],
                            "kernel_initializer": _init(a["kernel_initializer"]), "bias_initializer": _zeros(),
                            "kernel_regularizer": _reg(a["l2"]), "bias_regularizer": None,
                            "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None},
                  out, weights=to_keras_arrays(next(modules)))
            _activation(g, act if inline == "linear" else "linear", out)
        elif kind == "batchnorm":
            g.add("batchnorm", _bn_config(a), out, weights=to_keras_arrays(next(modules)))
        elif kind in ("maxpool2d", "avgpool2d"):
            g.add(kind, {"pool_size": list(pair(a["pool"])), "strides": list(pair(a["strides"])),
                         "padding": a["padding"], "data_format": "channels_last"}, out)
        elif kind == "dropout":
            g.add("dropout", {"rate": a["rate"], "seed": None, "noise_shape": None}, out)
        elif kind == "flatten":
            g.add("flatten", {"data_format": "channels_last"}, out)
        elif kind == "global_avg_pool":
            g.add("global_avg_pool", {"data_format": "channels_last", "keepdims": False}, out)
        elif kind == "activation":
            if act in _INLINE_ACTS:
                g.add("activation", {"activation": act}, out)
            else:
                _activation(g, act, out)
        elif kind == "rescaling":
            g.add("rescaling", {"scale": a["scale"], "offset": a["offset"]}, out)
        elif kind == "residual_block":
            _residual(g, step, next(modules))
        elif kind == "add":
            g.add("add", {}, out, inputs=sources)
        elif kind == "concatenate":
            g.add("concatenate", {"axis": -1}, out, inputs=sources)
        else:  # pragma: no cover - every spec layer type is handled above
            raise MnistlabError(f"layer {step.index} ({kind}) has no Keras equivalent")
        step_out.append(g.last)
    return g.model_config(spec["name"]), g.weights


def _residual(g: _Graph, step, block) -> None:
    """Notebook 004's block as Keras layers: BN, act, conv(strides), BN, conv, [1x1 conv], add, act."""
    a, inp, out = step.args, step.in_shape, step.out_shape
    conv = {"filters": a["filters"], "kernel": a["kernel"], "use_bias": True, "l2": a["l2"],
            "kernel_initializer": a["kernel_initializer"]}
    x = g.last
    bn = {"momentum": 0.99, "epsilon": 1e-3}
    g.add("batchnorm", _bn_config(bn), inp, weights=_arrays(block.bn1))
    _activation(g, a["activation"], inp)
    g.add("conv2d", _conv_config(conv, "linear", strides=a["strides"], padding="same"), out,
          weights=_arrays(block.conv1))
    g.add("batchnorm", _bn_config(bn), out, weights=_arrays(block.bn2))
    y = g.add("conv2d", _conv_config(conv, "linear", strides=1, padding="same"), out, weights=_arrays(block.conv2))
    if needs_projection(a, inp):
        x = g.add("conv2d", _conv_config(conv, "linear", kernel=1, strides=a["strides"], padding="same"), out,
                  inputs=[x], weights=_arrays(block.proj))
    g.add("add", {}, out, inputs=[x, y])
    _activation(g, a["activation"], out)


def _arrays(module):
    from mnistlab.models.keras.weights import to_keras_arrays
    return to_keras_arrays(module)


def keras_file_bytes(spec, net) -> bytes:
    """The bytes of a .keras file holding this network."""
    from mnistlab.models.keras.files import h5py
    config, weights = keras_model_config(spec, net)
    from mnistlab.models.keras.files import saving_keys
    buf = io.BytesIO()
    with h5py().File(buf, "w") as f:
        layers = f.create_group("layers")
        for name, key in saving_keys(config):
            group = layers.create_group(key).create_group("vars")
            group.attrs["name"] = name
            for i, array in enumerate(weights.get(name, [])):
                group.create_dataset(str(i), data=array)
        f.create_group("vars").attrs["name"] = config["config"]["name"]
    meta = {"keras_version": KERAS_VERSION,
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("metadata.json", json.dumps(meta))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", buf.getvalue())
    return out.getvalue()


def write_keras(path, spec, net) -> None:
    """Write `path` (.keras) atomically: nothing is left behind when it fails."""
    from pathlib import Path

    from mnistlab.io import write_atomic
    path = Path(path)
    if path.suffix != ".keras":
        raise MnistlabError(f"{path}: a Keras 3 model file must end in .keras (keras.saving.load_model "
                            "refuses other names)")
    write_atomic(path, keras_file_bytes(spec, net.eval()))
