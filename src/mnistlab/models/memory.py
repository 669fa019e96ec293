"""What a model needs on a microcontroller: flash for the weights, RAM for the activations.

One owner for both figures: the C export (serve/export_c.py) lays out its buffers with
`plan_arena` below, and `c_memory(spec)` runs the same planner on the buffers that export
will allocate, predicted from the spec (models/c_graph.py gives the graph; `_Walk` allocates
its buffers the way the export's _Builder does). So `mnistlab summary`, `max_ram_bytes` and
`max_flash_bytes` are MNISTLAB_RAM_BYTES and MNISTLAB_FLASH_BYTES of the generated header,
float segments included (a tensor the int8 graph keeps in float costs 4 bytes a value, plus a
float copy where a float kernel reads a quantised input); tests/unit/test_c_memory.py
exports every zoo model and a set of mixed specs and compares.
- flash (int8): one byte per conv/dense weight plus an int32 bias and a float requantisation
  multiplier per output channel; a BatchNorm that cannot be folded into the layer before it,
  a float scale and shift per channel. (fp32: 4 bytes per weight, a float bias per channel.)
- RAM: every buffer lives from the step that writes it to the last step that reads it; the
  arena is TFLite Micro's greedy layout of those lifetimes (biggest first, lowest offset that
  overlaps no buffer alive at the same time), the quantised input image included.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


def values(shape) -> int:
    return math.prod(shape)


@dataclass(eq=False)
class Buffer:
    """One tensor of the C code: its own bytes in the arena, or an alias (base) of another's."""
    name: str
    shape: tuple                  # batch 1
    kind: str                     # "q" (uint8) | "f" (float)
    base: "Buffer | None" = None  # an alias (reshape, dequantize) shares its base's buffer
    first: int = 0                # the step that writes it
    last: int = 0                 # the last step that reads it
    offset: int = 0               # set by plan_arena
    row: int = -1                 # the summary row that writes it

    @property
    def size(self) -> int:
        return values(self.shape) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * (1 if self.kind == "q" else 4)

    def root(self) -> "Buffer":
        return self if self.base is None else self.base.root()


