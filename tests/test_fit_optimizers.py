"""The optimisers of `cgraph fit` step by step: against the update formulas of
PyTorch's documentation (the algorithm boxes of torch.optim, written here in
NumPy), against torch.optim itself where torch is installed, and the
schedules and gradient clipping likewise."""
from __future__ import annotations

import math

import numpy as np
import pytest

from cgraph.train.loop import _clip
from cgraph.train.optimizers import OPTIMIZERS, make_optimizer
from cgraph.train.schedules import lr_at

RTOL = 1e-10
A = np.random.default_rng(3).normal(size=(4, 3))
Y = np.random.default_rng(4).normal(size=4)


def grads_of(params):
    """Gradients of 0.5·|A w − y|² + 0.1·Σ b⁴ (they depend on the params, so the
    whole trajectory is compared, not one step)."""
    w, b = params["w"], params["b"]
    return {"w": A.T @ (A @ w - Y), "b": 0.4 * b ** 3 + 0.3}


def start():
    return {"w": np.array([0.5, -0.2, 0.1]), "b": np.array([[1.0, -2.0], [0.5, 0.0]])}


# ---------------------------------------------------- the documented formulas
def doc_sgd(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    buf = {}

    def step(t, p, g, name):
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            buf[name] = g if t == 1 else momentum * buf[name] + (1 - dampening) * g
            g = g + momentum * buf[name] if nesterov else buf[name]
        return p - lr * g
    return step


def doc_adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False):
    m, v, vmax = {}, {}, {}
    b1, b2 = betas

    def step(t, p, g, name):
        if decoupled:
            p = p - lr * weight_decay * p
        elif weight_decay:
            g = g + weight_decay * p
        m[name] = b1 * m.get(name, 0) + (1 - b1) * g
        v[name] = b2 * v.get(name, 0) + (1 - b2) * g * g
        mhat = m[name] / (1 - b1 ** t)
        if amsgrad:
            vmax[name] = np.maximum(vmax.get(name, 0), v[name])
            vhat = vmax[name] / (1 - b2 ** t)
        else:
            vhat = v[name] / (1 - b2 ** t)
        return p - lr * mhat / (np.sqrt(vhat) + eps)
    return step


def doc_rmsprop(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    v, gav, buf = {}, {}, {}

    def step(t, p, g, name):
        if weight_decay:
            g = g + weight_decay * p
        v[name] = alpha * v.get(name, 0) + (1 - alpha) * g * g
        vt = v[name]
        if centered:
            gav[name] = alpha * gav.get(name, 0) + (1 - alpha) * g
            vt = vt - gav[name] ** 2
        if momentum > 0:
            buf[name] = momentum * buf.get(name, 0) + g / (np.sqrt(vt) + eps)
            return p - lr * buf[name]
        return p - lr * g / (np.sqrt(vt) + eps)
    return step


CASES = [
    ("sgd", {"lr": 0.05}, lambda: doc_sgd(0.05)),
    ("sgd", {"lr": 0.05, "momentum": 0.9}, lambda: doc_sgd(0.05, momentum=0.9)),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01},
     lambda: doc_sgd(0.05, 0.8, 0.3, 0.01)),
    ("sgd", {"lr": 0.02, "momentum": 0.9, "nesterov": True},
     lambda: doc_sgd(0.02, 0.9, nesterov=True)),
    ("adam", {}, lambda: doc_adam(1e-3)),
    ("adam", {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05},
     lambda: doc_adam(0.1, (0.8, 0.99), 1e-6, 0.05)),
    ("adam", {"lr": 0.1, "amsgrad": True}, lambda: doc_adam(0.1, amsgrad=True)),
    ("adamw", {"lr": 0.1}, lambda: doc_adam(0.1, weight_decay=1e-2, decoupled=True)),
    ("adamw", {"lr": 0.05, "weight_decay": 0.3, "amsgrad": True},
     lambda: doc_adam(0.05, weight_decay=0.3, amsgrad=True, decoupled=True)),
    ("rmsprop", {}, lambda: doc_rmsprop(1e-2)),
    ("rmsprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True,
                 "weight_decay": 0.02}, lambda: doc_rmsprop(0.01, 0.9, 1e-8, 0.02, 0.5, True)),
    ("rmsprop", {"lr": 0.003, "momentum": 0.9}, lambda: doc_rmsprop(0.003, momentum=0.9)),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in h.items()) or 'defaults'}" for n, h, _ in CASES]


