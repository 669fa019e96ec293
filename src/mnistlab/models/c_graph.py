"""The graph `mnistlab export --format c` compiles, predicted from the spec alone (no torch).

The C export translates the ONNX graph onnxruntime quantises (serve/export_c.py). That graph
is a function of the spec: `build` (which moves a ReLU after the max pooling that follows it
and drops a last softmax), torch's ONNX exporter (BatchNorm right after a conv or dense
layer is folded into it, `same` conv padding becomes the Conv's pads, `same` max pooling a Pad
filled with -inf, Keras's Flatten a Transpose + Reshape, dropout nothing, and a Softmax is
appended) and onnxruntime's static QDQ quantisation with the op list serve/export.py passes
(onnxruntime/quantization/operators: Conv and Gemm quantise their input and output; MaxPool,
AveragePool, Transpose and Reshape quantise their output with their input's scale when the
input is quantised; Add quantises everything; a Relu on a quantised single-use tensor is
removed, its clipping left to the quantiser). models/memory.py turns this graph into the C
code's buffers and constants. tests/unit/test_c_memory.py checks the prediction against the
real export for every zoo model and a set of mixed specs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from mnistlab.errors import MnistlabError
from mnistlab.models.spec import expand, is_unit_rescaling, needs_projection, pair, plan, window

# spec layer type -> supported; activations the C code has kernels for
SUPPORTED_LAYERS = {"conv2d", "separable_conv2d", "maxpool2d", "avgpool2d", "batchnorm", "dense", "activation",
                    "dropout", "flatten", "global_avg_pool", "residual_block", "resnet_v1", "rescaling"}
SUPPORTED_ACTIVATIONS = {"linear", "relu", "elu", "sigmoid", "tanh", "softmax", "leaky_relu"}
_ACT_OPS = {"relu": "Relu", "elu": "Elu", "sigmoid": "Sigmoid", "tanh": "Tanh", "leaky_relu": "LeakyRelu",
            "softmax": "Softmax"}
# what serve/export.py asks onnxruntime to quantise, and how each kind is handled
QUANTISED_OPS = {"Conv", "MatMul", "Gemm", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "Add", "Mul",
                 "Flatten", "Reshape", "Transpose", "Concat"}
_SAME_SCALE = {"MaxPool", "AveragePool", "Transpose", "Reshape", "Flatten"}  # onnxruntime's QDQDirect8BitOp


def check_spec(spec: dict) -> None:
    """Refuse, in one line naming it, a layer or activation the C export has no kernel for."""
    for i, layer in expand(spec["layers"]):
        kind = layer.get("type")
        act = layer.get("activation")
        if kind in ("add", "concatenate") or "inputs" in layer:
            raise MnistlabError(f"layer {i} ({kind}) reads named inputs; the C export runs a chain of layers "
                                "(residual_block included), not a graph")
        if kind not in SUPPORTED_LAYERS:
            raise MnistlabError(f"layer {i} ({kind}) has no C kernel; the C export supports "
                                f"{', '.join(sorted(SUPPORTED_LAYERS))}")
        if act is not None and act not in SUPPORTED_ACTIVATIONS:
            raise MnistlabError(f"layer {i} ({kind}) uses activation '{act}', which has no C kernel; "
                                f"the C export supports {', '.join(sorted(SUPPORTED_ACTIVATIONS))}")
    for step in plan(spec):
        if step.type == "rescaling" and not is_unit_rescaling(step.args):
            raise MnistlabError(f"layer {step.index} (rescaling) scales pixels by {step.args['scale']:g} "
                                f"(offset {step.args['offset']:g}), which has no C kernel; the C export "
                                "takes pixels scaled to [0, 1] (Rescaling(1/255) or none)")
        if step.type == "avgpool2d" and any(_pads(step.in_shape, step.args["pool"], step.args["strides"],
                                                  step.args["padding"])):
            raise MnistlabError(f"layer {step.index} (avgpool2d) pads its {step.in_shape[0]}x{step.in_shape[1]} "
                                "input (padding: same), which has no C kernel; use padding: valid or a pool "
                                "size that divides the input")
        if step.args.get("activation") == "softmax" and len(step.out_shape) == 3:
            raise MnistlabError(f"layer {step.index} ({step.type}) applies softmax to an image-shaped output, "
                                "which has no C kernel (the C softmax works on a vector); apply it after "
                                "global_avg_pool or flatten")


@dataclass
class Node:
    op: str
    inputs: list
    output: str
    shape: tuple                    # NCHW (or (1, N)) with batch 1, as the C code sees it
    row: int = 0                    # the summary row it belongs to (the input: 0; the appended softmax: the last)
    args: dict = field(default_factory=dict)


def _pads(in_shape, kernel, strides, padding) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of a Keras `same` window, as the built module pads."""
    (kh, kw), (sh, sw) = pair(kernel), pair(strides)
    _, top, bottom = window(in_shape[0], kh, sh, padding)
    _, left, right = window(in_shape[1], kw, sw, padding)
    return top, left, bottom, right


