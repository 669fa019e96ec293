"""`mnistlab export RUN --format c`: the model as one portable C99 file, checked on the test set.

Quantisation scheme: onnxruntime's static QDQ scheme, which `export --int8` already uses and
which is the reference the C code is checked against -- per-channel symmetric int8 weights,
per-tensor asymmetric uint8 activations, int32 biases (scale = input scale x weight scale),
int32 accumulators, and requantisation by a per-channel float multiplier with round-half-to-
even (as onnxruntime's QLinearConv does; TFLite Micro uses the same scales but a fixed-point
multiplier + shift instead of a float multiply). BatchNorm is folded into the preceding conv
by onnxruntime's pre-processing before quantisation; where it cannot be folded it runs as a
per-channel float scale and shift.

How: the C code is generated from the quantised ONNX graph itself (the same file
onnxruntime runs), so both compute the same thing. Each graph tensor becomes either a
quantised buffer (uint8 + scale + zero point) or a float buffer. Ops that are exact on
quantised values (max pooling, zero padding, ReLU, transpose, reshape) stay quantised;
conv and dense layers with quantised input run as int8 x int8 -> int32 kernels; the rest
(sigmoid, ELU, average pooling, float BatchNorm, add, softmax) read dequantised values and
write floats, or quantise straight into the next buffer when a QuantizeLinear follows.
All buffers live in one static arena, laid out by lifetime with models/memory.py's
plan_arena (TFLite Micro's greedy planner: biggest first, lowest offset that overlaps no
buffer alive at the same time), so MNISTLAB_RAM_BYTES is the arena: the peak working memory,
the quantised input included. `mnistlab summary` and the max_ram_bytes / max_flash_bytes
budgets run the same planner on the same buffers predicted from the spec (models/memory.py).
The kernels and the test harness are C files in serve/c/; this module translates the graph.
"""
from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnistlab.errors import MnistlabError, option
from mnistlab.io import make_dirs, writable_dir
from mnistlab.models.c_graph import SUPPORTED_ACTIVATIONS, SUPPORTED_LAYERS, check_spec  # noqa: F401 (the API)
from mnistlab.models.memory import Buffer, plan_arena

_ELEMENTWISE = {"Relu", "Sigmoid", "Tanh", "Elu", "LeakyRelu", "BatchNormalization", "Add", "Identity",
                "Clip"}
_LAYOUT = {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}
SUPPORTED_OPS = _ELEMENTWISE | _LAYOUT | {
    "QuantizeLinear", "DequantizeLinear", "Conv", "Gemm", "MatMul", "MaxPool", "AveragePool",
    "GlobalAveragePool", "ReduceMean", "Pad", "Transpose", "Softmax", "Constant"}


# ---------------------------------------------------------------- the graph, as buffers

@dataclass(eq=False)
class Tensor(Buffer):
    """A buffer of the generated C, with the quantisation of its values ("q": uint8)."""
    scale: float = 1.0
    zp: int = 0


@dataclass
class Program:
    """What codegen needs: constants, buffers, and C statements in order."""
    consts: list = field(default_factory=list)    # (name, ctype, values)
    body: list = field(default_factory=list)      # C statements
    tensors: list = field(default_factory=list)
    input_shape: tuple = ()                       # (C, H, W)
    classes: int = 0
    uses_float_input: bool = False

    @property
    def flash_bytes(self) -> int:
        sizes = {"int8_t": 1, "uint8_t": 1, "int32_t": 4, "float": 4}
        return sum(sizes[ctype] * len(values) for _, ctype, values in self.consts)


