"""Architecture specs: plain data in Keras vocabulary -> a validated, normalised spec -> a plan.

A spec is a dict `{input_shape: [H, W, C], layers: [{type: conv2d, ...}, ...], name: ...}`,
a Keras-style list whose first item is `{type: input, shape: [H, W, C]}`, a zoo name, or a
path to a YAML file holding either. `resolve_spec` validates it once, fills in every default
(so a saved spec rebuilds the same network even if defaults change) and returns the dict.
`plan` walks the layers computing shapes (H, W, C order, like Keras prints them); the summary
and the builder both read the plan, so they cannot disagree.

This module does not import torch: `mnistlab summary` stays fast.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from mnistlab.errors import MnistlabError, as_number, did_you_mean, unknown_key_error
from mnistlab.io import load_yaml

REQUIRED = object()  # marks an argument without a default

ACTIVATIONS = ("linear", "relu", "elu", "sigmoid", "tanh", "leaky_relu", "gelu", "softmax")
INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_normal", "he_uniform")
PADDINGS = ("valid", "same")

# layer type -> {argument: default}. Names and defaults are Keras's, except `kernel`/`pool`
# (Keras: kernel_size/pool_size, accepted as aliases) and `l2` (Keras: kernel_regularizer=l2(x)).
_CONV = {"filters": REQUIRED, "kernel": REQUIRED, "strides": 1, "padding": "valid",
         "activation": "linear", "use_bias": True, "l2": 0.0, "kernel_initializer": "glorot_uniform"}
_POOL = {"pool": 2, "strides": None, "padding": "valid"}
LAYER_ARGS: dict[str, dict] = {
    "conv2d": _CONV,
    "separable_conv2d": {**_CONV, "depth_multiplier": 1},
    "maxpool2d": _POOL,
    "avgpool2d": _POOL,
    "dropout": {"rate": REQUIRED},
    "flatten": {},
    "dense": {"units": REQUIRED, "activation": "linear", "use_bias": True, "l2": 0.0,
              "kernel_initializer": "glorot_uniform"},
    "batchnorm": {"momentum": 0.99, "epsilon": 1e-3},
    "activation": {"activation": REQUIRED},
    "global_avg_pool": {},
    # keras.layers.Rescaling as a model's first layer: the pixel scale the model was written
    # for, y = pixel * scale + offset with pixel in 0..255 (Rescaling(1/255) is what
    # mnistlab's [0, 1] input already is). Only first: elsewhere it would scale features.
    "rescaling": {"scale": REQUIRED, "offset": 0.0},
    # Keras' merge layers (functional models): they read the layers their `inputs` name
    "add": {},
    "concatenate": {},
    # notebook 004's block: BN-ReLU-conv, BN-conv, 1x1 projection when the shape changes, add, ReLU
    "residual_block": {"filters": REQUIRED, "kernel": 3, "strides": 1, "activation": "relu",
                       "l2": 1e-4, "kernel_initializer": "he_normal"},
    # notebook 004's resnet_v1(input_shape, depth, num_classes): stem + 3 stacks + flatten + dense
    "resnet_v1": {"depth": REQUIRED, "num_classes": 10, "filters": 16, "l2": 1e-4},
}
ALIASES = {"kernel_size": "kernel", "pool_size": "pool"}
TOP_KEYS = ("name", "input_shape", "layers")
# Any layer may carry these (Keras' functional API): `name` to be read by a later layer's
# `inputs`, and `inputs`, the names it reads ("input" is the model's input). A layer without
# `inputs` reads the layer before it, so a list of layers is a chain as it always was.
GRAPH_KEYS = ("name", "inputs")
MERGES = ("add", "concatenate")


@dataclass
class Step:
    """One layer of the plan: where it came from in the spec, its arguments and shapes."""
    index: int            # position in the spec's layers list (what error messages name)
    type: str
    args: dict
    in_shape: tuple       # (H, W, C) or (N,); a merge's first input
    out_shape: tuple
    sources: tuple = ()   # the steps it reads (positions in the plan; -1 is the model's input)


# ---------------------------------------------------------------- resolving a spec

def resolve_spec(spec) -> dict:
    """Zoo name, YAML path, dict or Keras-style list -> validated spec dict with defaults filled."""
    if isinstance(spec, (str, Path)):
        spec = load_named(str(spec))
    offset = 0
    if isinstance(spec, list):
        spec, offset = _from_keras_list(spec), 1
    if not isinstance(spec, dict):
        raise MnistlabError(f"a model spec must be a zoo name, a YAML path or a mapping, got {type(spec).__name__}")
    for key in spec:
        if key not in TOP_KEYS:
            raise unknown_key_error(key, TOP_KEYS, "model spec key")
    if "input_shape" not in spec:
        raise MnistlabError("model spec has no input_shape; add `input_shape: [28, 28, 1]` (H, W, C)")
    shape = spec["input_shape"]
    if (not isinstance(shape, (list, tuple)) or len(shape) != 3
            or not all(_is_int(d) for d in shape)):
        raise MnistlabError(f"input_shape must be [H, W, C] (three integers), got {shape!r}")
    if any(d < 1 for d in shape):
        raise MnistlabError(f"input_shape {list(shape)} has a non-positive size; every dimension must be >= 1")
    layers = spec.get("layers")
    if not isinstance(layers, list) or not layers:
        raise MnistlabError("model spec needs a non-empty `layers:` list")
    out = {"name": str(spec.get("name", "model")), "input_shape": [int(d) for d in shape],
           "layers": [_normalise_layer(i + offset, layer) for i, layer in enumerate(layers)]}
    _check_graph(out["layers"], offset)
    plan(out, _offset=offset)  # shape errors surface here, once, with the layer index
    return out


def load_named(text: str):
    """The raw spec a zoo name or a spec/recipe YAML path names, as written there (not resolved)."""
    from mnistlab.models.zoo import ZOO  # imported on use: the zoo is data, loaded only for a name
    if text in ZOO:
        return ZOO[text].spec
    path = Path(text).expanduser()
    if path.is_file():
        import yaml
        try:
            loaded = load_yaml(path.read_text())
        except yaml.YAMLError as err:
            raise MnistlabError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
        if isinstance(loaded, dict) and "model" in loaded and "layers" not in loaded:
            # A training recipe: its `model:` is the spec (a zoo name or a mapping), so
            # `summary RECIPE.yaml` and budget checks see the model that recipe trains.
            inner = loaded["model"]
            return load_named(inner) if isinstance(inner, str) else inner
        return loaded
    raise MnistlabError(f"unknown model '{text}'{did_you_mean(text, ZOO)}: give a zoo name "
                        "(see `mnistlab models list`) or the path of a YAML spec")


def _from_keras_list(items: list) -> dict:
    first = items[0] if items else None
    if not (isinstance(first, dict) and first.get("type") == "input"):
        raise MnistlabError("a layer list must start with {type: input, shape: [H, W, C]} "
                            "(like keras.Input), or use a mapping with input_shape and layers")
    extra = set(first) - {"type", "shape"}
    if extra:
        raise unknown_key_error(sorted(extra)[0], ["shape"], "argument", context="layers[0] (input): ")
    return {"input_shape": first.get("shape"), "layers": items[1:]}


def _check_graph(layers: list[dict], offset: int) -> None:
    """Names unique; `inputs` name earlier layers; merges read two or more, others one."""
    seen = {"input"}
    for i, layer in enumerate(layers):
        where = f"layers[{i + offset}] ({layer['type']})"
        inputs = layer.get("inputs")
        if inputs is not None:
            for name in inputs:
                if name not in seen:
                    raise MnistlabError(f"{where}: inputs names '{name}', which is no earlier layer's name"
                                        f"{did_you_mean(name, seen)}; give that layer `name: {name}` first "
                                        "(`input` is the model's input)")
        n = 1 if inputs is None else len(inputs)
        if layer["type"] in MERGES and n < 2:
            raise MnistlabError(f"{where}: a merge reads two or more layers; give `inputs: [a, b]`")
        if layer["type"] not in MERGES and n != 1:
            raise MnistlabError(f"{where}: reads one layer, but inputs names {n}; merge them first with add "
                                "or concatenate")
        if "name" in layer:
            if layer["name"] in seen:
                raise MnistlabError(f"{where}: the name '{layer['name']}' is taken; layer names must be unique "
                                    "and `input` is the model's input")
            seen.add(layer["name"])


def _graph_keys(i: int, kind: str, layer: dict) -> dict:
    out = {}
    name = layer.get("name")
    if name is not None:
        if not isinstance(name, str) or not name:
            raise MnistlabError(f"layers[{i}] ({kind}): name must be a non-empty string, got {name!r}")
        out["name"] = name
    inputs = layer.get("inputs")
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(inputs, list) or not inputs or not all(isinstance(x, str) for x in inputs):
            raise MnistlabError(f"layers[{i}] ({kind}): inputs must be a layer name or a list of them, "
                                f"got {layer.get('inputs')!r}")
        out["inputs"] = list(inputs)
    return out


def _normalise_layer(i: int, layer) -> dict:
    if not isinstance(layer, dict) or "type" not in layer:
        raise MnistlabError(f"layers[{i}]: each layer must be a mapping with a `type`, got {layer!r}")
    kind = layer["type"]
    if not isinstance(kind, str) or kind not in LAYER_ARGS:
        raise MnistlabError(f"layers[{i}]: unknown layer type '{kind}'{did_you_mean(kind, LAYER_ARGS)}; "
                            f"known: {', '.join(LAYER_ARGS)}")
    allowed = LAYER_ARGS[kind]
    graph = _graph_keys(i, kind, layer)
    given = {}
    for key, value in layer.items():
        if key == "type" or key in GRAPH_KEYS:
            continue
        name = ALIASES.get(key, key) if isinstance(key, str) else str(key)
        if name not in allowed:
            raise unknown_key_error(key, [*allowed, *(a for a in ALIASES if ALIASES[a] in allowed)],
                                    "argument", context=f"layers[{i}] ({kind}): ")
        if name in given:
            raise MnistlabError(f"layers[{i}] ({kind}): '{name}' is given twice (as {name} and its alias)")
        given[name] = value
    args = {}
    for name, default in allowed.items():
        if name not in given and default is REQUIRED:
            raise MnistlabError(f"layers[{i}] ({kind}): missing required argument '{name}'")
        args[name] = _check_arg(i, kind, name, given.get(name, default))
    if kind in ("maxpool2d", "avgpool2d") and args["strides"] is None:
        args["strides"] = args["pool"]  # Keras: strides default to pool_size
    return {"type": kind, **graph, **args}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_arg(i: int, kind: str, name: str, v):
    where = f"layers[{i}] ({kind}): {name}"
    if name in ("kernel", "pool", "strides"):
        if v is None and name == "strides" and kind in ("maxpool2d", "avgpool2d"):
            return None
        pair = v if isinstance(v, (list, tuple)) else [v]
        if len(pair) not in (1, 2) or not all(_is_int(x) for x in pair):
            raise MnistlabError(f"{where} must be an integer or [height, width], got {v!r}")
        if any(x < 1 for x in pair):
            raise MnistlabError(f"{where} is {v!r}: sizes must be positive (>= 1)")
        return pair[0] if len(pair) == 1 or pair[0] == pair[1] else [pair[0], pair[1]]
    if name in ("filters", "units", "depth_multiplier", "num_classes", "depth"):
        if not _is_int(v):
            raise MnistlabError(f"{where} must be an integer, got {v!r}")
        if name == "depth" and (v < 2 or (v - 2) % 6):
            raise MnistlabError(f"layers[{i}] (resnet_v1): depth {v} is not of the form 6n+2; "
                                "use 2, 8, 14, 20, 32, 44, ...")
        if v < 1:
            raise MnistlabError(f"{where} is {v}: it must be positive (>= 1)")
        return v
    if name in ("activation",):
        v = "linear" if v is None else v
        if v not in ACTIVATIONS:
            raise MnistlabError(f"{where} '{v}' is unknown{did_you_mean(v, ACTIVATIONS)}; use one of {', '.join(ACTIVATIONS)}")
        return v
    if name == "padding":
        if v not in PADDINGS:
            raise MnistlabError(f"{where} '{v}' is unknown{did_you_mean(v, PADDINGS)}; use valid or same")
        return v
    if name == "kernel_initializer":
        if v not in INITIALIZERS:
            raise MnistlabError(f"{where} '{v}' is unknown{did_you_mean(v, INITIALIZERS)}; use one of {', '.join(INITIALIZERS)}")
        return v
    if name == "use_bias":
        if not isinstance(v, bool):
            raise MnistlabError(f"{where} must be true or false, got {v!r}")
        return v
    # the remaining arguments are floats: l2, rate, momentum, epsilon, scale, offset
    v = as_number(v) if as_number(v) is not None else v
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise MnistlabError(f"{where} must be a number, got {v!r}")
    v = float(v)
    if name == "l2" and v < 0:
        raise MnistlabError(f"{where} is {v}: the L2 factor must be >= 0")
    if name == "rate" and not 0 <= v < 1:
        raise MnistlabError(f"{where} is {v}: a dropout rate must be in [0, 1)")
    if name == "momentum" and not 0 <= v < 1:
        raise MnistlabError(f"{where} is {v}: Keras BatchNormalization momentum must be in [0, 1), e.g. 0.99")
    if name == "scale" and v == 0:
        raise MnistlabError(f"{where} is 0: a rescaling that zeroes every pixel; use e.g. 0.00392156862745098 (1/255)")
    if name == "epsilon" and v <= 0:
        raise MnistlabError(f"{where} is {v}: epsilon must be > 0")
    return v


# ---------------------------------------------------------------- geometry

def pair(v) -> tuple[int, int]:
    return (v, v) if _is_int(v) else (int(v[0]), int(v[1]))


def window(size: int, k: int, s: int, padding: str) -> tuple[int, int, int]:
    """Keras/TF output size and (before, after) padding along one axis.

    `same`: out = ceil(size / s); TF puts the odd pad at the end (bottom/right).
    `valid`: out = floor((size - k) / s) + 1, which is < 1 when k > size.
    """
    if padding == "same":
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        return out, total // 2, total - total // 2
    return (size - k) // s + 1, 0, 0


def needs_projection(a: dict, in_shape) -> bool:
    """A residual block projects its shortcut (1x1 conv) when the stride or the width changes."""
    return pair(a["strides"]) != (1, 1) or in_shape[2] != a["filters"]


def is_unit_rescaling(a: dict) -> bool:
    """Rescaling(1/255): exactly mnistlab's own input scaling, so it builds to no module."""
    return abs(255.0 * a["scale"] - 1.0) < 1e-6 and a["offset"] == 0.0


