"""Workload 3 — an elementwise chain over 1,000,000 values:
L = sum(tanh(x)*sigmoid(x) + exp(-x*x)*sin(x) + log1p(x*x)/(1+cos(x)^2)),
forward and backward (dL/dx), against the same written by hand in NumPy,
derivative included (checked to agree before timing).

Targets: time ≤ 1.0× NumPy; peak extra memory ≤ 0.6× NumPy's. Peak extra
memory is the tracemalloc peak during one call, not counting the input. A
static plan keeps its reusable buffers between calls, so for cgraph the bytes
of the buffers the plan holds are added to the peak of a (warm) call: they
are memory the call occupies even though it did not allocate them.

    python bench/elementwise.py [--repeat N]
"""
from __future__ import annotations

import numpy as np

import timing
from timing import Row, fmt_bytes, fmt_ratio, fmt_time

import cgraph

SIZE = 1_000_000
TIME_TARGET, MEMORY_TARGET = 1.0, 0.6

SOURCE = f"""\
input x: [{SIZE}]
L = sum(tanh(x)*sigmoid(x) + exp(-x*x)*sin(x) + log1p(x*x)/(1+cos(x)^2))
"""


def data(seed: int = 0):
    return np.random.default_rng(seed).standard_normal(SIZE) * 1.5


def reference(x):
    """The value and dL/dx, derived by hand, written as a NumPy user writes them."""
    t = np.tanh(x)
    s = 1.0 / (1.0 + np.exp(-x))
    e = np.exp(-x * x)
    sn = np.sin(x)
    c = np.cos(x)
    x2 = x * x
    lg = np.log1p(x2)
    v = 1.0 + c * c
    L = np.sum(t * s + e * sn + lg / v)
    dx = ((1.0 - t * t) * s + t * s * (1.0 - s)          # d[tanh·sigmoid]
          + e * (c - 2.0 * x * sn)                      # d[exp(-x²)·sin]
          + 2.0 * x / (1.0 + x2) / v + lg * 2.0 * c * sn / (v * v))  # d[log1p(x²)/(1+cos²)]
    return L, dx


def _peers(x) -> dict:
    peers = {}
    torch = timing.optional("torch")
    if torch is not None:
        xt = torch.from_numpy(x)

        def torch_call():
            xv = xt.clone().requires_grad_(True)
            L = torch.sum(torch.tanh(xv) * torch.sigmoid(xv) + torch.exp(-xv * xv) * torch.sin(xv)
                          + torch.log1p(xv * xv) / (1 + torch.cos(xv) ** 2))
            return L.item(), torch.autograd.grad(L, xv)[0]
        peers["torch"] = torch_call
    jax = timing.optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jnp = jax.numpy
        f = jax.jit(jax.value_and_grad(lambda x: jnp.sum(
            jnp.tanh(x) * jax.nn.sigmoid(x) + jnp.exp(-x * x) * jnp.sin(x)
            + jnp.log1p(x * x) / (1 + jnp.cos(x) ** 2))))
        xj = jnp.asarray(x)
        peers["jax"] = lambda: jax.block_until_ready(f(xj))
    return peers


def _plan_held_bytes(prog) -> int:
    return sum(b.nbytes for c in prog._plans.values() for b in c.plan.buffers if b is not None)


def measure(repeat: int = 21) -> list:
    x = data()
    prog = cgraph.compile(SOURCE, "chain.cg")
    value, grads = prog.gradients({"x": x})
    ref_value, ref_dx = reference(x)
    np.testing.assert_allclose(value, ref_value, rtol=1e-10)
    np.testing.assert_allclose(grads["x"], ref_dx, rtol=1e-9, atol=1e-12)

    cg_call = lambda: prog.gradients({"x": x})  # noqa: E731
    np_call = lambda: reference(x)  # noqa: E731
    fns = {"cgraph": cg_call, "numpy": np_call}
    fns.update(_peers(x))
    t = timing.compare(fns, repeat=repeat, warmup=1, min_sample=0.0, budget=20)
    cg, ref = t["cgraph"].median, t["numpy"].median

    cg_call()  # warm: the plan's buffers exist
    held = _plan_held_bytes(prog)
    cg_mem = timing.peak_extra(cg_call) + held
    np_mem = timing.peak_extra(np_call)
    plan = prog.compiled({"x": x}, grad=True).plan
    rows = [
        Row("elementwise chain 1e6, fwd+bwd: time", fmt_time(cg), f"{fmt_time(ref)} (NumPy)",
            fmt_ratio(cg / ref), "≤ 1.0×", cg / ref <= TIME_TARGET,
            peers={k: fmt_time(t[k].median) for k in fns if k not in ("cgraph", "numpy")}),
        Row("elementwise chain 1e6, fwd+bwd: peak extra memory", fmt_bytes(cg_mem),
            f"{fmt_bytes(np_mem)} (NumPy)", fmt_ratio(cg_mem / np_mem), "≤ 0.6×",
            cg_mem / np_mem <= MEMORY_TARGET,
            note=f"cgraph figure = tracemalloc peak of a warm call {fmt_bytes(cg_mem - held)} "
                 f"+ buffers the plan holds {fmt_bytes(held)}; the plan's own estimate: "
                 f"peak_bytes {fmt_bytes(plan.peak_bytes)} (naive {fmt_bytes(plan.naive_bytes)})"),
    ]
    return rows


if __name__ == "__main__":
    timing.main(measure, __doc__.splitlines()[0])