class _Builder:
    def __init__(self, model):
        import onnx
        from onnx import numpy_helper, shape_inference
        self.onnx = onnx
        model = shape_inference.infer_shapes(model)
        g = model.graph
        self.init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        for n in g.node:
            if n.op_type == "Constant":
                self.init[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        self.shapes = {}
        for vi in list(g.value_info) + list(g.input) + list(g.output):
            dims = vi.type.tensor_type.shape.dim
            self.shapes[vi.name] = tuple(1 if (d.dim_param or d.dim_value == 0) else d.dim_value for d in dims)
        self.nodes = [n for n in g.node if n.op_type != "Constant"]
        self.input = g.input[0].name
        self.output = g.output[0].name
        self.consumers: dict[str, list] = {}
        for n in self.nodes:
            for name in n.input:
                self.consumers.setdefault(name, []).append(n)
        self.prog = Program()
        self.t: dict[str, Tensor] = {}
        self.wq: dict[str, tuple] = {}  # dequantised constant name -> (int values, scales, zp, axis)
        self.step = 0
        self.fused: set[str] = set()
        self.counter = 0
        self._deq: dict = {}  # id(quantised tensor) -> its float copy for a float kernel

    # -- helpers
    def attrs(self, node) -> dict:
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def const(self, prefix: str, ctype: str, values) -> str:
        self.counter += 1
        name = f"{prefix}_{self.counter}"
        self.prog.consts.append((name, ctype, np.asarray(values).ravel().tolist()))
        return name

    def new(self, name, shape, kind, scale=1.0, zp=0) -> Tensor:
        t = Tensor(name, tuple(int(s) for s in shape), kind, first=self.step, last=self.step, scale=float(scale),
                   zp=int(zp))
        self.t[name] = t
        self.prog.tensors.append(t)
        return t

    def use(self, name: str) -> Tensor:
        t = self.t[name]
        t.root().last = max(t.root().last, self.step)
        return t

    def ptr(self, t: Tensor) -> str:
        ctype = "uint8_t" if t.kind == "q" else "float"
        return f"(({ctype} *)(ARENA + {self._off(t)}))"

    def _off(self, t: Tensor) -> str:
        return f"OFF_{id(t.root())}"

    def float_const(self, name: str) -> np.ndarray:
        """A constant as float: an initializer, or a dequantised one."""
        if name in self.wq:
            q, s, zp, axis = self.wq[name]
            shape = [1] * q.ndim
            if np.ndim(s):
                shape[axis] = -1
            return ((q.astype(np.float32) - np.reshape(zp, shape).astype(np.float32))
                    * np.reshape(s, shape).astype(np.float32)).astype(np.float32)
        return np.asarray(self.init[name], dtype=np.float32)

    def sole_quantize(self, name: str):
        """The QuantizeLinear that alone consumes `name`, if any (so a kernel can write it directly)."""
        users = self.consumers.get(name, [])
        if len(users) == 1 and users[0].op_type == "QuantizeLinear" and name != self.output:
            return users[0]
        return None

    def out_tensor(self, node, shape) -> tuple[Tensor, "object"]:
        """The node's output buffer: quantised when a QuantizeLinear alone follows (fused)."""
        q = self.sole_quantize(node.output[0])
        if q is not None:
            s, zp = self._qparams(q)
            self.fused.add(q.output[0])
            t = self.new(q.output[0], shape, "q", s, zp)
            self.t[node.output[0]] = t
            return t, q
        return self.new(node.output[0], shape, "f"), None

    def _qparams(self, node) -> tuple[float, int]:
        s = np.asarray(self.init[node.input[1]], dtype=np.float32)
        zp = np.asarray(self.init[node.input[2]]) if len(node.input) > 2 else np.zeros((), np.uint8)
        if s.size != 1:
            raise MnistlabError("the int8 model quantises an activation per channel; the C export needs "
                                "per-tensor activation scales")
        if zp.dtype != np.uint8:
            raise MnistlabError(f"the int8 model has {zp.dtype} activations; the C export expects uint8")
        return float(s.ravel()[0]), int(zp.ravel()[0])

    def read(self, t: Tensor, idx: str) -> str:
        """C expression: element idx of t as float."""
        if t.kind == "q":
            return f"(((float)((int){self.ptr(t)}[{idx}] - {t.zp})) * {_f(t.scale)})"
        return f"{self.ptr(t)}[{idx}]"

    def write(self, t: Tensor, idx: str, expr: str) -> str:
        if t.kind == "q":
            return f"{self.ptr(t)}[{idx}] = q8({expr}, {_f(t.scale)}, {t.zp});"
        return f"{self.ptr(t)}[{idx}] = {expr};"

    # -- the walk
    def build(self) -> Program:
        in_shape = self.shapes[self.input]
        if len(in_shape) != 4:
            raise MnistlabError(f"the model's input has shape {in_shape}; the C export expects (N, C, H, W)")
        self.prog.input_shape = tuple(in_shape[1:])
        x = self.new(self.input, in_shape, "f")
        x.first = -1
        self.prog.uses_float_input = True
        for self.step, node in enumerate(self.nodes):
            op = node.op_type
            if op not in SUPPORTED_OPS:
                raise MnistlabError(f"the exported graph has an ONNX {op} node ('{node.name}'), which has no "
                                    "C kernel; use layers from `mnistlab models show` that the C export supports")
            getattr(self, "op_" + op)(node)
        out = self.use(self.output)
        if not self.prog.uses_float_input:  # nothing reads the float input: no arena space for it
            self.prog.tensors.remove(x)
        self.prog.classes = out.size
        self.out = out
        return self.prog

    # quantisation
    def op_QuantizeLinear(self, node):
        if node.output[0] in self.fused:
            return
        if node.input[0] in self.init:  # a constant quantised at export time
            return
        s, zp = self._qparams(node)
        src = self.use(node.input[0])
        if src.kind == "q" and (src.scale == np.float32(s) and src.zp == zp or self._sole_reader(src)):
            # the same scale: an alias; another scale on a buffer nothing else reads: requantised
            # in place (each value read, then written), so no buffer is added either way
            out = Tensor(node.output[0], src.shape, "q", base=src, scale=s, zp=zp)
            self.t[node.output[0]] = out
            if not (src.scale == np.float32(s) and src.zp == zp):
                self.prog.body.append(
                    f"for (i = 0; i < {out.size}; ++i) {{ {self.write(out, 'i', self.read(src, 'i'))} }}")
            return
        if src.name == self.input and src.kind == "f":
            # the first quantisation reads the caller's pixels directly: no float input buffer
            out = self.new(node.output[0], src.shape, "q", s, zp)
            self.prog.uses_float_input = False
            pixel = f"pixel_at(pixels, i, {src.shape[2] * src.shape[3]}, {src.shape[1]})"
            self.prog.body.append(f"for (i = 0; i < {out.size}; ++i) {{ {self.write(out, 'i', pixel)} }}")
            return
        out = self.new(node.output[0], src.shape, "q", s, zp)
        self.prog.body.append(f"for (i = 0; i < {out.size}; ++i) {{ {self.write(out, 'i', self.read(src, 'i'))} }}")

    def _sole_reader(self, t: Tensor) -> bool:
        """Whether the node now reading t is the only reader of t and of every buffer t aliases."""
        while t is not None:
            if len(self.consumers.get(t.name, [])) != 1:
                return False
            t = t.base
        return True

    def op_DequantizeLinear(self, node):
        name = node.input[0]
        if name in self.init:  # weights / bias
            q = np.asarray(self.init[name])
            s = np.asarray(self.init[node.input[1]], dtype=np.float32)
            zp = np.asarray(self.init[node.input[2]]) if len(node.input) > 2 else np.zeros_like(s, dtype=q.dtype)
            axis = self.attrs(node).get("axis", 1)
            self.wq[node.output[0]] = (q, s, zp, axis if axis >= 0 else axis + q.ndim)
            return
        src = self.use(name)
        if src.kind != "q":
            raise MnistlabError(f"DequantizeLinear '{node.name}' reads a float tensor; unexpected int8 graph")
        self.t[node.output[0]] = Tensor(node.output[0], src.shape, "q", base=src, scale=src.scale, zp=src.zp)

    # layout
    def _alias(self, node):
        src = self.use(node.input[0])
        shape = self.shapes.get(node.output[0]) or (src.size,)
        self.t[node.output[0]] = Tensor(node.output[0], shape, src.kind, base=src, scale=src.scale, zp=src.zp)

    op_Reshape = op_Flatten = op_Squeeze = op_Unsqueeze = op_Identity = _alias

    def op_Transpose(self, node):
        src = self.use(node.input[0])
        perm = list(self.attrs(node)["perm"])
        shape = [src.shape[p] for p in perm]
        if len(shape) != 4 or perm[0] != 0:
            raise MnistlabError(f"Transpose with perm {perm} has no C kernel")
        out = self.new(node.output[0], shape, src.kind, src.scale, src.zp)
        # strides of the source in the order of the output's axes
        sstrides = [int(np.prod(src.shape[k + 1:])) for k in range(4)]
        st = [sstrides[p] for p in perm]
        _, A, B, C = shape
        self.prog.body.append(
            f"{{ int a, b, c, o = 0; for (a = 0; a < {A}; ++a) for (b = 0; b < {B}; ++b) "
            f"for (c = 0; c < {C}; ++c) {self.ptr(out)}[o++] = {self.ptr(src)}[a * {st[1]} + b * {st[2]} + c * {st[3]}]; }}")

    def op_Pad(self, node):
        src = self.use(node.input[0])
        pads = [int(v) for v in self.init[node.input[1]]]
        value = float(self.init[node.input[2]]) if len(node.input) > 2 and node.input[2] else 0.0
        mode = self.attrs(node).get("mode", b"constant")
        if mode not in (b"constant", "constant") or len(pads) != 8 or any(pads[k] for k in (0, 1, 4, 5)):
            raise MnistlabError(f"Pad '{node.name}' (mode {mode}, pads {pads}) has no C kernel")
        n, c, h, w = src.shape
        top, left, bottom, right = pads[2], pads[3], pads[6], pads[7]
        out = self.new(node.output[0], (n, c, h + top + bottom, w + left + right), src.kind, src.scale, src.zp)
        fill = str(int(np.clip(np.round(value / src.scale) + src.zp, 0, 255))) if src.kind == "q" else _f(value)
        H, W = h + top + bottom, w + left + right
        self.prog.body.append(
            f"{{ int ch, y, x; for (ch = 0; ch < {c}; ++ch) for (y = 0; y < {H}; ++y) for (x = 0; x < {W}; ++x) "
            f"{self.ptr(out)}[(ch * {H} + y) * {W} + x] = (y < {top} || y >= {top + h} || x < {left} || x >= {left + w}) "
            f"? {fill} : {self.ptr(src)}[(ch * {h} + y - {top}) * {w} + x - {left}]; }}")

    # pooling
    def _pool_geometry(self, node, src):
        a = self.attrs(node)
        kh, kw = a["kernel_shape"]
        sh, sw = a.get("strides", [1, 1])
        pads = a.get("pads", [0, 0, 0, 0])
        if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1, 1])) or \
                a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise MnistlabError(f"{node.op_type} '{node.name}' with ceil_mode/dilations/auto_pad has no C kernel")
        _, c, h, w = src.shape
        oh = (h + pads[0] + pads[2] - kh) // sh + 1
        ow = (w + pads[1] + pads[3] - kw) // sw + 1
        return c, h, w, oh, ow, kh, kw, sh, sw, pads[0], pads[1], a

    def op_MaxPool(self, node):
        src = self.use(node.input[0])
        c, h, w, oh, ow, kh, kw, sh, sw, pt, pl, _ = self._pool_geometry(node, src)
        # max commutes with the (monotone) dequantisation: quantised in, quantised out, exact
        out = self.new(node.output[0], (1, c, oh, ow), src.kind, src.scale, src.zp)
        fn = "maxpool_q" if src.kind == "q" else "maxpool_f"
        self.prog.body.append(f"{fn}({self.ptr(src)}, {c}, {h}, {w}, {self.ptr(out)}, {oh}, {ow}, "
                              f"{kh}, {kw}, {sh}, {sw}, {pt}, {pl});")

    def op_AveragePool(self, node):
        src = self.use(node.input[0])
        c, h, w, oh, ow, kh, kw, sh, sw, pt, pl, a = self._pool_geometry(node, src)
        out, _ = self.out_tensor(node, (1, c, oh, ow))
        include = int(a.get("count_include_pad", 0))
        self._pool_loop(src, out, c, h, w, oh, ow, kh, kw, sh, sw, pt, pl, include)

    def op_GlobalAveragePool(self, node):
        src = self.use(node.input[0])
        _, c, h, w = src.shape
        out, _ = self.out_tensor(node, (1, c, 1, 1))
        self._pool_loop(src, out, c, h, w, 1, 1, h, w, 1, 1, 0, 0, 0)

    def op_ReduceMean(self, node):
        """x.mean((2, 3)): global average pooling as torch exports it."""
        src = self.use(node.input[0])
        a = self.attrs(node)
        axes = a.get("axes") or ([int(v) for v in self.init[node.input[1]]] if len(node.input) > 1 else [])
        if sorted(int(v) % 4 for v in axes) != [2, 3] or len(src.shape) != 4:
            raise MnistlabError(f"ReduceMean '{node.name}' over axes {axes} has no C kernel")
        _, c, h, w = src.shape
        out, _ = self.out_tensor(node, (1, c, 1, 1) if a.get("keepdims", 1) else (1, c))
        self._pool_loop(src, out, c, h, w, 1, 1, h, w, 1, 1, 0, 0, 0)

    def _pool_loop(self, src, out, c, h, w, oh, ow, kh, kw, sh, sw, pt, pl, include):
        self.prog.body.append(
            f"{{ int ch, oy, ox, ky, kx; for (ch = 0; ch < {c}; ++ch) for (oy = 0; oy < {oh}; ++oy) "
            f"for (ox = 0; ox < {ow}; ++ox) {{ float acc = 0.0f; int n = 0; "
            f"for (ky = 0; ky < {kh}; ++ky) for (kx = 0; kx < {kw}; ++kx) {{ "
            f"int y = oy * {sh} + ky - {pt}, x = ox * {sw} + kx - {pl}; "
            f"if (y < 0 || y >= {h} || x < 0 || x >= {w}) {{ n += {include}; continue; }} "
            f"acc += {self.read(src, f'(ch * {h} + y) * {w} + x')}; ++n; }} "
            f"{self.write(out, f'(ch * {oh} + oy) * {ow} + ox', 'acc / (float)n')} }} }}")

    # conv and dense
    def _weights(self, name):
        if name in self.wq:
            return self.wq[name]
        return None

    def op_Conv(self, node):
        src = self.use(node.input[0])
        a = self.attrs(node)
        if any(d != 1 for d in a.get("dilations", [1, 1])) or \
                a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise MnistlabError(f"Conv '{node.name}' with dilations/auto_pad has no C kernel")
        group = int(a.get("group", 1))
        wname = node.input[1]
        wf = self.float_const(wname)
        f, cin_g, kh, kw = wf.shape
        sh, sw = a.get("strides", [1, 1])
        pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
        _, c, h, w = src.shape
        oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
        out, q = self.out_tensor(node, (1, f, oh, ow))
        bname = node.input[2] if len(node.input) > 2 and node.input[2] else None
        geo = f"{c}, {h}, {w}, {f}, {kh}, {kw}, {sh}, {sw}, {pt}, {pl}, {oh}, {ow}, {group}"
        wq = self._weights(wname)
        if src.kind == "q" and out.kind == "q" and wq is not None and not np.any(wq[2]):
            wc = self.const("w", "int8_t", wq[0].astype(np.int8))
            bc = self.const("b", "int32_t", self._int_bias(bname, f))
            m = (np.float32(src.scale) * np.asarray(wq[1], np.float32).reshape(-1) / np.float32(out.scale))
            mc = self.const("m", "float", np.broadcast_to(m.astype(np.float32), (f,)))
            self.prog.body.append(f"conv_q({self.ptr(src)}, {src.zp}, {wc}, {bc}, {mc}, {self.ptr(out)}, {out.zp}, {geo});")
            return
        wc = self.const("w", "float", wf)
        bc = self.const("b", "float", self.float_const(bname) if bname else np.zeros(f, np.float32))
        self._float_kernel(node, src, out, lambda x, y: f"conv_f({x}, {wc}, {bc}, {y}, {geo});")

    def _float_kernel(self, node, src, out, call) -> None:
        """A float conv/dense (`call(input_ptr, output_ptr)`): its input dequantised first where
        it is quantised, its output quantised after where a QuantizeLinear follows."""
        tmp = out if out.kind == "f" else self.new(node.output[0] + "_f", out.shape, "f")
        self.prog.body.append(self._to_float(src) + call(self._float_ptr(src), self.ptr(tmp)))
        if tmp is not out:
            self.prog.body.append(f"for (i = 0; i < {out.size}; ++i) {{ {self.write(out, 'i', self.read(tmp, 'i'))} }}")

    def _int_bias(self, bname, n):
        if bname is None:
            return np.zeros(n, np.int32)
        if bname not in self.wq:
            raise MnistlabError("the int8 model keeps a float bias on a quantised layer; unexpected graph")
        q, _, zp, _ = self.wq[bname]
        return (q.astype(np.int64) - np.asarray(zp, np.int64)).astype(np.int32)

    def _to_float(self, src) -> str:
        """Float copies of quantised input for the float kernels (rare in int8 graphs)."""
        if src.kind == "f":
            return ""
        tmp = self.new(src.name + "_deq", src.shape, "f")
        self._deq[id(src)] = tmp
        return f"for (i = 0; i < {src.size}; ++i) {self.ptr(tmp)}[i] = {self.read(src, 'i')}; "

    def _float_ptr(self, src) -> str:
        return self.ptr(self._deq[id(src)]) if src.kind == "q" else self.ptr(src)

    def op_Gemm(self, node):
        a = self.attrs(node)
        if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            raise MnistlabError(f"Gemm '{node.name}' with transA/alpha/beta has no C kernel")
        self._dense(node, node.input[1], node.input[2] if len(node.input) > 2 and node.input[2] else None,
                    transposed=bool(a.get("transB", 0)))

    def op_MatMul(self, node):
        self._dense(node, node.input[1], None, transposed=False)

    def _dense(self, node, wname, bname, transposed):
        src = self.use(node.input[0])
        wf = self.float_const(wname)
        if not transposed:
            wf = wf.T
        n, k = wf.shape
        out, q = self.out_tensor(node, (1, n))
        wq = self._weights(wname)
        if src.kind == "q" and out.kind == "q" and wq is not None and not np.any(wq[2]):
            qw = wq[0] if transposed else wq[0].T
            scales = np.asarray(wq[1], np.float32).reshape(-1)
            wc = self.const("w", "int8_t", np.ascontiguousarray(qw).astype(np.int8))
            bc = self.const("b", "int32_t", self._int_bias(bname, n))
            m = np.float32(src.scale) * scales / np.float32(out.scale)
            mc = self.const("m", "float", np.broadcast_to(m.astype(np.float32), (n,)))
            self.prog.body.append(f"dense_q({self.ptr(src)}, {src.zp}, {wc}, {bc}, {mc}, {self.ptr(out)}, {out.zp}, {k}, {n});")
            return
        wc = self.const("w", "float", np.ascontiguousarray(wf))
        bc = self.const("b", "float", self.float_const(bname) if bname else np.zeros(n, np.float32))
        self._float_kernel(node, src, out, lambda x, y: f"dense_f({x}, {wc}, {bc}, {y}, {k}, {n});")

    # elementwise
    def _elementwise(self, node, expr_of):
        src = self.use(node.input[0])
        if node.op_type == "Relu" and src.kind == "q" and self.sole_quantize(node.output[0]) is None:
            out = self.new(node.output[0], src.shape, "q", src.scale, src.zp)  # max(q, zp): exact
            self.prog.body.append(f"for (i = 0; i < {src.size}; ++i) {self.ptr(out)}[i] = "
                                  f"{self.ptr(src)}[i] > {src.zp} ? {self.ptr(src)}[i] : {src.zp};")
            return
        out, _ = self.out_tensor(node, src.shape)
        channels = src.shape[1] if len(src.shape) > 1 else 1
        inner = int(np.prod(src.shape[2:])) if len(src.shape) > 2 else 1
        expr = expr_of("v", channels)
        self.prog.body.append(
            f"for (i = 0; i < {src.size}; ++i) {{ int ch = (i / {inner}) % {channels}; float v = {self.read(src, 'i')}; "
            f"(void)ch; {self.write(out, 'i', expr)} }}")

    def op_Relu(self, node):
        self._elementwise(node, lambda v, c: f"({v} > 0.0f ? {v} : 0.0f)")

    def op_Sigmoid(self, node):
        self._elementwise(node, lambda v, c: f"(1.0f / (1.0f + expf(-{v})))")

    def op_Tanh(self, node):
        self._elementwise(node, lambda v, c: f"tanhf({v})")

    def op_Elu(self, node):
        alpha = self.attrs(node).get("alpha", 1.0)
        self._elementwise(node, lambda v, c: f"({v} > 0.0f ? {v} : {_f(alpha)} * (expf({v}) - 1.0f))")

    def op_LeakyRelu(self, node):
        alpha = self.attrs(node).get("alpha", 0.01)
        self._elementwise(node, lambda v, c: f"({v} > 0.0f ? {v} : {_f(alpha)} * {v})")

    def op_Clip(self, node):
        lo = self.float_const(node.input[1]).item() if len(node.input) > 1 and node.input[1] else -3.4e38
        hi = self.float_const(node.input[2]).item() if len(node.input) > 2 and node.input[2] else 3.4e38
        self._elementwise(node, lambda v, c: f"({v} < {_f(lo)} ? {_f(lo)} : ({v} > {_f(hi)} ? {_f(hi)} : {v}))")

    def op_BatchNormalization(self, node):
        gamma, beta, mean, var = (self.float_const(n) for n in node.input[1:5])
        eps = self.attrs(node).get("epsilon", 1e-5)
        scale = (gamma / np.sqrt(var + np.float32(eps))).astype(np.float32)
        shift = (beta - mean * scale).astype(np.float32)
        sc, sh = self.const("bn_scale", "float", scale), self.const("bn_shift", "float", shift)
        self._elementwise(node, lambda v, c: f"({v} * {sc}[ch] + {sh}[ch])")

    def op_Add(self, node):
        if node.input[1] in self.init or node.input[1] in self.wq:  # + constant (bias)
            b = self.float_const(node.input[1]).ravel()
            bc = self.const("bias", "float", b)
            if b.size == 1:
                self._elementwise(node, lambda v, c: f"({v} + {bc}[0])")
            else:
                self._elementwise(node, lambda v, c: f"({v} + {bc}[ch])")
            return
        a, b = self.use(node.input[0]), self.use(node.input[1])
        if a.size != b.size:
            raise MnistlabError(f"Add '{node.name}' with broadcasting has no C kernel")
        out, _ = self.out_tensor(node, a.shape)
        self.prog.body.append(f"for (i = 0; i < {a.size}; ++i) {{ {self.write(out, 'i', self.read(a, 'i') + ' + ' + self.read(b, 'i'))} }}")

    def op_Softmax(self, node):
        src = self.use(node.input[0])
        out = self.new(node.output[0], src.shape, "f")
        self.prog.body.append(f"softmax_f({self._read_all(src)}, {self.ptr(out)}, {src.size});")

    def _read_all(self, src) -> str:
        if src.kind == "f":
            return self.ptr(src)
        tmp = self.new(src.name + "_deq", src.shape, "f")
        self.prog.body.append(f"for (i = 0; i < {src.size}; ++i) {self.ptr(tmp)}[i] = {self.read(src, 'i')};")
        return self.ptr(tmp)