def fmt(shape) -> str:
    return "x".join(str(d) for d in shape)


# ---------------------------------------------------------------- the plan

def expand(layers: list[dict]) -> list[tuple[int, dict]]:
    """(spec index, layer) pairs with each resnet_v1 replaced by the layers it stands for."""
    out = []
    for i, layer in enumerate(layers):
        if layer["type"] != "resnet_v1":
            out.append((i, layer))
            continue
        n = (layer["depth"] - 2) // 6
        f, l2 = layer["filters"], layer["l2"]
        conv = {"type": "conv2d", "filters": f, "kernel": 3, "strides": 1, "padding": "same",
                "activation": "linear", "use_bias": True, "l2": l2, "kernel_initializer": "he_normal"}
        body = [{"type": "batchnorm", "momentum": 0.99, "epsilon": 1e-3},
                {"type": "activation", "activation": "relu"}, conv]
        for stack in range(3):
            for block in range(n):
                body.append({"type": "residual_block", "filters": f * 2 ** stack, "kernel": 3,
                             "strides": 2 if stack > 0 and block == 0 else 1, "activation": "relu",
                             "l2": l2, "kernel_initializer": "he_normal"})
        body += [{"type": "flatten"},
                 {"type": "dense", "units": layer["num_classes"], "activation": "softmax", "use_bias": True,
                  "l2": 0.0, "kernel_initializer": "he_normal"}]
        body[0].update({k: v for k, v in layer.items() if k == "inputs"})
        body[-1].update({k: v for k, v in layer.items() if k == "name"})
        out += [(i, b) for b in body]
    return out


