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
    flash_int8: int = 0     # bytes in the C export: int8 weights + int32 bias and float scale per channel


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

    @property
    def ram_int8(self) -> int:
        """Peak activation bytes (input included) with int8 values: see models/memory.py."""
        from mnistlab.models.memory import peak_ram_bytes
        return peak_ram_bytes(self, 1)

    @property
    def ram_fp32(self) -> int:
        from mnistlab.models.memory import peak_ram_bytes
        return peak_ram_bytes(self, 4)

    @property
    def flash_int8(self) -> int:
        """Bytes of weights and constants in the int8 C export: see models/memory.py."""
        from mnistlab.models.memory import flash_bytes
        return flash_bytes(self, "int8")

    def largest(self, n: int = 3) -> list[LayerRow]:
        return sorted(self.layers, key=lambda r: -r.params)[:n]

    def to_dict(self) -> dict:
        return {"name": self.name, "input_shape": list(self.input_shape),
                "output_shape": list(self.output_shape),
                "layers": [{**asdict(r), "output_shape": list(r.output_shape)} for r in self.layers],
                "total": self.total, "trainable": self.trainable, "non_trainable": self.non_trainable,
                "macs": self.macs, "bytes_fp32": self.bytes_fp32, "bytes_int8": self.bytes_int8,
                "ram_int8": self.ram_int8, "ram_fp32": self.ram_fp32, "flash_int8": self.flash_int8}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def __repr__(self) -> str:
        return str(self)  # the Keras table, also as a cell's last line in a terminal IPython

    def _repr_html_(self) -> str:
        from mnistlab.display import pre
        return pre(str(self))

    def __str__(self) -> str:
        from mnistlab.models.memory import values
        head = ("Layer (type)", "Output Shape", "Param #", "MACs", "Act. bytes")
        cells = [(f"{r.name} ({r.type})", "(None, " + ", ".join(map(str, r.output_shape)) + ")",
                  str(r.params), f"{r.macs:,}", f"{values(r.output_shape):,}") for r in self.layers]
        widths = [max(len(c[j]) for c in [head, *cells]) + 2 for j in range(5)]
        line = lambda c: (" " + c[0].ljust(widths[0]) + c[1].ljust(widths[1]) + c[2].ljust(widths[2])
                          + c[3].rjust(widths[3] - 2) + c[4].rjust(widths[4])).rstrip()
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
                f"Peak RAM (activations, input included): {self.ram_int8:,} bytes int8, {self.ram_fp32:,} bytes fp32",
                f"Flash (int8 C export): {self.flash_int8:,} bytes",
                "(Act. bytes: one layer's output in int8; x4 in fp32)",
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
    """(type, output shape, trainable, non_trainable, macs, int8 flash bytes) rows for one planned layer."""
    a, kind, inp, out = step.args, step.type, step.in_shape, step.out_shape
    if kind == "conv2d":
        p, m = conv_cost(inp, out, a["kernel"], a["filters"], a["use_bias"])
        return [("conv2d", out, p, 0, m, _conv_flash(inp, a["kernel"], a["filters"]))]
    if kind == "separable_conv2d":
        kh, kw = pair(a["kernel"])
        mid = inp[2] * a["depth_multiplier"]
        p = kh * kw * mid + mid * a["filters"] + (a["filters"] if a["use_bias"] else 0)
        m = out[0] * out[1] * (mid * kh * kw + mid * a["filters"])
        flash = kh * kw * mid + mid * a["filters"] + _PER_CHANNEL * (mid + a["filters"])
        return [("separable_conv2d", out, p, 0, m, flash)]
    if kind == "dense":
        return [("dense", out, inp[0] * a["units"] + (a["units"] if a["use_bias"] else 0), 0, inp[0] * a["units"],
                 inp[0] * a["units"] + _PER_CHANNEL * a["units"])]
    if kind == "batchnorm":
        c = inp[-1]
        return [("batchnorm", out, 2 * c, 2 * c, 0, 0)]  # folded into the conv before it
    if kind == "residual_block":
        return _residual_rows(a, inp, out)
    return [(kind, out, 0, 0, 0, 0)]


# int8 C export: an int32 bias and a float requantisation multiplier per output channel
_PER_CHANNEL = 8


def _conv_flash(in_shape, kernel, filters) -> int:
    kh, kw = pair(kernel)
    return kh * kw * in_shape[2] * filters + _PER_CHANNEL * filters


def _residual_rows(a, inp, out):
    # BN-ReLU-conv(strides), BN-conv, [1x1 conv(strides) on the shortcut], add, ReLU
    f, k = a["filters"], a["kernel"]
    conv1, conv2 = conv_cost(inp, out, k, f), conv_cost(out, out, k, f)
    # the first BN runs on the block input (no conv before it to fold into): float scale + shift
    rows = [("batchnorm", inp, 2 * inp[2], 2 * inp[2], 0, _PER_CHANNEL * inp[2]), ("activation", inp, 0, 0, 0, 0),
            ("conv2d", out, conv1[0], 0, conv1[1], _conv_flash(inp, k, f)),
            ("batchnorm", out, 2 * f, 2 * f, 0, 0),
            ("conv2d", out, conv2[0], 0, conv2[1], _conv_flash(out, k, f))]
    if needs_projection(a, inp):
        proj = conv_cost(inp, out, 1, f)
        rows.append(("conv2d", out, proj[0], 0, proj[1], _conv_flash(inp, 1, f)))
    return rows + [("add", out, 0, 0, 0, 0), ("activation", out, 0, 0, 0, 0)]