def _f(x: float) -> str:
    """A float literal that round-trips float32 exactly."""
    v = float(np.float32(x))
    if np.isinf(v):
        return "3.402823466e+38f" if v > 0 else "-3.402823466e+38f"
    return repr(v) + ("f" if ("e" in repr(v) or "." in repr(v)) else ".0f")


# ---------------------------------------------------------------- C source

KERNELS = ("q8", "pixel_at", "conv_q", "conv_f", "dense_q", "dense_f", "maxpool_q", "maxpool_f", "softmax_f")


def c_file(name: str) -> str:
    """A C file shipped in the package (serve/c/): the kernels and the test harness."""
    from importlib.resources import files
    return files("mnistlab.serve").joinpath("c", name).read_text(encoding="utf-8")


def _c_array(name: str, ctype: str, values) -> str:
    if ctype == "float":
        items = [_f(v) for v in values]
    else:
        items = [str(int(v)) for v in values]
    rows = [", ".join(items[i:i + 16]) for i in range(0, len(items), 16)] or ["0"]
    return f"static const {ctype} {name}[{max(len(items), 1)}] = {{\n    " + ",\n    ".join(rows) + "\n};\n"


def generate(onnx_path, *, model_name: str = "model") -> tuple[str, str, Program]:
    """(model.h, model.c, program) for an ONNX model (fp32 or onnxruntime's int8 QDQ)."""
    import onnx
    b = _Builder(onnx.load(str(onnx_path)))
    prog = b.build()
    arena = plan_arena(prog.tensors)
    C, H, W = prog.input_shape
    out = b.out
    uses = {k for k in KERNELS if any(k + "(" in s for s in prog.body)}
    header = f"""/* {model_name}: generated by mnistlab (`mnistlab export RUN --format c`). Portable C99: no
   dynamic allocation; needs only <math.h> (expf, nearbyintf) and <stdint.h>. */
#ifndef MNISTLAB_MODEL_H
#define MNISTLAB_MODEL_H

#define MNISTLAB_INPUT_H {H}
#define MNISTLAB_INPUT_W {W}
#define MNISTLAB_INPUT_C {C}
#define MNISTLAB_CLASSES {prog.classes}
#define MNISTLAB_FLASH_BYTES {prog.flash_bytes}   /* weights + constants */
#define MNISTLAB_RAM_BYTES {arena}   /* peak working memory (one static arena), input buffer included */

/* pixels: H*W*C bytes, row-major, as stored in the dataset (0..255).
   probabilities: NULL or MNISTLAB_CLASSES floats. Returns the class index. */
int mnistlab_predict(const unsigned char *pixels, float *probabilities);

#endif
"""
    if prog.uses_float_input:
        uses.add("pixel_at")
    # the kernels this model calls, then kernels.c (which compiles in only those)
    lines = ['#include "model.h"', *(f"#define MNISTLAB_USE_{k.upper()}" for k in KERNELS if k in uses),
             "", c_file("kernels.c")]
    for name, ctype, values in prog.consts:
        lines.append(_c_array(name, ctype, values))
    words = max(1, -(-arena // 4))
    lines.append(f"static float arena_words[{words}];  /* float-aligned; used as bytes */")
    lines.append("#define ARENA ((unsigned char *)arena_words)")
    for t in prog.tensors:
        if t.base is None:
            lines.append(f"#define OFF_{id(t)} {t.offset}")
    lines.append("")
    lines.append("int mnistlab_predict(const unsigned char *pixels, float *probabilities) {")
    lines.append("    int i, best = 0;")
    if prog.uses_float_input:
        inp = b.t[b.input]
        lines.append(f"    for (i = 0; i < {inp.size}; ++i) {b.ptr(inp)}[i] = pixel_at(pixels, i, {H * W}, {C});")
    else:
        lines.append("    (void)0;")
    for stmt in prog.body:
        lines.append("    " + stmt)
    lines.append(f"    for (i = 1; i < {prog.classes}; ++i) if ({b.read(out, 'i')} > {b.read(out, 'best')}) best = i;")
    lines.append(f"    if (probabilities) for (i = 0; i < {prog.classes}; ++i) probabilities[i] = {b.read(out, 'i')};")
    lines.append("    return best;")
    lines.append("}")
    source = "\n".join(lines) + "\n"
    source = _rename_offsets(source, prog)
    return header, source, prog


def _rename_offsets(source: str, prog: Program) -> str:
    """OFF_<python id> -> OFF_<n>: stable, readable names."""
    for k, t in enumerate(t for t in prog.tensors if t.base is None):
        source = source.replace(f"OFF_{id(t)}", f"OFF_{k}")
    return source


# ---------------------------------------------------------------- compile and check

CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def find_compiler() -> str | None:
    for cc in ("cc", "gcc", "clang"):
        if shutil.which(cc):
            return cc
    return None


def compile_and_run(out_dir: Path, x_uint8: np.ndarray, cc: str) -> tuple[np.ndarray, float]:
    """Compile model.c with a test harness, classify x (N, H, W, C uint8); (predictions, us/image)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "harness.c").write_text(c_file("harness.c"))
        exe = tmp / "harness"
        cmd = [cc, *CFLAGS, "-I", str(out_dir), str(out_dir / "model.c"), str(tmp / "harness.c"), "-lm", "-o", str(exe)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            first = (res.stderr.strip().splitlines() or ["?"])[0]
            raise MnistlabError(f"the generated C did not compile with {cc}: {first}; please report this as a bug")
        x = np.ascontiguousarray(x_uint8, dtype=np.uint8)
        (tmp / "x.bin").write_bytes(x.tobytes())
        res = subprocess.run([str(exe), str(tmp / "x.bin"), str(tmp / "y.bin"), str(len(x))],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise MnistlabError(f"the compiled C model failed (exit {res.returncode}); please report this as a bug")
        raw = (tmp / "y.bin").read_bytes()
        preds = np.frombuffer(raw[:-8], dtype=np.int32)
        seconds = struct.unpack("d", raw[-8:])[0]
    return preds.astype(np.int64), 1e6 * seconds / max(len(x), 1)


@dataclass
class CExport:
    header: Path
    source: Path
    precision: str
    flash_bytes: int
    ram_bytes: int
    macs: int
    verified: bool = False
    n: int = 0
    accuracy: float | None = None         # the C code's
    fp32_accuracy: float | None = None    # PyTorch's, same images
    reference_agreement: float | None = None   # same class as onnxruntime's int8 (or fp32) model
    us_per_image: float | None = None
    ok: bool = True

    def lines(self, eval_set: str) -> list[str]:
        out = [f"wrote {self.header} and {self.source} ({self.precision}): flash {self.flash_bytes:,d} bytes, "
               f"RAM {self.ram_bytes:,d} bytes, {self.macs:,d} MACs"]
        if not self.verified:
            out.append("no C compiler found (cc, gcc, clang): the files are UNVERIFIED; to verify, install "
                       "one and run this export again")
            return out
        ref = "int8 onnxruntime" if self.precision == "int8" else "fp32 onnxruntime"
        out.append(f"C code on {self.n:,d} {eval_set} images: accuracy {self.accuracy:.2%} "
                   f"(fp32 model {self.fp32_accuracy:.2%}, {100 * (self.accuracy - self.fp32_accuracy):+.2f} pp); "
                   f"same class as the {ref} reference on {self.reference_agreement:.2%} (limit 99.9%); "
                   f"{self.us_per_image:.1f} µs/image on this CPU -> {'OK' if self.ok else 'FAILED'}")
        if self.precision == "int8" and self.fp32_accuracy - self.accuracy > 0.003:
            out.append(f"int8 loses {100 * (self.fp32_accuracy - self.accuracy):.2f} points against fp32 (limit 0.3): "
                       "retrain with `--set quantize_aware=true` (quantisation-aware training), then export again")
        return out


def export_c(model, out_dir, *, x_calib, x_eval, y_eval, precision: str = "int8", macs: int = 0,
             name: str = "model", log=print) -> CExport:
    """Write out_dir/model.h + model.c for a torch model (logits out), then verify them."""
    from mnistlab.serve.export import export_onnx, onnx_probabilities, quantize_int8, session, torch_probabilities
    if precision not in ("int8", "fp32"):
        raise MnistlabError(f"--precision {precision}: use int8 or fp32")
    out_dir = make_dirs(out_dir)
    x_eval = np.asarray(x_eval)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(model, Path(tmp) / "model.onnx", input_shape=tuple(x_eval.shape[1:]))
        ref = fp32 if precision == "fp32" else quantize_int8(fp32, Path(tmp) / "model.int8.onnx", np.asarray(x_calib))
        header, source, prog = generate(ref, model_name=name)
        h_path, c_path = out_dir / "model.h", out_dir / "model.c"
        _write(h_path, header)
        _write(c_path, source)
        result = CExport(h_path, c_path, precision, prog.flash_bytes, int(header.split("MNISTLAB_RAM_BYTES ")[1].split()[0]),
                         macs)
        cc = find_compiler()
        if cc is None:
            return result
        preds, us = compile_and_run(out_dir, x_eval, cc)
        ref_preds = onnx_probabilities(session(ref), x_eval).argmax(1)
    fp32_preds = torch_probabilities(model, x_eval).argmax(1)
    y = np.asarray(y_eval)
    result.verified, result.n, result.us_per_image = True, len(y), us
    result.accuracy = float((preds == y).mean())
    result.fp32_accuracy = float((fp32_preds == y).mean())
    result.reference_agreement = float((preds == ref_preds).mean())
    result.ok = result.reference_agreement >= 0.999 and abs(result.accuracy - result.fp32_accuracy) <= 0.003
    return result


def _write(path: Path, text: str) -> None:
    from mnistlab.io import write_atomic
    write_atomic(path, text)


def export_run_c(run_dir, out=None, *, precision: str = "int8", log=print) -> CExport:
    """`mnistlab export RUN --format c`: write RUN/c/model.{h,c} (or OUT/), compile and check them."""
    from mnistlab.models import resolve_spec, summary
    from mnistlab.serve.export import eval_split
    from mnistlab.runs import open_run
    if out and Path(out).suffix not in (".c", ".h"):  # checked before the run and its data load
        writable_dir(out, option("out", str(out)))
    run = open_run(run_dir)
    spec = resolve_spec(run.config["model"])
    check_spec(spec)
    splits = run.splits()
    x_eval, y_eval, eval_set = eval_split(splits, run_dir)
    out = Path(out) if out else Path(run.dir) / "c"
    if out.suffix in (".c", ".h"):
        raise MnistlabError(f"--out {out}: with --format c, --out is a folder (model.h and model.c go in it)")
    s = summary(spec)
    result = export_c(run.model, out, x_calib=splits.x_train, x_eval=x_eval, y_eval=y_eval,
                      precision=precision, macs=s.macs, name=spec.get("name", "model"))
    for line in result.lines(eval_set):
        log(line)
    planned = s.c_export(precision)
    if planned is not None and (planned.ram, planned.flash) != (result.ram_bytes, result.flash_bytes):
        # the budgets were checked against the prediction: a difference must not pass unseen
        log(f"`mnistlab summary` predicted RAM {planned.ram:,} and flash {planned.flash:,} bytes for this model, "
            f"the C code has {result.ram_bytes:,} and {result.flash_bytes:,}: please report this as a bug")
    return result
