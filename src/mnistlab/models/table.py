"""The Summary table: its rows, totals and the Keras-style text, shared by the spec summary
(costs.py) and the torch-module summary (module_summary.py), so neither imports the other.
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
    "rescaling": ("Rescaling", "rescaling"), "concatenate": ("Concatenate", "concatenate"),
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
    flash_int8: int = 0     # bytes of its constants in the int8 C export (models/memory.py)


@dataclass
class Summary:
    name: str
    input_shape: tuple
    layers: list[LayerRow] = field(default_factory=list)
    spec: dict | None = field(default=None, repr=False, compare=False)  # None: a torch module's summary

    def c_export(self, precision: str = "int8"):
        """The C export's figures for this spec (models/memory.py CMemory), None where it cannot run it."""
        cache = self.__dict__.setdefault("_c_export", {})
        if precision not in cache:
            from mnistlab.errors import MnistlabError
            from mnistlab.models.memory import c_memory
            try:
                cache[precision] = c_memory(self.spec, precision) if self.spec is not None else None
            except MnistlabError as err:
                self.__dict__["c_export_problem"] = str(err)
                cache[precision] = None
        return cache[precision]

    @property
    def c_export_problem(self) -> str | None:
        """Why there is no C export (and so no RAM and flash figure), or None."""
        self.c_export("int8")
        return self.__dict__.get("c_export_problem",
                                 "it is a torch module, not a spec" if self.spec is None else None)

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
    def ram_int8(self) -> int | None:
        """MNISTLAB_RAM_BYTES of the int8 C export: its arena, input included (models/memory.py)."""
        c = self.c_export("int8")
        return None if c is None else c.ram

    @property
    def ram_fp32(self) -> int | None:
        """MNISTLAB_RAM_BYTES of the fp32 C export (`--precision fp32`)."""
        c = self.c_export("fp32")
        return None if c is None else c.ram

    @property
    def flash_int8(self) -> int | None:
        """MNISTLAB_FLASH_BYTES of the int8 C export: weights and constants (models/memory.py)."""
        c = self.c_export("int8")
        return None if c is None else c.flash

    def _memory_lines(self) -> list[str]:
        if self.ram_int8 is None:
            return [f"Peak RAM and flash: none (they are the C export's, which cannot run this model: "
                    f"{self.c_export_problem})"]
        return [f"Peak RAM (C export arena, activations and input): {self.ram_int8:,} bytes int8, "
                f"{self.ram_fp32:,} bytes fp32",
                f"Flash (int8 C export): {self.flash_int8:,} bytes"]

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
                *self._memory_lines(),
                "(Act. bytes: one layer's output in int8; x4 in fp32)",
                "_" * rule]
        return "\n".join(out)


def _size(n: int) -> str:
    # Keras 3 prints sizes like "23.04 KB" (powers of 1024)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