def residual_rows(step) -> int:
    """Summary rows of a residual block (see summary._residual_rows)."""
    return 8 if needs_projection(step.args, step.in_shape) else 7


class _Graph:
    """The float graph torch exports for the spec, as a list of nodes."""

    def __init__(self, spec: dict):
        self.nodes: list[Node] = []
        self.count = 0
        self.spec = spec

    def add(self, op, inputs, shape, row, **args) -> str:
        self.count += 1
        name = f"t{self.count}"
        self.nodes.append(Node(op, list(inputs), name, tuple(shape), row, args))
        return name

    def modules(self):
        """(kind, args, row, step) in the order `build` puts the torch modules."""
        steps = plan(self.spec)
        out, row = [], 0
        for k, step in enumerate(steps):
            act = step.args.get("activation", "linear")
            if k == len(steps) - 1 and act == "softmax":
                act = "linear"  # build returns logits; the export appends the softmax
            if step.type == "activation":
                out += [] if act == "linear" else [("act", act, row, step)]
            elif step.type == "rescaling":
                pass  # check_spec admits only Rescaling(1/255), which builds to no module
            elif step.type == "residual_block":
                out.append(("residual", None, row, step))
            else:
                out.append((step.type, None, row, step))
                if step.type in ("conv2d", "separable_conv2d", "dense") and act != "linear":
                    out.append(("act", act, row, step))
            row += residual_rows(step) if step.type == "residual_block" else 1
        self.rows = row
        for i in range(len(out) - 1):  # build's _pool_before_relu
            if out[i][0] == "act" and out[i][1] == "relu" and out[i + 1][0] == "maxpool2d":
                out[i], out[i + 1] = out[i + 1], out[i]
        return out

    def build(self) -> list[Node]:
        h, w, c = self.spec["input_shape"]
        x, shape = "input", (1, c, h, w)
        for kind, act, row, step in self.modules():
            x, shape = getattr(self, "m_" + kind)(x, shape, row, step, act)
        self.add("Softmax", [x], shape, self.rows - 1)
        return self.nodes

    # one method per module kind: (input name, NCHW shape, row, plan step, activation) -> (output, shape)
    def conv(self, x, shape, row, kernel, strides, padding, filters, groups=1, bias=True):
        _, c, h, w = shape
        pt, pl, pb, pr = _pads((h, w), kernel, strides, padding)
        (kh, kw), (sh, sw) = pair(kernel), pair(strides)
        out = (1, filters, (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1)
        return self.add("Conv", [x], out, row, weights=filters * (c // groups) * kh * kw, channels=filters,
                        bias=bias), out

    def m_conv2d(self, x, shape, row, step, _):
        a = step.args
        return self.conv(x, shape, row, a["kernel"], a["strides"], a["padding"], a["filters"], bias=a["use_bias"])

    def m_separable_conv2d(self, x, shape, row, step, _):
        a = step.args
        mid = shape[1] * a["depth_multiplier"]
        x, shape = self.conv(x, shape, row, a["kernel"], a["strides"], a["padding"], mid, groups=shape[1], bias=False)
        return self.conv(x, shape, row, 1, 1, "valid", a["filters"], bias=a["use_bias"])

    def m_dense(self, x, shape, row, step, _):
        units = step.args["units"]
        return self.add("Gemm", [x], (1, units), row, weights=shape[1] * units, channels=units), (1, units)

    def m_act(self, x, shape, row, step, act):
        return self.add(_ACT_OPS[act], [x], shape, row), shape

    def m_maxpool2d(self, x, shape, row, step, _):
        return self._pool("MaxPool", x, shape, row, step.args)

    def m_avgpool2d(self, x, shape, row, step, _):
        return self._pool("AveragePool", x, shape, row, step.args)

    def _pool(self, op, x, shape, row, a):
        _, c, h, w = shape
        pt, pl, pb, pr = _pads((h, w), a["pool"], a["strides"], a["padding"])
        if any((pt, pl, pb, pr)):  # Pool2d pads explicitly (-inf for max pooling)
            shape = (1, c, h + pt + pb, w + pl + pr)
            x = self.add("Pad", [x], shape, row)
            h, w = shape[2:]
        (kh, kw), (sh, sw) = pair(a["pool"]), pair(a["strides"])
        out = (1, c, (h - kh) // sh + 1, (w - kw) // sw + 1)
        return self.add(op, [x], out, row), out

    def m_dropout(self, x, shape, row, step, _):
        return x, shape

    def m_flatten(self, x, shape, row, step, _):
        if len(shape) == 2:
            return x, shape
        _, c, h, w = shape
        t = self.add("Transpose", [x], (1, h, w, c), row)
        return self.add("Reshape", [t], (1, c * h * w), row), (1, c * h * w)

    def m_batchnorm(self, x, shape, row, step, _):
        prev = self.nodes[-1] if self.nodes else None
        if prev is not None and prev.output == x and prev.op in ("Conv", "Gemm"):
            return x, shape  # folded into the conv / dense layer by the exporter
        return self.add("BatchNormalization", [x], shape, row, channels=shape[1]), shape

    def m_global_avg_pool(self, x, shape, row, step, _):
        return self.add("ReduceMean", [x], (1, shape[1]), row), (1, shape[1])

    def m_residual(self, x, shape, row, step, _):
        # ResidualBlock.forward: act(proj(x) + conv2(bn2(conv1(act(bn1(x)))))); bn2 folds into conv1
        a = step.args
        y = self.add("BatchNormalization", [x], shape, row, channels=shape[1])
        y = self.add(_ACT_OPS[a["activation"]], [y], shape, row + 1)
        y, out = self.conv(y, shape, row + 2, a["kernel"], a["strides"], "same", a["filters"])
        y, out = self.conv(y, out, row + 4, a["kernel"], 1, "same", a["filters"])
        if residual_rows(step) == 8:
            x, _ = self.conv(x, shape, row + 5, 1, a["strides"], "same", a["filters"])
        s = self.add("Add", [x, y], out, row + residual_rows(step) - 2)
        return self.add(_ACT_OPS[a["activation"]], [s], out, row + residual_rows(step) - 1), out


def float_graph(spec: dict) -> list[Node]:
    """The fp32 ONNX graph's nodes (activations only; weights are the nodes' args)."""
    check_spec(spec)
    return _Graph(spec).build()


def quantised_graph(spec: dict) -> list[Node]:
    """The nodes after onnxruntime's QDQ quantisation: QuantizeLinear + DequantizeLinear pairs
    after each quantised tensor's producer, Relus on quantised single-use tensors removed."""
    nodes = float_graph(spec)
    consumers: dict[str, int] = {}
    for n in nodes:
        for i in n.inputs:
            consumers[i] = consumers.get(i, 0) + 1
    marked: list[str] = []  # tensors to quantise, in the order onnxruntime marks them
    mark = lambda t: None if t in marked else marked.append(t)
    removed = set()
    for n in nodes:
        if n.op not in QUANTISED_OPS:
            continue
        if n.op in ("Conv", "Gemm"):
            mark(n.inputs[0])
            mark(n.output)
        elif n.op == "Relu":
            up = n.inputs[0]
            if up not in marked:
                continue
            producer = next((p for p in nodes if p.output == up), None)
            if producer is not None and consumers[up] == 1:
                producer.output = n.output  # the Relu goes; its producer writes its output
                removed.add(id(n))
                marked.remove(up)
            else:
                mark(up)
            mark(n.output)
        elif n.op in _SAME_SCALE:
            if n.inputs[0] in marked:
                mark(n.output)
        else:
            for t in [*n.inputs, n.output]:
                mark(t)
    out: list[Node] = []

    def qdq(t, row):
        out.append(Node("QuantizeLinear", [t], t + "_q", (), row))
        out.append(Node("DequantizeLinear", [t + "_q"], t + "_dq", (), row))

    renamed = {t: t + "_dq" for t in marked}
    for n in nodes:
        if id(n) not in removed:
            n.inputs = [renamed.get(i, i) for i in n.inputs]
            out.append(n)
    rows = {n.output: n.row for n in out}
    for t in marked:  # onnxruntime adds the pairs after the graph's nodes, then sorts
        qdq(t, rows.get(t, 0))
    return _topological(out)


def _topological(nodes: list[Node]) -> list[Node]:
    """onnxruntime's ONNXModel.topological_sort, which orders the quantised model: breadth first
    from the graph input, a node queued once its last input is written, a tensor's readers in
    their order in the list (the weights' nodes are all ready before any activation's)."""
    readers: dict[str, list[int]] = {}
    deps = []
    for k, n in enumerate(nodes):
        deps.append(len(n.inputs))
        for name in n.inputs:
            readers.setdefault(name, []).append(k)
    order = []
    for k in readers.get("input", []):
        deps[k] -= 1
        if deps[k] == 0:
            order.append(nodes[k])
    start = 0
    while start < len(order):
        for k in readers.get(order[start].output, []):
            deps[k] -= 1
            if deps[k] == 0:
                order.append(nodes[k])
        start += 1
    return order