def needs_projection(a: dict, in_shape) -> bool:
    """A residual block projects its shortcut (1x1 conv) when the stride or the width changes."""
    return pair(a["strides"]) != (1, 1) or in_shape[2] != a["filters"]


# ---------------------------------------------------------------- public API

def summary(spec, input_shape=None) -> Summary:
    """Keras-style summary of a zoo name, YAML path or spec dict (see `mnistlab summary`), or
    of any torch nn.Module (instance or class; `input_shape` (C, H, W), default (1, 28, 28))."""
    if isinstance(spec, type) or hasattr(spec, "named_modules"):  # a torch module, without importing torch
        from mnistlab.models.module_summary import module_summary
        return module_summary(spec, tuple(input_shape or (1, 28, 28)))
    spec = resolve_spec(spec)
    result = Summary(spec["name"], tuple(spec["input_shape"]))
    seen: dict[str, int] = {}
    for step in plan(spec):
        for kind, shape, trainable, frozen, macs, flash in _rows(step):
            cls, base = KERAS[kind]
            n = seen.get(base, 0)
            seen[base] = n + 1
            result.layers.append(LayerRow(step.index, base if n == 0 else f"{base}_{n}", cls, tuple(shape),
                                          trainable + frozen, trainable, frozen, macs, flash))
    return result


def count_params(spec) -> int:
    """Keras model.count_params(): every weight, including BatchNorm's moving statistics."""
    return summary(spec).total


BUDGETS = {  # recipe / CLI key -> (what it limits, the Summary figure, unit)
    "max_params": ("parameters", "total", "parameters"),
    "max_macs": ("multiply-accumulates", "macs", "MACs"),
    "max_ram_bytes": ("peak int8 activation RAM", "ram_int8", "bytes"),
    "max_flash_bytes": ("int8 flash", "flash_int8", "bytes"),
}


def add_budget_arguments(parser, *, params: bool = True) -> None:
    """The budget flags `summary`, `train` and `search` share (argparse)."""
    flags = [("--max-macs", "multiply-accumulates"), ("--max-ram-bytes", "peak int8 activation bytes, input included"),
             ("--max-flash-bytes", "int8 C-export weights and constants")]
    if params:
        flags.insert(0, ("--max-params", "parameters (Keras count)"))
    for flag, what in flags:
        parser.add_argument(flag, type=int, metavar="N", help=f"budget: at most N {what}, checked before any training")


def check_budget(spec, max_params: int | None = None, *, max_macs: int | None = None,
                 max_ram_bytes: int | None = None, max_flash_bytes: int | None = None) -> Summary:
    """Refuse a model over any budget given (params, MACs, RAM, flash); returns its summary."""
    s = summary(spec)
    limits = {"max_params": max_params, "max_macs": max_macs, "max_ram_bytes": max_ram_bytes,
              "max_flash_bytes": max_flash_bytes}
    for key, limit in limits.items():
        if limit is None:
            continue
        what, attr, unit = BUDGETS[key]
        value = getattr(s, attr)
        if value <= limit:
            continue
        if key == "max_params":
            top = ", ".join(f"{r.name} ({r.type}) {r.params:,}" for r in s.largest(3))
            raise MnistlabError(f"model '{s.name}' has {s.total:,} parameters ({s.trainable:,} trainable), "
                                f"over the budget of {limit:,} by {s.total - limit:,}; "
                                f"largest layers: {top}; shrink those or raise max_params")
        if key == "max_macs":
            top = ", ".join(f"{r.name} ({r.type}) {r.macs:,}" for r in sorted(s.layers, key=lambda r: -r.macs)[:3])
        elif key == "max_ram_bytes":
            from mnistlab.models.memory import layer_live_values
            live = layer_live_values(s)
            top = ", ".join(f"{s.layers[i].name} ({s.layers[i].type}) {live[i]:,}"
                            for i in sorted(range(len(live)), key=lambda i: -live[i])[:3])
        else:
            top = ", ".join(f"{r.name} ({r.type}) {r.flash_int8:,}"
                            for r in sorted(s.layers, key=lambda r: -r.flash_int8)[:3])
        raise MnistlabError(f"model '{s.name}' needs {value:,} {unit} ({what}), over the budget of {limit:,} "
                            f"by {value - limit:,}; largest layers: {top}; shrink those or raise {key}")
    return s


def list_models() -> list[dict]:
    """One row per zoo entry: name, notebook, params (counted by mnistlab), printed params, note."""
    from mnistlab.models.zoo import ZOO
    return [{"name": e.name, "notebook": e.notebook, "params": summary(e.name).total,
             "printed_params": e.printed_params, "note": e.note} for e in ZOO.values()]
