"""Workload 4 — a deep scalar chain: 10,000 steps of x = sin(x)*0.999 + 0.1,
forward and backward (dx_final/dx0), written as a .cg script with a for loop.

- repeated call: a compiled program's `gradients` called again and again,
  against plain hand-written Python (forward storing the intermediates, then
  backward). Target ≤ 3×.
- from scratch: parse + build + run with a new Program each time. Target
  < 100 ms.
- eager, per call: the same program in `--mode eager` (built and run again on
  every call, forward and backward), against the same plain Python. Target
  ≤ 80× (issue 20; PyTorch eager, beside where torch is installed, is about
  170×).

Over 10,000 steps the derivative underflows (|0.999·cos x*| ≈ 0.6 per step),
so agreement is also checked on a 30-step chain where it is not negligible.

    python bench/scalar_chain.py [--repeat N]
"""
from __future__ import annotations

import math

import timing
from timing import Row, fmt_ratio, fmt_time

import cgraph
from cgraph.program import Program

STEPS = 10_000
X0 = 0.5
RATIO_TARGET, SCRATCH_TARGET, EAGER_TARGET = 3.0, 0.100, 80.0


def source(steps: int = STEPS) -> str:
    return f"""\
input x0
x = x0
for i in range({steps}):
    x = sin(x)*0.999 + 0.1
"""


def reference(x0: float, steps: int = STEPS):
    """Forward keeping every intermediate, then the chain rule backwards."""
    xs = []
    x = x0
    for _ in range(steps):
        xs.append(x)
        x = math.sin(x) * 0.999 + 0.1
    g = 1.0
    for xi in reversed(xs):
        g *= math.cos(xi) * 0.999
    return x, g


def _peers(steps: int) -> dict:
    peers = {}
    torch = timing.optional("torch")
    if torch is not None:
        def torch_call():
            x0 = torch.tensor(X0, dtype=torch.float64, requires_grad=True)
            x = x0
            for _ in range(steps):
                x = torch.sin(x) * 0.999 + 0.1
            return x.item(), torch.autograd.grad(x, x0)[0].item()
        peers["torch"] = torch_call
    jax = timing.optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jnp = jax.numpy
        f = jax.jit(jax.value_and_grad(
            lambda x0: jax.lax.fori_loop(0, steps, lambda i, x: jnp.sin(x) * 0.999 + 0.1, x0)))
        peers["jax"] = lambda: jax.block_until_ready(f(X0))
    return peers


def _checked(steps: int, mode: str = "static"):
    """A compiled program for `steps` steps, its first call checked against Python."""
    prog = cgraph.compile(source(steps), "chain.cg", mode=mode)
    value, grads = prog.gradients({"x0": X0})
    ref_value, ref_grad = reference(X0, steps)
    assert math.isclose(float(value), ref_value, rel_tol=1e-12), (steps, value, ref_value)
    assert math.isclose(float(grads["x0"]), ref_grad, rel_tol=1e-9, abs_tol=1e-300), \
        (steps, grads["x0"], ref_grad)
    return prog


def from_scratch():
    return Program(source(), "chain.cg").gradients({"x0": X0})


def measure(repeat: int = 15, scratch_repeat: int = 5) -> list:
    _checked(30)
    prog = _checked(STEPS)
    inputs = {"x0": X0}
    fns = {"cgraph": lambda: prog.gradients(inputs), "python": lambda: reference(X0)}
    fns.update(_peers(STEPS))
    t = timing.compare(fns, repeat=repeat, warmup=1, min_sample=0.05, budget=15)
    cg, py = t["cgraph"].median, t["python"].median
    s = timing.time_one(from_scratch, repeat=max(3, min(repeat, scratch_repeat)), warmup=0,
                        min_sample=0.0, budget=20)
    plan = prog.compiled(inputs, grad=True).plan
    _checked(30, "eager")
    eager = _checked(STEPS, "eager")
    efns = {"cgraph": lambda: eager.gradients(inputs), "python": lambda: reference(X0)}
    if "torch" in fns:
        efns["torch"] = fns["torch"]
    e = timing.compare(efns, repeat=max(3, min(repeat, 7)), warmup=0, min_sample=0.0, budget=20)
    ecg, epy = e["cgraph"].median, e["python"].median
    return [
        Row(f"deep scalar chain ({STEPS:,} steps), fwd+bwd, repeated call", fmt_time(cg),
            f"{fmt_time(py)} (Python)", fmt_ratio(cg / py), "≤ 3×", cg / py <= RATIO_TARGET,
            peers={k: fmt_time(t[k].median) for k in fns if k not in ("cgraph", "python")},
            note=f"plan: {len(plan.steps):,} steps, scalar path {'on' if plan.scalar else 'off'}"),
        Row(f"deep scalar chain ({STEPS:,} steps), parse+build+run from scratch",
            fmt_time(s.median), f"{fmt_time(py)} (Python)", fmt_ratio(s.median / py), "< 100 ms",
            s.median < SCRATCH_TARGET),
        Row(f"deep scalar chain ({STEPS:,} steps), fwd+bwd, eager mode per call", fmt_time(ecg),
            f"{fmt_time(epy)} (Python)", fmt_ratio(ecg / epy), "≤ 80×", ecg / epy <= EAGER_TARGET,
            peers={k: fmt_time(e[k].median) for k in efns if k not in ("cgraph", "python")},
            note="torch eager per call: " + (fmt_ratio(e["torch"].median / epy) + " Python"
                                            if "torch" in e else "not installed")),
    ]


if __name__ == "__main__":
    timing.main(measure, __doc__.splitlines()[0])