def plan(spec: dict, *, _offset: int = 0) -> list[Step]:
    """Shapes through a normalised spec; raises MnistlabError naming the layer that breaks."""
    shape = tuple(spec["input_shape"])
    shapes = [fmt(shape)]
    steps: list[Step] = []
    names = {"input": -1}
    for i, layer in expand(spec["layers"]):
        args = {k: v for k, v in layer.items() if k != "type" and k not in GRAPH_KEYS}
        sources = tuple(names[n] for n in layer["inputs"]) if "inputs" in layer else (len(steps) - 1,)
        ins = [tuple(spec["input_shape"]) if s < 0 else steps[s].out_shape for s in sources]
        if layer["type"] in MERGES:
            out = _merge_shape(i + _offset, layer["type"], ins)
        else:
            out = _out_shape(i + _offset, layer["type"], args, ins[0], shapes)
        steps.append(Step(i, layer["type"], args, ins[0], out, sources))
        if "name" in layer:
            names[layer["name"]] = len(steps) - 1
        shape = out
        shapes.append(fmt(shape))
    return steps


def is_chain(steps: list[Step]) -> bool:
    """Every step reads the one before it (a Keras Sequential)."""
    return all(s.sources == (k - 1,) for k, s in enumerate(steps))


def _merge_shape(i: int, kind: str, ins: list[tuple]) -> tuple:
    where = f"layers[{i}] ({kind})"
    if kind == "add":
        if len(set(ins)) != 1:
            raise MnistlabError(f"{where}: adds tensors of different shapes {', '.join(fmt(s) for s in ins)}; "
                                "they must be equal (a 1x1 conv2d on the shortcut matches widths)")
        return ins[0]
    if len({s[:-1] for s in ins}) != 1 or len({len(s) for s in ins}) != 1:
        raise MnistlabError(f"{where}: concatenates {', '.join(fmt(s) for s in ins)} along the channels; all "
                            "but the last dimension must be equal")
    return (*ins[0][:-1], sum(s[-1] for s in ins))


