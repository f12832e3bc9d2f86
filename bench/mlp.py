"""Workload 2 — a small MLP: forward and backward of x[256, 784] → 512 relu → 10,
mean cross-entropy with integer labels; gradients for W1, b1, W2, b2. Against
the same network written by hand in NumPy (the gradients are checked to agree
before anything is timed).

Target: cgraph ≤ 1.1× NumPy.

    python bench/mlp.py [--repeat N]
"""
from __future__ import annotations

import numpy as np

import timing
from timing import Row, fmt_ratio, fmt_time

import cgraph

N, D, H, C = 256, 784, 512, 10
TARGET = 1.1
WRT = ["W1", "b1", "W2", "b2"]

SOURCE = f"""\
input x: [{N}, {D}]
input labels: [{N}]
input W1: [{D}, {H}]
input b1: [{H}]
input W2: [{H}, {C}]
input b2: [{C}]
h = relu(x @ W1 + b1)
logits = h @ W2 + b2
loss = cross_entropy(logits, labels)
"""


def data(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((N, D)),
            "labels": rng.integers(0, C, N),
            "W1": rng.standard_normal((D, H)) * np.sqrt(2.0 / D), "b1": np.zeros(H),
            "W2": rng.standard_normal((H, C)) * np.sqrt(1.0 / H), "b2": np.zeros(C)}


def reference(x, labels, W1, b1, W2, b2):
    """Forward and backward by hand, as a NumPy user writes them."""
    n = x.shape[0]
    z1 = x @ W1 + b1
    h = np.maximum(z1, 0.0)
    logits = h @ W2 + b2
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = np.mean(np.log(s[:, 0]) + m[:, 0] - logits[rows, labels])
    dlogits = e / s
    dlogits[rows, labels] -= 1.0
    dlogits /= n
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(axis=0)
    dz1 = (dlogits @ W2.T) * (z1 > 0)
    dW1 = x.T @ dz1
    db1 = dz1.sum(axis=0)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def _peers(inp) -> dict:
    peers = {}
    torch = timing.optional("torch")
    if torch is not None:
        t = {k: torch.from_numpy(v) for k, v in inp.items()}
        t["labels"] = t["labels"].long()
        params = {k: t[k].clone().requires_grad_(True) for k in WRT}

        def torch_call():
            h = torch.relu(t["x"] @ params["W1"] + params["b1"])
            loss = torch.nn.functional.cross_entropy(h @ params["W2"] + params["b2"], t["labels"])
            return loss.item(), torch.autograd.grad(loss, [params[k] for k in WRT])
        peers["torch"] = torch_call
    jax = timing.optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jnp = jax.numpy

        def loss_fn(p, x, labels):
            h = jax.nn.relu(x @ p["W1"] + p["b1"])
            logp = jax.nn.log_softmax(h @ p["W2"] + p["b2"])
            return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))
        f = jax.jit(jax.value_and_grad(loss_fn))
        p = {k: jnp.asarray(inp[k]) for k in WRT}
        x, labels = jnp.asarray(inp["x"]), jnp.asarray(inp["labels"])
        peers["jax"] = lambda: jax.block_until_ready(f(p, x, labels))
    return peers


def measure(repeat: int = 30) -> list:
    inp = data()
    prog = cgraph.compile(SOURCE, "mlp.cg")
    value, grads = prog.gradients(inp, wrt=WRT)
    ref_value, ref_grads = reference(**inp)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    for k in WRT:
        np.testing.assert_allclose(grads[k], ref_grads[k], rtol=1e-9, atol=1e-12, err_msg=k)

    fns = {"cgraph": lambda: prog.gradients(inp, wrt=WRT),
           "numpy": lambda: reference(**inp)}
    fns.update(_peers(inp))
    t = timing.compare(fns, repeat=repeat, warmup=2, min_sample=0.05, budget=15)
    cg, ref = t["cgraph"].median, t["numpy"].median
    return [Row("MLP 256×784→512 relu→10, CE, fwd+bwd", fmt_time(cg), f"{fmt_time(ref)} (NumPy)",
                fmt_ratio(cg / ref), "≤ 1.1×", cg / ref <= TARGET,
                peers={k: fmt_time(t[k].median) for k in fns if k not in ("cgraph", "numpy")})]


if __name__ == "__main__":
    timing.main(measure, __doc__.splitlines()[0])
