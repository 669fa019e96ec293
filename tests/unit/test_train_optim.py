"""Keras update rules, checked against single steps computed by hand (scalar math)."""
import copy
import math

import pytest
import torch

from mnistlab.train.optim import make_optimizer

W0 = [1.0, -2.0]
G = [[0.5, 0.1], [-0.3, 0.2]]  # the gradients of step 1 and step 2


def run_steps(config, steps=2):
    w = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    opt = make_optimizer([w], config)
    out = []
    for g in G[:steps]:
        w.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append(w.detach().tolist())
    return out


def close(a, b):
    assert a == pytest.approx(b, rel=1e-12, abs=1e-15)


def test_sgd_plain_and_keras_time_decay():
    lr, decay = 0.1, 0.5
    got = run_steps({"name": "sgd", "lr": lr, "decay": decay})
    w = list(W0)
    for t, g in enumerate(G):  # Keras 2: lr / (1 + decay * iterations), iterations from 0
        lr_t = lr / (1 + decay * t)
        w = [wi - lr_t * gi for wi, gi in zip(w, g)]
        close(got[t], w)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_keras_velocity(nesterov):
    lr, mu = 0.1, 0.9
    got = run_steps({"name": "sgd", "lr": lr, "momentum": mu, "nesterov": nesterov})
    w, v = list(W0), [0.0, 0.0]
    for t, g in enumerate(G):
        v = [mu * vi - lr * gi for vi, gi in zip(v, g)]
        if nesterov:
            w = [wi + mu * vi - lr * gi for wi, vi, gi in zip(w, v, g)]
        else:
            w = [wi + vi for wi, vi in zip(w, v)]
        close(got[t], w)


def test_rmsprop_eps_inside_sqrt_keras_defaults():
    got = run_steps({"name": "rmsprop", "lr": 0.01, "epsilon": 0.1})  # big eps makes placement visible
    w, s = list(W0), [0.0, 0.0]
    for t, g in enumerate(G):
        s = [0.9 * si + 0.1 * gi * gi for si, gi in zip(s, g)]  # Keras default rho 0.9
        w = [wi - 0.01 * gi / math.sqrt(si + 0.1) for wi, si, gi in zip(w, s, g)]
        close(got[t], w)


def test_rmsprop_momentum():
    got = run_steps({"name": "rmsprop", "lr": 0.01, "momentum": 0.5})
    w, s, m = list(W0), [0.0, 0.0], [0.0, 0.0]
    for t, g in enumerate(G):
        s = [0.9 * si + 0.1 * gi * gi for si, gi in zip(s, g)]
        m = [0.5 * mi + 0.01 * gi / math.sqrt(si + 1e-7) for mi, si, gi in zip(m, s, g)]
        w = [wi - mi for wi, mi in zip(w, m)]
        close(got[t], w)


@pytest.mark.parametrize("name,wd", [("adam", 0.0), ("adamw", 0.004)])
def test_adam_epsilon_hat_and_decoupled_weight_decay(name, wd):
    lr, eps = 0.01, 0.01  # big eps: Keras adds it to sqrt(v) BEFORE bias correction
    got = run_steps({"name": name, "lr": lr, "epsilon": eps})
    w, m, v = list(W0), [0.0, 0.0], [0.0, 0.0]
    for t, g in enumerate(G, start=1):
        w = [wi - wi * wd * lr for wi in w]
        m = [0.9 * mi + 0.1 * gi for mi, gi in zip(m, g)]
        v = [0.999 * vi + 0.001 * gi * gi for vi, gi in zip(v, g)]
        alpha = lr * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        w = [wi - alpha * mi / (math.sqrt(vi) + eps) for wi, mi, vi in zip(w, m, v)]
        close(got[t - 1], w)


def test_adadelta_old_keras_default_lr_1():
    got = run_steps({"name": "adadelta", "lr": 1.0})
    w, a, u = list(W0), [0.0, 0.0], [0.0, 0.0]
    rho, eps = 0.95, 1e-7
    for t, g in enumerate(G):
        a = [rho * ai + (1 - rho) * gi * gi for ai, gi in zip(a, g)]
        d = [-math.sqrt(ui + eps) / math.sqrt(ai + eps) * gi for ui, ai, gi in zip(u, a, g)]
        u = [rho * ui + (1 - rho) * di * di for ui, di in zip(u, d)]
        w = [wi + 1.0 * di for wi, di in zip(w, d)]
        close(got[t], w)


def test_state_dict_round_trip_continues_identically():
    w1 = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    opt1 = make_optimizer([w1], {"name": "adam", "lr": 0.01, "decay": 0.1})
    w1.grad = torch.tensor(G[0], dtype=torch.float64)
    opt1.step()
    w2 = w1.detach().clone().requires_grad_(True)
    opt2 = make_optimizer([w2], {"name": "adam", "lr": 0.01, "decay": 0.1})
    opt2.load_state_dict(copy.deepcopy(opt1.state_dict()))  # as if read from disk
    for w, opt in ((w1, opt1), (w2, opt2)):
        w.grad = torch.tensor(G[1], dtype=torch.float64)
        opt.step()
    assert torch.equal(w1, w2)
    assert opt2.param_groups[0]["iterations"] == 2