def plan_arena(buffers, align: int = 4) -> int:
    """TFLite Micro's greedy planner: biggest buffer first, lowest offset free for its lifetime.
    Sets each root buffer's offset; returns the arena size in bytes."""
    roots = [b for b in buffers if b.base is None]
    placed: list = []
    for t in sorted(roots, key=lambda t: (-t.nbytes, t.first)):
        live = sorted((p for p in placed if not (p.last < t.first or t.last < p.first)), key=lambda p: p.offset)
        offset = 0
        for p in live:
            if offset + t.nbytes <= p.offset:
                break
            offset = max(offset, -(-(p.offset + p.nbytes) // align) * align)
        t.offset = offset
        placed.append(t)
    return max((t.offset + t.nbytes for t in placed), default=0)


@dataclass
class CMemory:
    ram: int                  # MNISTLAB_RAM_BYTES
    flash: int                # MNISTLAB_FLASH_BYTES
    row_ram: dict             # summary row -> most bytes alive while that row runs
    row_flash: dict           # summary row -> bytes of its constants


class _Walk:
    """The export's _Builder, allocation only: the same buffers, in the same order, with the
    same lifetimes, for the nodes c_graph predicts (each kernel's rule is noted at its op)."""

    def __init__(self, nodes, input_shape):
        self.nodes, self.input_shape = nodes, input_shape
        self.consumers: dict[str, list] = {}
        for n in nodes:
            for name in n.inputs:
                self.consumers.setdefault(name, []).append(n)
        self.t: dict[str, Buffer] = {}
        self.buffers: list[Buffer] = []
        self.fused: set[str] = set()
        self.flash: dict[int, int] = {}
        self.step, self.row = 0, 0

    def new(self, name, shape, kind) -> Buffer:
        b = Buffer(name, tuple(shape), kind, first=self.step, last=self.step, row=self.row)
        self.t[name] = b
        self.buffers.append(b)
        return b

    def alias(self, name, src, shape=None):
        self.t[name] = Buffer(name, tuple(shape or src.shape), src.kind, base=src)

    def use(self, name) -> Buffer:
        b = self.t[name]
        b.root().last = max(b.root().last, self.step)
        return b

    def const(self, nbytes: int) -> None:
        self.flash[self.row] = self.flash.get(self.row, 0) + nbytes

    def sole_quantize(self, name):
        users = self.consumers.get(name, [])
        if len(users) == 1 and users[0].op == "QuantizeLinear" and name != self.output:
            return users[0]
        return None

    def out_tensor(self, node, shape) -> Buffer:
        """A float op's output: quantised straight into the QuantizeLinear that alone follows."""
        q = self.sole_quantize(node.output)
        if q is not None:
            self.fused.add(q.output)
            b = self.new(q.output, shape, "q")
            self.t[node.output] = b
            return b
        return self.new(node.output, shape, "f")

    def run(self) -> list[Buffer]:
        self.output = self.nodes[-1].output
        x = self.new("input", self.input_shape, "f")
        x.first = -1
        self.float_input = True
        for self.step, node in enumerate(self.nodes):
            self.row = max(node.row, 0)
            getattr(self, "op_" + node.op, self.op_elementwise)(node)
        self.use(self.output)
        if not self.float_input:  # the first quantisation reads the caller's pixels: no float copy
            self.buffers.remove(x)
        return self.buffers

    def op_QuantizeLinear(self, n):
        if n.output in self.fused:
            return
        src = self.use(n.inputs[0])
        if src.kind == "q":  # same scale (an alias), or requantised in place
            self.alias(n.output, src)
            return
        if n.inputs[0] == "input":
            self.float_input = False
        self.new(n.output, src.shape, "q")

    def op_DequantizeLinear(self, n):
        self.alias(n.output, self.use(n.inputs[0]))

    def op_Reshape(self, n):
        self.alias(n.output, self.use(n.inputs[0]), n.shape)

    def op_Transpose(self, n):  # and Pad, MaxPool: exact on quantised values, same kind out
        self.new(n.output, n.shape, self.use(n.inputs[0]).kind)

    op_Pad = op_MaxPool = op_Transpose

    def op_AveragePool(self, n):  # and ReduceMean (global average pooling): float arithmetic
        self.use(n.inputs[0])
        self.out_tensor(n, n.shape)

    op_ReduceMean = op_AveragePool

    def op_Conv(self, n):  # and Gemm
        src = self.use(n.inputs[0])
        out = self.out_tensor(n, n.shape)
        w, ch = n.args["weights"], n.args["channels"]
        if src.kind == "q" and out.kind == "q":
            self.const(w + 4 * ch + 4 * ch)  # int8 weights, int32 bias, float multiplier
            return
        self.const(4 * w + 4 * ch)  # float weights and bias
        if out.kind == "q":
            self.new(n.output + "_f", out.shape, "f")
        if src.kind == "q":
            self.new(n.inputs[0] + "_deq", src.shape, "f")

    op_Gemm = op_Conv

    def op_elementwise(self, n):  # Relu, Elu, Sigmoid, Tanh, LeakyRelu, BatchNormalization
        src = self.use(n.inputs[0])
        if n.op == "BatchNormalization":
            self.const(8 * n.args["channels"])  # float scale and shift per channel
        if n.op == "Relu" and src.kind == "q" and self.sole_quantize(n.output) is None:
            self.new(n.output, src.shape, "q")
            return
        self.out_tensor(n, src.shape)

    def op_Add(self, n):
        a = self.use(n.inputs[0])
        self.use(n.inputs[1])
        self.out_tensor(n, a.shape)

    def op_Softmax(self, n):
        src = self.use(n.inputs[0])
        self.new(n.output, src.shape, "f")
        if src.kind == "q":
            self.new(n.inputs[0] + "_deq", src.shape, "f")


def c_memory(spec, precision: str = "int8") -> CMemory:
    """The C export's MNISTLAB_RAM_BYTES and MNISTLAB_FLASH_BYTES for a spec (any the export
    supports; others raise MnistlabError naming the layer), with per-row figures."""
    from mnistlab.models.c_graph import float_graph, quantised_graph
    from mnistlab.models.spec import resolve_spec
    spec = resolve_spec(spec)
    nodes = quantised_graph(spec) if precision == "int8" else float_graph(spec)
    h, w, c = spec["input_shape"]
    walk = _Walk(nodes, (1, c, h, w))
    buffers = walk.run()
    ram = plan_arena(buffers)
    roots = [b for b in buffers if b.base is None]
    row_ram: dict[int, int] = {}
    for step, node in enumerate(nodes):
        alive = sum(b.nbytes for b in roots if b.first <= step <= b.last)
        row = max(node.row, 0)
        row_ram[row] = max(row_ram.get(row, 0), alive)
    return CMemory(ram, sum(walk.flash.values()), row_ram, walk.flash)
