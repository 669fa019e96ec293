"""Torch modules that behave like their Keras namesakes, and `build(spec)`.

Keras fidelity that matters for training like the notebooks:
- `same` padding as TF computes it, the odd pixel going to the bottom/right, max pooling
  padding with -inf and average pooling not counting the padding;
- glorot_uniform kernels and zero biases by default, he_normal (truncated, like Keras);
- BatchNormalization momentum 0.99 / epsilon 1e-3 (torch momentum = 1 - Keras momentum),
  its moving variance updated with the biased batch variance as Keras does (torch uses the
  unbiased one, n/(n-1) larger);
- Flatten in Keras (H, W, C) order, so a dense layer's weights line up with Keras's.
Tensors are NCHW inside; shapes in specs and summaries are (H, W, C) like Keras prints them.
"""
from __future__ import annotations

import contextlib
import copy
import math
import threading

import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.models import fused
from mnistlab.models.spec import Step, is_chain, is_unit_rescaling, pair, plan, resolve_spec, window
from mnistlab.models.costs import needs_projection

# Keras's truncated normal (cut at 2 std) has a smaller std than asked; it rescales by this
_TRUNC_STD = 0.87962566103423978


def init_kernel(w: torch.Tensor, name: str, fan_in: int, fan_out: int) -> None:
    """Keras kernel initializers, with the fans Keras would compute for this kernel."""
    with torch.no_grad():
        if name == "glorot_uniform":
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            w.uniform_(-limit, limit)
        elif name == "he_uniform":
            limit = math.sqrt(6.0 / fan_in)
            w.uniform_(-limit, limit)
        else:
            var = 2.0 / (fan_in + fan_out) if name == "glorot_normal" else 2.0 / fan_in  # he_normal
            std = math.sqrt(var) / _TRUNC_STD
            nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std)


def _conv_fans(w: torch.Tensor) -> tuple[int, int]:
    # torch (out, in, kh, kw) and Keras (kh, kw, in, out) give the same fans for a plain conv
    field = w[0, 0].numel()
    return w.shape[1] * field, w.shape[0] * field


def activation(name: str) -> nn.Module:
    return {
        "linear": nn.Identity, "relu": nn.ReLU, "elu": nn.ELU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
        "leaky_relu": lambda: nn.LeakyReLU(0.3),  # keras.layers.LeakyReLU default alpha
        "gelu": nn.GELU,  # Keras gelu default: exact (approximate=False)
        "softmax": lambda: nn.Softmax(dim=1),  # Keras softmax is over the last axis = channels
    }[name]()


