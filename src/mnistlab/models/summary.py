"""Keras-style model.summary(): per layer its name, output shape, parameters and MACs.

Counts follow Keras exactly: a conv has k*k*C_in*filters weights plus a bias per filter,
BatchNormalization has 4 per channel of which 2 (the moving mean and variance) are
non-trainable. MACs are multiply-accumulates of conv and dense layers (bias adds, pooling,
normalisation and activations are not counted). Weight bytes: 4 per parameter in fp32,
1 in int8 (quantisation scales not counted). Nothing here needs torch.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from mnistlab.errors import MnistlabError
from mnistlab.models.spec import Step, pair, plan, resolve_spec

# our layer type -> (the Keras class it mirrors, the name Keras gives its first instance)
KERAS = {
    "conv2d": ("Conv2D", "conv2d"), "separable_conv2d": ("SeparableConv2D", "separable_conv2d"),
    "maxpool2d": ("MaxPooling2D", "max_pooling2d"), "avgpool2d": ("AveragePooling2D", "average_pooling2d"),
    "dropout": ("Dropout", "dropout"), "flatten": ("Flatten", "flatten"), "dense": ("Dense", "dense"),
    "batchnorm": ("BatchNormalization", "batch_normalization"), "activation": ("Activation", "activation"),
    "global_avg_pool": ("GlobalAveragePooling2D", "global_average_pooling2d"), "add": ("Add", "add"),
}


@dataclass
class LayerRow:
    index: int              # position in the spec's layers (a resnet_v1 or residual_block has several rows)
    name: str               # Keras-style: conv2d, conv2d_1, ...
    type: str               # Keras class: Conv2D, ...
    output_shape: tuple     # without the batch axis, Keras order (H, W, C) or (units,)
    params: int
    trainable: int
    non_trainable: int
    macs: int


@dataclass
class Summary:
    name: str
    input_shape: tuple
    layers: list[LayerRow] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(r.params for r in self.layers)

    @property
    def trainable(self) -> int:
        return sum(r.trainable for r in self.layers)

    @property
    def non_trainable(self) -> int:
        return sum(r.non_trainable for r in self.layers)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.layers)

    @property
    def output_shape(self) -> tuple:
        return self.layers[-1].output_shape

    @property
    def bytes_fp32(self) -> int:
        return 4 * self.total

    @property
    def bytes_int8(self) -> int:
        return self.total

    def largest(self, n: int = 3) -> list[LayerRow]:
        return sorted(self.layers, key=lambda r: -r.params)[:n]

    def to_dict(self) -> dict:
        return {"name": self.name, "input_shape": list(self.input_shape),
                "output_shape": list(self.output_shape),
                "layers": [{**asdict(r), "output_shape": list(r.output_shape)} for r in self.layers],
                "total": self.total, "trainable": self.trainable, "non_trainable": self.non_trainable,
                "macs": self.macs, "bytes_fp32": self.bytes_fp32, "bytes_int8": self.bytes_int8}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        head = ("Layer (type)", "Output Shape", "Param #", "MACs")
        cells = [(f"{r.name} ({r.type})", "(None, " + ", ".join(map(str, r.output_shape)) + ")",
                  str(r.params), f"{r.macs:,}") for r in self.layers]
        widths = [max(len(c[j]) for c in [head, *cells]) + 2 for j in range(4)]
        line = lambda c: (" " + c[0].ljust(widths[0]) + c[1].ljust(widths[1]) + c[2].ljust(widths[2])
                          + c[3].rjust(widths[3] - 2)).rstrip()
        rule = sum(widths) + 1
        out = [f'Model: "{self.name}"', "_" * rule, line(head), "=" * rule]
        for k, c in enumerate(cells):
            out += [line(c)] + (["_" * rule] if k < len(cells) - 1 else [])
        out += ["=" * rule,
                f"Total params: {self.total:,} ({_size(self.bytes_fp32)})",
                f"Trainable params: {self.trainable:,} ({_size(4 * self.trainable)})",
                f"Non-trainable params: {self.non_trainable:,} ({_size(4 * self.non_trainable)})",
                f"Total MACs: {self.macs:,}",
                f"Weights: {self.bytes_fp32:,} bytes fp32, {self.bytes_int8:,} bytes int8",
                "_" * rule]
        return "\n".join(out)


def _size(n: int) -> str:
    # Keras 3 prints sizes like "23.04 KB" (powers of 1024)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024


# ---------------------------------------------------------------- per-layer cost

def conv_cost(in_shape, out_shape, kernel, filters, use_bias=True):
    """(params, MACs) of a Conv2D, the closed form Keras and every MAC counter use."""
    kh, kw = pair(kernel)
    params = kh * kw * in_shape[2] * filters + (filters if use_bias else 0)
    return params, out_shape[0] * out_shape[1] * filters * kh * kw * in_shape[2]


def _rows(step: Step):
    """(type, output shape, trainable, non_trainable, macs) rows for one planned layer."""
    a, kind, inp, out = step.args, step.type, step.in_shape, step.out_shape
    if kind == "conv2d":
        p, m = conv_cost(inp, out, a["kernel"], a["filters"], a["use_bias"])
        return [("conv2d", out, p, 0, m)]
    if kind == "separable_conv2d":
        kh, kw = pair(a["kernel"])
        mid = inp[2] * a["depth_multiplier"]
        p = kh * kw * mid + mid * a["filters"] + (a["filters"] if a["use_bias"] else 0)
        m = out[0] * out[1] * (mid * kh * kw + mid * a["filters"])
        return [("separable_conv2d", out, p, 0, m)]
    if kind == "dense":
        return [("dense", out, inp[0] * a["units"] + (a["units"] if a["use_bias"] else 0), 0, inp[0] * a["units"])]
    if kind == "batchnorm":
        c = inp[-1]
        return [("batchnorm", out, 2 * c, 2 * c, 0)]
    if kind == "residual_block":
        return _residual_rows(a, inp, out)
    return [(kind, out, 0, 0, 0)]


def _residual_rows(a, inp, out):
    # BN-ReLU-conv(strides), BN-conv, [1x1 conv(strides) on the shortcut], add, ReLU
    f, k = a["filters"], a["kernel"]
    conv1, conv2 = conv_cost(inp, out, k, f), conv_cost(out, out, k, f)
    rows = [("batchnorm", inp, 2 * inp[2], 2 * inp[2], 0), ("activation", inp, 0, 0, 0),
            ("conv2d", out, conv1[0], 0, conv1[1]),
            ("batchnorm", out, 2 * f, 2 * f, 0),
            ("conv2d", out, conv2[0], 0, conv2[1])]
    if needs_projection(a, inp):
        proj = conv_cost(inp, out, 1, f)
        rows.append(("conv2d", out, proj[0], 0, proj[1]))
    return rows + [("add", out, 0, 0, 0), ("activation", out, 0, 0, 0)]


def needs_projection(a: dict, in_shape) -> bool:
    """A residual block projects its shortcut (1x1 conv) when the stride or the width changes."""
    return pair(a["strides"]) != (1, 1) or in_shape[2] != a["filters"]


# ---------------------------------------------------------------- public API

def summary(spec) -> Summary:
    """Keras-style summary of a zoo name, YAML path or spec dict (see `mnistlab summary`)."""
    spec = resolve_spec(spec)
    result = Summary(spec["name"], tuple(spec["input_shape"]))
    seen: dict[str, int] = {}
    for step in plan(spec):
        for kind, shape, trainable, frozen, macs in _rows(step):
            cls, base = KERAS[kind]
            n = seen.get(base, 0)
            seen[base] = n + 1
            result.layers.append(LayerRow(step.index, base if n == 0 else f"{base}_{n}", cls, tuple(shape),
                                          trainable + frozen, trainable, frozen, macs))
    return result


def count_params(spec) -> int:
    """Keras model.count_params(): every weight, including BatchNorm's moving statistics."""
    return summary(spec).total


def check_budget(spec, max_params: int) -> Summary:
    """Refuse a model whose total parameter count is over `max_params`; returns its summary."""
    s = summary(spec)
    if s.total > max_params:
        top = ", ".join(f"{r.name} ({r.type}) {r.params:,}" for r in s.largest(3))
        raise MnistlabError(f"model '{s.name}' has {s.total:,} parameters ({s.trainable:,} trainable), "
                            f"over the budget of {max_params:,} by {s.total - max_params:,}; "
                            f"largest layers: {top}; shrink those or raise max_params")
    return s
