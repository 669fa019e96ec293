"""Keras-style model.summary(): per layer its name, output shape, parameters and MACs.

Counts follow Keras exactly: a conv has k*k*C_in*filters weights plus a bias per filter,
BatchNormalization has 4 per channel of which 2 (the moving mean and variance) are
non-trainable. MACs are multiply-accumulates of conv and dense layers (bias adds, pooling,
normalisation and activations are not counted). Weight bytes: 4 per parameter in fp32,
1 in int8 (quantisation scales not counted). Nothing here needs torch.
"""
from __future__ import annotations

from mnistlab.errors import MnistlabError
from mnistlab.models.spec import Step, needs_projection, pair, plan, resolve_spec  # noqa: F401 (layers.py)
from mnistlab.models.table import KERAS, LayerRow, Summary

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
        return [("separable_conv2d", out, p, 0, out[0] * out[1] * (mid * kh * kw + mid * a["filters"]))]
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
    # (models/c_graph.py numbers the block's nodes by these rows: keep the two in step)
    f, k = a["filters"], a["kernel"]
    conv1, conv2 = conv_cost(inp, out, k, f), conv_cost(out, out, k, f)
    rows = [("batchnorm", inp, 2 * inp[2], 2 * inp[2], 0), ("activation", inp, 0, 0, 0),
            ("conv2d", out, conv1[0], 0, conv1[1]), ("batchnorm", out, 2 * f, 2 * f, 0),
            ("conv2d", out, conv2[0], 0, conv2[1])]
    if needs_projection(a, inp):
        proj = conv_cost(inp, out, 1, f)
        rows.append(("conv2d", out, proj[0], 0, proj[1]))
    return rows + [("add", out, 0, 0, 0), ("activation", out, 0, 0, 0)]


# ---------------------------------------------------------------- public API

def summary(spec, input_shape=None) -> Summary:
    """Keras-style summary of a zoo name, YAML path or spec dict (see `mnistlab summary`), or
    of any torch nn.Module (instance or class; `input_shape` (C, H, W), default (1, 28, 28))."""
    if isinstance(spec, type) or hasattr(spec, "named_modules"):  # a torch module, without importing torch
        from mnistlab.models.module_summary import module_summary
        return module_summary(spec, tuple(input_shape or (1, 28, 28)))
    spec = resolve_spec(spec)
    result = Summary(spec["name"], tuple(spec["input_shape"]), spec=spec)
    seen: dict[str, int] = {}
    for step in plan(spec):
        for kind, shape, trainable, frozen, macs in _rows(step):
            cls, base = KERAS[kind]
            n = seen.get(base, 0)
            seen[base] = n + 1
            result.layers.append(LayerRow(step.index, base if n == 0 else f"{base}_{n}", cls, tuple(shape),
                                          trainable + frozen, trainable, frozen, macs))
    c = result.c_export("int8")
    for row, nbytes in (c.row_flash.items() if c is not None else ()):
        result.layers[row].flash_int8 = nbytes
    return result


def count_params(spec) -> int:
    """Keras model.count_params(): every weight, including BatchNorm's moving statistics."""
    return summary(spec).total


BUDGETS = {  # recipe / CLI key -> (what it limits, the Summary figure, unit)
    "max_params": ("parameters", "total", "parameters"),
    "max_macs": ("multiply-accumulates", "macs", "MACs"),
    "max_ram_bytes": ("int8 C export's RAM arena", "ram_int8", "bytes"),
    "max_flash_bytes": ("int8 C export's flash", "flash_int8", "bytes"),
}


def add_budget_arguments(parser, *, params: bool = True) -> None:
    """The budget flags `summary`, `train` and `search` share (argparse)."""
    flags = [("--max-macs", "multiply-accumulates"),
             ("--max-ram-bytes", "bytes of RAM arena in the int8 C export (activations, input included)"),
             ("--max-flash-bytes", "bytes of weights and constants in the int8 C export")]
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
        if value is None:  # RAM and flash are the C export's: a model it cannot run has neither
            raise MnistlabError(f"model '{s.name}': {key} is checked against the C export "
                                f"(`mnistlab export --format c`), which cannot run it: {s.c_export_problem}")
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
            live = s.c_export("int8").row_ram
            top = ", ".join(f"{s.layers[i].name} ({s.layers[i].type}) {live[i]:,}"
                            for i in sorted(live, key=lambda i: -live[i])[:3])
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
