"""What a model needs on a microcontroller: flash for the weights, RAM for the activations.

Both are estimated from the spec alone (no torch), for the runtime `mnistlab export --format c`
generates, so that budgets can be checked before any training:
- flash (int8): one byte per weight, plus per output channel of every conv and dense layer an
  int32 bias and a float requantisation multiplier (8 bytes); BatchNorm is folded into the conv
  before it, so it costs nothing. (fp32: 4 bytes per weight and bias.)
- RAM: activations live in one arena; a layer needs its input and its output at the same time,
  except the layers that run in place on their input (BatchNorm, activations, dropout, flatten);
  a residual block also keeps its input alive for the shortcut. The peak over layers, the
  input image included, is the arena an ideal planner needs: 1 byte per value in int8, 4 in fp32.
The C export prints its own exact figures (MNISTLAB_FLASH_BYTES, MNISTLAB_RAM_BYTES); they match
these where onnxruntime quantises every layer, and can be larger where a layer stays in float.
"""
from __future__ import annotations

import math

IN_PLACE = {"BatchNormalization", "Activation", "Dropout", "Flatten"}
WEIGHTED = {"Conv2D", "SeparableConv2D", "Dense"}


def values(shape) -> int:
    return math.prod(shape)


def layer_live_values(summary) -> list[int]:
    """Per summary row: how many activation values must be held while that layer runs."""
    live, prev, block_input = [], values(summary.input_shape), {}
    rows = summary.layers
    counts: dict[int, int] = {}
    for r in rows:
        counts[r.index] = counts.get(r.index, 0) + 1
    for r in rows:
        out = values(r.output_shape)
        if counts[r.index] > 1:  # a residual block: its input waits for the shortcut add
            block_input.setdefault(r.index, prev)
            extra = block_input[r.index]
        else:
            extra = 0
        live.append((out if r.type in IN_PLACE else prev + out) + extra)
        prev = out
    return live


def peak_ram_bytes(summary, bytes_per_value: int = 1) -> int:
    """Peak activation memory (input included) for int8 (1) or fp32 (4) values."""
    live = layer_live_values(summary)
    return bytes_per_value * max(live + [values(summary.input_shape)])


def flash_bytes(summary, precision: str = "int8") -> int:
    """Weights and constants the C export stores (see the module docstring)."""
    if precision == "fp32":
        return 4 * sum(r.params for r in summary.layers if r.type in WEIGHTED)
    return sum(r.flash_int8 for r in summary.layers)
