"""Optimisers with Keras defaults and Keras update rules.

torch's built-in optimisers differ from Keras in small ways that change the numbers a
notebook reports (RMSprop eps outside the sqrt, Adam's eps applied after bias correction,
SGD momentum folded into the gradient instead of the velocity, different defaults), so
the update rules here follow Keras 3's `keras/src/optimizers/*.py` (same as tf.keras >= 2.3):

  sgd       v = momentum*v - lr*g;  w += v            (nesterov: w += momentum*v - lr*g)
  rmsprop   s = rho*s + (1-rho)*g^2;  w -= lr*g / sqrt(s + eps)      (eps INSIDE the sqrt;
            standalone Keras <= 2.2 had it outside: lr*g / (sqrt(s) + eps))
            momentum > 0: m = momentum*m + lr*g/sqrt(s+eps); w -= m
  adam      m += (g-m)*(1-b1); v += (g^2-v)*(1-b2)
            w -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)   ("epsilon hat")
  adamw     adam plus decoupled decay before the update: w -= w*weight_decay*lr
  adadelta  a = rho*a + (1-rho)*g^2; d = -sqrt(u+eps)/sqrt(a+eps)*g;
            u = rho*u + (1-rho)*d^2; w += lr*d

Every optimiser also takes Keras 2's time-based `decay` (lr_t = lr / (1 + decay*iterations),
iterations counting the steps already taken, as in `optimizer_v2._decayed_lr`) and Keras 3's
decoupled `weight_decay`. Updates use torch's multi-tensor `_foreach_*` kernels: one kernel
per operation for all weights instead of one per weight, which matters for small models.
"""
from __future__ import annotations

import math

import torch

# name -> Keras 3 default arguments (plus Keras 2's `decay`). `lr` is Keras' learning_rate.
DEFAULTS: dict[str, dict] = {
    "sgd": {"lr": 0.01, "momentum": 0.0, "nesterov": False},
    "rmsprop": {"lr": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False},
    "adam": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False},
    "adamw": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False,
              "weight_decay": 0.004},
    "adadelta": {"lr": 0.001, "rho": 0.95, "epsilon": 1e-7},
}
for _d in DEFAULTS.values():
    _d.setdefault("weight_decay", 0.0)
    _d["decay"] = 0.0


def check_optimizer(cfg: dict | None) -> dict:
    """A recipe's `optimizer:` section ({name, lr, ...} with the name's defaults merged in),
    every argument checked against Keras' ranges: one MnistlabError line for the first bad one."""
    from mnistlab.errors import MnistlabError
    from mnistlab.train.checks import flag, number
    if cfg is None:
        raise MnistlabError(f"'optimizer' needs a name: one of {', '.join(DEFAULTS)}")
    out = dict(cfg)
    for key, value in cfg.items():
        where = f"optimizer.{key}"
        if key in ("nesterov", "amsgrad", "centered"):
            out[key] = flag(value, where)
        elif key in ("rho", "momentum", "beta_1", "beta_2"):  # decay rates of running averages
            out[key] = number(value, where, lo=0.0, hi=1.0)
            if out[key] == 1.0 and key != "momentum":
                raise MnistlabError(f"'{where}' must be below 1 (an average that never forgets), got {value!r}")
        elif key == "epsilon":
            out[key] = number(value, where, above=0.0)
        elif key in ("lr", "decay", "weight_decay"):
            out[key] = number(value, where, lo=0.0)
    return out


def _plain(method):
    return getattr(method, "__wrapped__", method)


