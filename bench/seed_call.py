"""Workload 1 — the cost of one call: a compiled program's `gradients` on the seed
expression (a+b)*(b-c) at a=2, b=3, c=4, against a hand-written Python
function computing the value and the three gradients.

Target: ≤ 10 µs per call (absolute). The ratio to plain Python is printed for
information: it is the per-call overhead of the API.

    python bench/seed_call.py [--repeat N]
"""
from __future__ import annotations

import timing
from timing import Row, fmt_ratio, fmt_time

import cgraph

SOURCE = "(a+b)*(b-c)"
INPUTS = {"a": 2, "b": 3, "c": 4}
TARGET = 10e-6


def reference(a, b, c):
    """What a person writes by hand: the value and ∂/∂a, ∂/∂b, ∂/∂c."""
    d = a + b
    e = b - c
    return d * e, {"a": e, "b": e + d, "c": -d}


def _peers(inputs) -> dict:
    peers = {}
    torch = timing.optional("torch")
    if torch is not None:
        def torch_call():
            a, b, c = (torch.tensor(float(inputs[k]), dtype=torch.float64, requires_grad=True)
                       for k in "abc")
            y = (a + b) * (b - c)
            ga, gb, gc = torch.autograd.grad(y, (a, b, c))
            return y.item(), ga.item(), gb.item(), gc.item()
        peers["torch"] = torch_call
    jax = timing.optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        f = jax.jit(jax.value_and_grad(lambda a, b, c: (a + b) * (b - c), argnums=(0, 1, 2)))
        args = tuple(float(inputs[k]) for k in "abc")

        def jax_call():
            y, g = f(*args)
            return jax.block_until_ready((y, g))
        peers["jax"] = jax_call
    return peers


def measure(repeat: int = 15) -> list:
    prog = cgraph.compile(SOURCE)
    value, grads = prog.gradients(INPUTS)
    ref_value, ref_grads = reference(**{k: float(v) for k, v in INPUTS.items()})
    assert float(value) == ref_value and all(float(grads[k]) == ref_grads[k] for k in ref_grads), \
        (value, grads, ref_value, ref_grads)

    a, b, c = (INPUTS[k] for k in "abc")
    fns = {"cgraph": lambda: prog.gradients(INPUTS),
           "python": lambda: reference(a, b, c)}
    fns.update(_peers(INPUTS))
    t = timing.compare(fns, repeat=repeat, min_sample=0.02)
    cg, py = t["cgraph"].median, t["python"].median
    return [Row("seed per call: `gradients` on (a+b)*(b-c)", fmt_time(cg),
                f"{fmt_time(py)} (Python)", fmt_ratio(cg / py), "≤ 10 µs", cg <= TARGET,
                peers={k: fmt_time(t[k].median) for k in fns if k not in ("cgraph", "python")})]


if __name__ == "__main__":
    timing.main(measure, __doc__.splitlines()[0])