def assert_close(a, b, what):
    """Relative to the param's size (an element that cancels to ~0 is compared at
    the scale of its array, as torch.testing's rtol on a tensor would)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    err = np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)
    assert err <= RTOL, f"{what}: relative error {err:.3g}\n{a}\n{b}"


@pytest.mark.parametrize("name, hyper, doc", CASES, ids=IDS)
def test_every_step_follows_the_documented_formula(name, hyper, doc):
    opt = make_optimizer(name, **hyper)
    ref = doc()
    ours, theirs = start(), start()
    for t in range(1, 31):
        opt.step(ours, grads_of(ours))
        g = grads_of(theirs)
        theirs = {k: ref(t, theirs[k], g[k], k) for k in theirs}
        for k in ours:
            assert_close(ours[k], theirs[k], f"{name} step {t} {k}")
    assert opt.steps == 30


@pytest.mark.parametrize("name, hyper, doc", CASES, ids=IDS)
def test_every_step_equals_torch_optim(name, hyper, doc):
    torch = pytest.importorskip("torch")
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
           "rmsprop": torch.optim.RMSprop}[name]
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in start().items()}
    topt = cls(list(tp.values()), **{k: v for k, v in hyper.items()}, foreach=False)
    opt = make_optimizer(name, **hyper)
    ours = start()
    for t in range(1, 31):
        opt.step(ours, grads_of(ours))
        g = grads_of({k: v.detach().numpy() for k, v in tp.items()})
        for k, v in tp.items():
            v.grad = torch.tensor(g[k], dtype=torch.float64)
        topt.step()
        for k in ours:
            assert_close(ours[k], tp[k].detach().numpy(), f"torch {name} step {t} {k}")


def test_the_defaults_are_pytorchs():
    assert OPTIMIZERS["sgd"].defaults["lr"] == 1e-3
    assert OPTIMIZERS["adam"].defaults == {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8,
                                           "weight_decay": 0.0, "amsgrad": False}
    assert OPTIMIZERS["adamw"].defaults["weight_decay"] == 1e-2
    assert OPTIMIZERS["rmsprop"].defaults["lr"] == 1e-2
    assert OPTIMIZERS["rmsprop"].defaults["alpha"] == 0.99


def test_defaults_match_torch_where_installed():
    torch = pytest.importorskip("torch")
    p = [torch.zeros(1, requires_grad=True)]
    for name, cls in (("sgd", torch.optim.SGD), ("adam", torch.optim.Adam),
                      ("adamw", torch.optim.AdamW), ("rmsprop", torch.optim.RMSprop)):
        theirs = cls(p).defaults
        for k, v in OPTIMIZERS[name].defaults.items():
            assert theirs[k] == v, (name, k)


def test_wrong_settings_are_refused():
    with pytest.raises(ValueError, match="Nesterov"):
        make_optimizer("sgd", lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="no 'betas'"):
        make_optimizer("sgd", betas=(0.9, 0.99))
    with pytest.raises(ValueError, match="finite"):
        make_optimizer("adam", lr=-1.0)
    with pytest.raises(ValueError, match="betas"):
        make_optimizer("adam", betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="no optimiser"):
        make_optimizer("lbfgs")


@pytest.mark.parametrize("name, hyper, doc", CASES[1::3], ids=IDS[1::3])
def test_state_round_trips_so_a_resumed_run_is_the_same(name, hyper, doc):
    a, b = make_optimizer(name, **hyper), make_optimizer(name, **hyper)
    pa = start()
    for _ in range(5):
        a.step(pa, grads_of(pa))
    pb = {k: v.copy() for k, v in pa.items()}
    b.load_state_arrays({k: v.copy() for k, v in a.state_arrays().items()}, pb)
    for _ in range(5):
        a.step(pa, grads_of(pa))
        b.step(pb, grads_of(pb))
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k])


# ------------------------------------------------------------ schedules, clip
def test_step_and_cosine_schedules():
    assert [lr_at("step", 1.0, e, 9, step_size=3, gamma=0.5) for e in range(7)] == \
        [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    cos = [lr_at("cosine", 0.1, e, 10, lr_min=0.01) for e in range(10)]
    assert cos[0] == pytest.approx(0.1)
    assert cos[5] == pytest.approx(0.01 + 0.09 * 0.5)
    assert all(x > y for x, y in zip(cos, cos[1:]))
    assert lr_at("constant", 0.3, 7, 10) == 0.3
    with pytest.raises(ValueError):
        lr_at("exponential", 0.1, 0, 10)


def test_schedules_equal_torch_lr_scheduler():
    torch = pytest.importorskip("torch")
    for make, ours in (
            (lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.3),
             lambda e: lr_at("step", 0.1, e, 8, step_size=2, gamma=0.3)),
            (lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.001),
             lambda e: lr_at("cosine", 0.1, e, 8, lr_min=0.001))):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        sched = make(opt)
        for e in range(8):
            assert opt.param_groups[0]["lr"] == pytest.approx(ours(e), rel=1e-12)
            opt.step()
            sched.step()


def test_clip_by_total_norm_as_torch():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    norm = _clip(g, 1.0)
    assert norm == 5.0
    np.testing.assert_allclose(g["a"], [3 / (5 + 1e-6), 0])
    np.testing.assert_allclose(g["b"], [[4 / (5 + 1e-6)]])
    g = {"a": np.array([0.3])}
    _clip(g, 1.0)
    assert g["a"][0] == 0.3  # below the limit: unchanged
    torch = pytest.importorskip("torch")
    t = [torch.tensor([3.0, 0.0], dtype=torch.float64, requires_grad=True),
         torch.tensor([[4.0]], dtype=torch.float64, requires_grad=True)]
    t[0].grad, t[1].grad = torch.tensor([3.0, 0.0], dtype=torch.float64), \
        torch.tensor([[4.0]], dtype=torch.float64)
    torch.nn.utils.clip_grad_norm_(t, 1.0)
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    _clip(g, 1.0)
    assert math.isclose(g["b"][0, 0], float(t[1].grad[0, 0]), rel_tol=1e-12)