class KerasOptimizer(torch.optim.Optimizer):
    """Shared Keras bookkeeping: `iterations`, time-based decay, decoupled weight decay."""

    def __init__(self, params, **hyper):
        hyper.setdefault("iterations", 0)  # kept in the group so state_dict() saves it
        super().__init__(params, hyper)

    # torch wraps these in torch._disable_dynamo, whose first call imports torch._dynamo, a
    # large part of a short run's start-up (docs/training.md, "How it got there"). These
    # optimisers are never traced, so use the plain functions underneath.
    add_param_group = _plain(torch.optim.Optimizer.add_param_group)
    zero_grad = _plain(torch.optim.Optimizer.zero_grad)
    state_dict = _plain(torch.optim.Optimizer.state_dict)
    load_state_dict = _plain(torch.optim.Optimizer.load_state_dict)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            lr = group["lr"] / (1.0 + group["decay"] * group["iterations"])
            group["iterations"] += 1
            if group["weight_decay"]:
                torch._foreach_mul_(params, 1.0 - lr * group["weight_decay"])
            grads = [p.grad for p in params]
            states = [self.state[p] for p in params]
            self._update(params, grads, states, lr, group["iterations"], group)

    def current_lr(self) -> float:
        """The learning rate the next step will use (after time-based decay)."""
        g = self.param_groups[0]
        return g["lr"] / (1.0 + g["decay"] * g["iterations"])

    @staticmethod
    def _slot(states, key, params):
        for s, p in zip(states, params):
            if key not in s:
                s[key] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return [s[key] for s in states]

    def _update(self, params, grads, states, lr, t, group):
        raise NotImplementedError


class SGD(KerasOptimizer):
    def _update(self, params, grads, states, lr, t, group):
        mu = group["momentum"]
        if not mu:
            torch._foreach_add_(params, grads, alpha=-lr)
            return
        v = self._slot(states, "velocity", params)
        torch._foreach_mul_(v, mu)
        torch._foreach_add_(v, grads, alpha=-lr)
        if group["nesterov"]:
            torch._foreach_add_(params, v, alpha=mu)
            torch._foreach_add_(params, grads, alpha=-lr)
        else:
            torch._foreach_add_(params, v)


class RMSprop(KerasOptimizer):
    def _update(self, params, grads, states, lr, t, group):
        rho, eps = group["rho"], group["epsilon"]
        s = self._slot(states, "velocity", params)
        torch._foreach_mul_(s, rho)
        torch._foreach_addcmul_(s, grads, grads, value=1 - rho)
        if group["centered"]:
            a = self._slot(states, "average_gradient", params)
            torch._foreach_lerp_(a, grads, 1 - rho)
            denom = torch._foreach_addcmul(s, a, a, value=-1.0)
            torch._foreach_add_(denom, eps)
        else:
            denom = torch._foreach_add(s, eps)
        torch._foreach_sqrt_(denom)
        if group["momentum"]:
            m = self._slot(states, "momentum", params)
            torch._foreach_mul_(m, group["momentum"])
            torch._foreach_addcdiv_(m, grads, denom, value=lr)
            torch._foreach_sub_(params, m)
        else:
            torch._foreach_addcdiv_(params, grads, denom, value=-lr)


class Adam(KerasOptimizer):
    def _update(self, params, grads, states, lr, t, group):
        b1, b2, eps = group["beta_1"], group["beta_2"], group["epsilon"]
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        m = self._slot(states, "momentum", params)
        v = self._slot(states, "velocity", params)
        torch._foreach_lerp_(m, grads, 1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
        if group["amsgrad"]:
            vhat = self._slot(states, "velocity_hat", params)
            torch._foreach_maximum_(vhat, v)
            v = vhat
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, m, denom, value=-alpha)


class AdamW(Adam):
    """Adam with Keras' decoupled weight decay (default 0.004), applied in step()."""


class Adadelta(KerasOptimizer):
    def _update(self, params, grads, states, lr, t, group):
        rho, eps = group["rho"], group["epsilon"]
        a = self._slot(states, "accumulated_grad", params)
        u = self._slot(states, "accumulated_delta_var", params)
        torch._foreach_mul_(a, rho)
        torch._foreach_addcmul_(a, grads, grads, value=1 - rho)
        num = torch._foreach_add(u, eps)
        torch._foreach_sqrt_(num)
        den = torch._foreach_add(a, eps)
        torch._foreach_sqrt_(den)
        delta = torch._foreach_div(num, den)
        torch._foreach_mul_(delta, grads)  # delta = -d in the formula above
        torch._foreach_mul_(u, rho)
        torch._foreach_addcmul_(u, delta, delta, value=1 - rho)
        torch._foreach_add_(params, delta, alpha=-lr)


CLASSES = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adadelta": Adadelta}


def make_optimizer(params, config: dict) -> KerasOptimizer:
    """Build from a validated recipe `optimizer:` dict ({name, lr, ...Keras arguments})."""
    cfg = dict(config)
    name = cfg.pop("name")
    return CLASSES[name](params, **{**DEFAULTS[name], **cfg})
