"""The Summary table: its rows, totals and the Keras-style text, shared by the spec summary
(summary.py) and the torch-module summary (module_summary.py), so neither imports the other.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


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