def _same_pads(in_shape, kernel, strides, padding) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) as F.pad wants them."""
    (kh, kw), (sh, sw) = pair(kernel), pair(strides)
    _, top, bottom = window(in_shape[0], kh, sh, padding)
    _, left, right = window(in_shape[1], kw, sw, padding)
    return left, right, top, bottom


class Conv2d(nn.Conv2d):
    """nn.Conv2d with Keras padding; symmetric pads use the built-in path (faster)."""

    def __init__(self, in_shape, filters, kernel, strides, padding, *, groups=1, bias=True,
                 l2=0.0, init="glorot_uniform", fans=None):
        left, right, top, bottom = _same_pads(in_shape, kernel, strides, padding)
        symmetric = left == right and top == bottom
        super().__init__(in_shape[2], filters, pair(kernel), pair(strides),
                         padding=(top, left) if symmetric else 0, groups=groups, bias=bias)
        self.extra_pad = None if symmetric else (left, right, top, bottom)
        self.l2 = float(l2)  # Keras kernel_regularizer=l2(l2); read by l2_penalty()
        init_kernel(self.weight, init, *(fans or _conv_fans(self.weight)))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x):
        if self.extra_pad is not None:
            x = F.pad(x, self.extra_pad)
        return super().forward(x)


class Pool2d(nn.Module):
    """Keras MaxPooling2D / AveragePooling2D, including `same` on odd sizes (11 -> 6)."""

    def __init__(self, kind, in_shape, pool, strides, padding):
        super().__init__()
        self.kind, self.pool, self.strides = kind, pair(pool), pair(strides)
        pads = _same_pads(in_shape, pool, strides, padding)
        self.pads = pads if any(pads) else None

    def forward(self, x):
        if self.kind == "max":
            if self.pads is not None:
                x = F.pad(x, self.pads, value=-math.inf)  # padding never wins a max
            return F.max_pool2d(x, self.pool, self.strides)
        if self.pads is None:
            return F.avg_pool2d(x, self.pool, self.strides)
        # average over the real pixels only, as TF does: sum / count of non-padding cells
        ones = torch.ones_like(x[:1, :1])
        total = F.avg_pool2d(F.pad(x, self.pads), self.pool, self.strides)
        count = F.avg_pool2d(F.pad(ones, self.pads), self.pool, self.strides)
        return total / count

    def extra_repr(self):
        return f"{self.kind}, pool={self.pool}, strides={self.strides}, pads={self.pads}"


class SeparableConv2d(nn.Module):
    """Keras SeparableConv2D: depthwise k x k (depth_multiplier) then pointwise 1x1 with bias."""

    def __init__(self, in_shape, a):
        super().__init__()
        k, c, dm = pair(a["kernel"]), in_shape[2], a["depth_multiplier"]
        # Keras's depthwise kernel is (kh, kw, C, dm): fan_in = kh*kw*C, fan_out = kh*kw*dm
        self.depthwise = Conv2d(in_shape, c * dm, k, a["strides"], a["padding"], groups=c, bias=False,
                                l2=a["l2"], init=a["kernel_initializer"], fans=(k[0] * k[1] * c, k[0] * k[1] * dm))
        self.pointwise = Conv2d((1, 1, c * dm), a["filters"], 1, 1, "valid", bias=a["use_bias"],
                                l2=a["l2"], init=a["kernel_initializer"])

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class _KerasMovingStats:
    """Training-mode forward of keras.layers.BatchNormalization for a torch BatchNorm.

    Keras: moving = moving * momentum + batch * (1 - momentum) with the BIASED batch variance
    (ops.moments); torch's own update multiplies the variance by n/(n-1). Normalising is the
    same in both (biased batch statistics), so only the update is done here. Parameters,
    buffers and state_dict keys are torch's, so checkpoints, resume and the ONNX export
    (eval mode: running statistics only) are unchanged.
    """

    def forward(self, x):
        if not (self.training and self.track_running_stats):
            return super().forward(x)
        self._check_input_dim(x)
        with torch.no_grad():
            dims = [0] + list(range(2, x.dim()))  # every axis but the channels
            var, mean = torch.var_mean(x.detach().float(), dim=dims, correction=0)
            # lerp(r, b, 1 - keras_momentum) = r * keras_momentum + b * (1 - keras_momentum)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)
            self.num_batches_tracked.add_(1)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


class KerasBatchNorm2d(_KerasMovingStats, nn.BatchNorm2d):
    """BatchNormalization after a conv (NCHW)."""


class KerasBatchNorm1d(_KerasMovingStats, nn.BatchNorm1d):
    """BatchNormalization after Dense/Flatten (N, C)."""


def batchnorm(shape, a) -> nn.Module:
    cls = KerasBatchNorm2d if len(shape) == 3 else KerasBatchNorm1d
    return cls(shape[-1], eps=a["epsilon"], momentum=1.0 - a["momentum"])


_dropout_rng = threading.local()


@contextlib.contextmanager
def dropout_generator(generator: torch.Generator):
    """Dropout masks in this thread come from `generator` (the batch-split workers each own
    one, so their masks do not depend on which thread reaches torch's global generator first)."""
    _dropout_rng.generator = generator
    try:
        yield
    finally:
        _dropout_rng.generator = None


class Dropout(nn.Dropout):
    """nn.Dropout with a cheaper mask: uniform draws >= rate, from torch's global generator
    (or this thread's `dropout_generator`).

    Same semantics (keep with probability 1 - rate, scale by 1 / (1 - rate)); CPU bernoulli_
    is slow (the layer's forward + backward timed in docs/training.md, Speed).
    """

    def forward(self, x):
        if not self.training or self.p == 0 or self.p >= 1:
            return F.dropout(x, self.p, self.training)
        generator = getattr(_dropout_rng, "generator", None)
        if generator is None:
            draws = torch.rand_like(x)
        else:
            draws = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        keep = (draws >= self.p).to(x.dtype).mul_(1.0 / (1.0 - self.p))
        return x * keep


class Flatten(nn.Module):
    """Keras Flatten: (N, C, H, W) -> (N, H*W*C) in (H, W, C) order."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).flatten(1) if x.dim() == 4 else x.flatten(1)


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


class ResidualBlock(nn.Module):
    """Notebook 004's block (resnet_layer with conv_first=False):
    y = conv(ReLU(BN(x)), strides); y = conv(BN(y)); x = proj(x) if the shape changes; ReLU(x + y)."""

    def __init__(self, step: Step):
        super().__init__()
        a, inp, out = step.args, step.in_shape, step.out_shape
        conv = dict(l2=a["l2"], init=a["kernel_initializer"])
        bn = {"momentum": 0.99, "epsilon": 1e-3}
        self.bn1, self.act1 = batchnorm(inp, bn), activation(a["activation"])
        self.conv1 = Conv2d(inp, a["filters"], a["kernel"], a["strides"], "same", **conv)
        self.bn2 = batchnorm(out, bn)
        self.conv2 = Conv2d(out, a["filters"], a["kernel"], 1, "same", **conv)
        self.proj = (Conv2d(inp, a["filters"], 1, a["strides"], "same", **conv)
                     if needs_projection(a, inp) else nn.Identity())
        self.act = activation(a["activation"])

    def forward(self, x):
        y = self.conv1(self.act1(self.bn1(x)))
        y = self.conv2(self.bn2(y))
        return self.act(self.proj(x) + y)


class Rescale(nn.Module):
    """A first `rescaling` layer on mnistlab's [0, 1] input: pixel * scale + offset, pixel = 255 * x."""

    def __init__(self, a):
        super().__init__()
        self.factor, self.offset = 255.0 * a["scale"], a["offset"]

    def forward(self, x):
        return x * self.factor + self.offset


class Linear(nn.Linear):
    def __init__(self, n_in, a):
        super().__init__(n_in, a["units"], bias=a["use_bias"])
        self.l2 = float(a["l2"])
        init_kernel(self.weight, a["kernel_initializer"], n_in, a["units"])
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class Net(nn.Sequential):
    """The built network: NCHW float in [0, 1] -> logits. `.spec` is the resolved spec.

    With `kernels` "fused" (`use_kernels`: the run's `kernels` setting), each max pooling with
    the ReLU and dropout after it (and each dropout after a ReLU, or alone) runs as one fused
    native kernel (models/fused.py) in a CPU training step where it can; with "torch" (a
    built model's default) the modules run. The modules, parameters and state_dict are the
    same either way."""

    kernels = "torch"

    def __init__(self, modules, spec: dict):
        super().__init__(*modules)
        self.spec = spec
        self.input_shape = tuple(spec["input_shape"])  # (H, W, C)

    def forward(self, x):
        if self.kernels != "fused" or x.device.type != "cpu":
            return super().forward(x)
        plan = _fused_plan(self)
        if not plan:
            return super().forward(x)
        mods = list(self._modules.values())
        for start, stop, t in plan_steps(self, plan):
            y = None
            if t is not None and fused.usable(x):
                training = mods[stop - 1].training if t.rate > 0 else False
                y = fused.tail(x, t, training=training, generator=getattr(_dropout_rng, "generator", None))
            if y is None:
                for m in mods[start:stop]:
                    x = m(x)
            else:
                x = y
        return x


KERNEL_PATHS = ("torch", "fused")


def use_kernels(model: nn.Module, path: str) -> None:
    """Which path `model`'s CPU training steps take through its max-pool/ReLU/dropout spans:
    "fused" (the native kernels) or "torch" (the modules). A module other than a built chain
    has no such spans and is left alone (a GraphNet runs its steps itself)."""
    if path not in KERNEL_PATHS:
        raise ValueError(f"kernels path {path!r}: one of {KERNEL_PATHS}")
    if isinstance(model, Net) and not isinstance(model, GraphNet):
        model.kernels = path


def fusable(model: nn.Module) -> bool:
    """Whether a CPU training step of `model` has a span the fused kernels take: a built chain
    with a max pool (window up to fused.MAX_WINDOW cells) or a dropout span whose input fits
    the kernels' rows (fused.fits). The shapes come from one image of zeros through a copy
    in eval mode, so the model, its statistics and the RNG are untouched."""
    if not isinstance(model, Net) or isinstance(model, GraphNet):
        return False
    net = copy.deepcopy(model).eval()
    spans = _fused_plan(net)
    if not spans:
        return False
    h, w, c = net.input_shape
    p = next(net.parameters(), None)
    x = torch.zeros(1, c, h, w, device=p.device if p is not None else "cpu")
    mods = list(net)
    with torch.no_grad():
        for start, stop, t in plan_steps(net, spans):
            if t is not None and fused.fits(x.shape, t):
                return True
            for m in mods[start:stop]:
                x = m(x)
    return False


def _hooked(m: nn.Module) -> bool:
    return bool(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks
                or getattr(m, "_backward_pre_hooks", None))


def _fused_plan(net: Net) -> list:
    """[(start, stop, fused.Tail)] for the fusable spans of net: max pool -> ReLU -> dropout,
    or a part of it that has the pool or the dropout. Cached per set of modules."""
    mods = list(net)
    key = tuple(map(id, mods)) + tuple(m.training for m in mods)
    cached = net.__dict__.get("_fused_cache")
    if cached is not None and cached[0] == key:
        return cached[1]
    spans, i = [], 0
    while i < len(mods):
        j, kw = i, {}
        m = mods[j]
        if isinstance(m, Pool2d) and m.kind == "max" and not _hooked(m):
            (kh, kwid), (sh, sw) = m.pool, m.strides
            if kh * kwid <= fused.MAX_WINDOW:
                kw.update(kh=kh, kw=kwid, sh=sh, sw=sw, pads=m.pads or (0, 0, 0, 0))
                j += 1
            elif net.kernels == "fused":
                fused.warn_once(f"max pooling {kh}x{kwid} is larger than the fused kernels take "
                                f"({fused.MAX_WINDOW} cells); it runs on torch's ops, which are slower on CPU")
        if j < len(mods) and type(mods[j]) is nn.ReLU and not _hooked(mods[j]):
            kw["relu"], j = True, j + 1
        if j < len(mods) and type(mods[j]) is Dropout and 0 < mods[j].p < 1 and not _hooked(mods[j]):
            kw["rate"], j = float(mods[j].p), j + 1
        if "kh" in kw or "rate" in kw:
            spans.append((i, j, fused.Tail(**kw)))
            i = j
        else:
            i += 1
    net.__dict__["_fused_cache"] = (key, spans)
    return spans


def plan_steps(net: Net, spans: list):
    """(start, stop, Tail or None) covering every module of net in order."""
    at = 0
    for start, stop, t in spans:
        if start > at:
            yield at, start, None
        yield start, stop, t
        at = stop
    if at < len(net):
        yield at, len(net), None


class GraphNet(Net):
    """A spec with named inputs (Keras' functional API): the same flat list of modules as Net
    (so state_dict keys look alike), run step by step, each step reading the steps it names."""

    def __init__(self, modules, spec: dict, routes: list[tuple]):
        super().__init__(modules, spec)
        self.routes = routes  # per step: (type, first module, end module, sources)

    def forward(self, x):
        mods = list(self._modules.values())
        outs = []
        for kind, a, b, sources in self.routes:
            ins = [x if s < 0 else outs[s] for s in sources]
            if kind == "add":
                y = ins[0]
                for t in ins[1:]:
                    y = y + t
            elif kind == "concatenate":
                y = torch.cat(ins, dim=1)  # channels: dim 1 in NCHW and in (N, features)
            else:
                y = ins[0]
                for m in mods[a:b]:
                    y = m(y)
            outs.append(y)
        return outs[-1]


def _modules(step: Step, last: bool) -> list[nn.Module]:
    a, kind, inp = step.args, step.type, step.in_shape
    act = a.get("activation", "linear")
    if last and act == "softmax":
        act = "linear"  # the module returns logits; the loss and the predictors apply softmax
    if kind == "conv2d":
        core = Conv2d(inp, a["filters"], a["kernel"], a["strides"], a["padding"], bias=a["use_bias"],
                      l2=a["l2"], init=a["kernel_initializer"])
    elif kind == "separable_conv2d":
        core = SeparableConv2d(inp, a)
    elif kind == "dense":
        core = Linear(inp[0], a)
    elif kind in ("maxpool2d", "avgpool2d"):
        return [Pool2d(kind[:3], inp, a["pool"], a["strides"], a["padding"])]
    elif kind == "dropout":
        return [Dropout(a["rate"])]
    elif kind == "flatten":
        return [Flatten()]
    elif kind == "batchnorm":
        return [batchnorm(inp, a)]
    elif kind == "global_avg_pool":
        return [GlobalAvgPool()]
    elif kind == "rescaling":
        return [] if is_unit_rescaling(a) else [Rescale(a)]
    elif kind in ("add", "concatenate"):
        return []  # GraphNet merges its inputs
    elif kind == "residual_block":
        return [ResidualBlock(step)]
    elif kind == "activation":
        return [] if act == "linear" else [activation(act)]
    else:  # pragma: no cover - spec validation rejects unknown types first
        raise AssertionError(kind)
    return [core] if act == "linear" else [core, activation(act)]


def build(spec) -> Net:
    """Zoo name, YAML path or spec dict -> a torch module (float NCHW in [0, 1] -> logits).

    Initialised like Keras from torch's global RNG: seed with torch.manual_seed first.
    """
    spec = resolve_spec(spec)
    steps = plan(spec)
    modules, routes = [], []
    for k, step in enumerate(steps):
        group = _modules(step, last=k == len(steps) - 1)
        routes.append((step.type, len(modules), len(modules) + len(group), step.sources))
        modules += group
    if not is_chain(steps):
        return GraphNet(modules, spec, routes)
    return Net(_pool_before_relu(modules), spec)


def _pool_before_relu(modules: list[nn.Module]) -> list[nn.Module]:
    """ReLU then max pooling -> max pooling then ReLU: the same forward and gradients (ReLU
    is monotone, and where a window's max is <= 0 both orders pass no gradient), but ReLU
    and its backward run on the pooled, smaller map (timed in docs/training.md, Speed).
    Neither module has weights, so the state_dict keys do not change."""
    out = list(modules)
    for i in range(len(out) - 1):
        if type(out[i]) is nn.ReLU and isinstance(out[i + 1], Pool2d) and out[i + 1].kind == "max":
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """Keras kernel_regularizer: sum over modules with an `l2` factor of l2 * sum(weight**2)."""
    terms = [m.l2 * m.weight.pow(2).sum() for m in model.modules()
             if isinstance(getattr(m, "l2", None), float) and m.l2 > 0 and getattr(m, "weight", None) is not None]
    if terms:
        return torch.stack(terms).sum()
    p = next(model.parameters(), None)
    return torch.zeros((), device=p.device if p is not None else None)