def _out_shape(i: int, kind: str, a: dict, shape: tuple, shapes: list[str]) -> tuple:
    where = f"layers[{i}] ({kind})"
    image = len(shape) == 3
    if kind in ("conv2d", "separable_conv2d", "maxpool2d", "avgpool2d", "residual_block", "global_avg_pool"):
        if not image:
            raise MnistlabError(f"{where}: needs an image (H, W, C) input but gets a flat vector of "
                                f"{shape[0]}; move it before the flatten / dense layers")
    if kind in ("conv2d", "separable_conv2d", "residual_block", "maxpool2d", "avgpool2d"):
        k = pair(a["pool"] if kind.endswith("pool2d") else a["kernel"])
        s = pair(a["strides"])
        padding = a.get("padding", "same")  # residual blocks always pad `same`
        if padding == "valid" and (k[0] > shape[0] or k[1] > shape[1]) and not kind.endswith("pool2d"):
            raise MnistlabError(f"{where}: kernel {fmt(k)} is larger than its input {fmt(shape)} "
                                f"(shapes so far: {' -> '.join(shapes)}); use a smaller kernel or padding: same")
        h = window(shape[0], k[0], s[0], padding)[0]
        w = window(shape[1], k[1], s[1], padding)[0]
        c = shape[2] if kind.endswith("pool2d") else a["filters"]
        if h < 1 or w < 1:
            raise MnistlabError(f"{where}: the feature map shrinks below 1x1: {fmt(shape)} -> {h}x{w}x{c} "
                                f"(shapes: {' -> '.join(shapes)}); remove a pooling layer or use padding: same")
        return (h, w, c)
    if kind == "rescaling" and len(shapes) > 1:
        raise MnistlabError(f"{where}: rescaling sets the pixel scale, so it must be the first layer; "
                            "move it first or remove it")
    if kind == "global_avg_pool":
        return (shape[2],)
    if kind == "flatten":
        return (math.prod(shape),)
    if kind == "dense":
        if image:
            raise MnistlabError(f"{where}: input is 4-D ({fmt(shape)}); add {{type: flatten}} "
                                "(or global_avg_pool) before the first dense layer")
        return (a["units"],)
    return shape  # dropout, batchnorm, activation keep the shape
