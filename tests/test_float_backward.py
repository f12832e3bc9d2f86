"""Eager mode's backward pass on Python floats (cgraph.float_backward).

Generated from the registry: every elementwise op's VJP traced into a
Python-float function gives the numbers of its graph VJP (run eagerly, as
`autodiff.backward` does) and of central finite differences. Then whole
programs: `Program.gradients` in eager mode (the float walk) hands back what
`Program.run(grad=True)` (the graph backward) does, bit for bit, and falls
back to the graph where the floats cannot go.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import cgraph
from cgraph import float_backward
from cgraph import registry as R
from cgraph.autodiff import backward
from cgraph.ir import Graph

from strategies import programs

#: elementwise differentiable ops whose arguments are all tensors (a node with
#: attributes keeps the graph backward)
TRACED = [op for op in R.REGISTRY.values() if op.elementwise and op.vjp is not None
          and all(a.is_tensor for a in op.args)]


def _point(domain: str, rng) -> float:
    if domain == "pos":
        return float(rng.uniform(0.5, 2.0))
    if domain == "unit":
        return float(rng.uniform(-0.9, 0.9))
    if domain in ("away0", "nonzero"):
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0))
    if domain == "lo":
        return float(rng.uniform(-1.0, -0.2))
    if domain == "hi":
        return float(rng.uniform(0.2, 1.0))
    if domain == "bool":
        return bool(rng.integers(2))
    return float(rng.uniform(-2.0, 2.0))


def _eager_vjp(op, xs, ct):
    """The graph backward's cotangents for op at xs (one eager graph, seeded with ct)."""
    feed = {f"x{k}": np.asarray(x) for k, x in enumerate(xs)}
    g = Graph(eager=True, feed=feed)
    ids = [g.leaf(f"x{k}", "input", shape=()) for k in range(len(xs))]
    out = g.add(op, ids)
    live = [k for k, x in enumerate(xs) if not isinstance(x, bool)]
    grads = backward(g, out, [ids[k] for k in live], seed=g.const(ct))
    return g.values[out], {k: float(g.values[grads[ids[k]]]) for k in live}


@pytest.mark.parametrize("op", TRACED, ids=lambda op: op.name)
def test_float_vjp_is_the_registry_vjp(op):
    rng = np.random.default_rng(sum(map(ord, op.name)) + 7)
    n = len(op.args)
    doms = list(op.domain) + ["real"] * (n - len(op.domain))
    for _ in range(5):
        xs = [_point(d, rng) for d in doms]
        ct = float(rng.uniform(-2.0, 2.0))
        with np.errstate(all="ignore"):
            out, want = _eager_vjp(op, xs, ct)
        live = tuple(0 if isinstance(x, bool) else 1 for x in xs)
        fn = float_backward.scalar_vjp(op, live)
        assert fn is not None, f"{op.name}: its VJP did not trace on floats"
        got = fn(ct, out, *[np.float64(x) if not isinstance(x, bool) else np.bool_(x) for x in xs])
        assert len(got) == n
        for k in range(n):
            if not live[k]:
                assert got[k] is None
                continue
            # None: no cotangent (sign, floor: zero by convention), zeros in the graph
            c = 0.0 if got[k] is None else got[k]
            assert c == want[k], f"{op.name} at {xs}: float {got[k]}, graph {want[k]}"
            # and the derivative it is: a central difference of the forward
            h = 1e-6 * max(1.0, abs(xs[k]))

            def f(d):
                moved = [np.float64(x + d) if j == k else np.asarray(x) for j, x in enumerate(xs)]
                return float(op.forward(*moved))
            fd = ct * (f(h) - f(-h)) / (2 * h)
            assert math.isclose(c, fd, rel_tol=1e-5, abs_tol=1e-7), \
                f"{op.name} at {xs}, input {k}: float VJP {c}, finite differences {fd}"


def test_dead_inputs_get_no_cotangent_and_no_work():
    mul = R.get("mul")
    both, first = float_backward.scalar_vjp(mul, (1, 1)), float_backward.scalar_vjp(mul, (1, 0))
    assert both(2.0, 0.0, 3.0, 5.0) == (10.0, 6.0)
    assert first(2.0, 0.0, 3.0, 5.0) == (10.0, None)
    assert float_backward.scalar_vjp(R.get("gt"), (1, 1))(1.0, True, 2.0, 1.0) == (None, None)


PROGRAMS = [
    ("input x0\nx = x0\nfor i in range(300):\n    x = sin(x)*0.999 + 0.1\n", {"x0": 0.5}),
    ("input a\ninput b\ny = a*b + sin(a)/b - exp(a-b) + tanh(a)*sqrt(b*b+1)\nz = y*y + a\n",
     {"a": 0.7, "b": 1.3}),
    ("input a\ninput b\ny = maximum(a, b) + minimum(a, 2.0) + a**b + atan2(a, b)"
     " + where(a > b, a*a, b) + a % b\n", {"a": 0.7, "b": 1.3}),
    ("input a\ninput b\ny = maximum(a, b) * minimum(b, a)\n", {"a": 1.5, "b": 1.5}),  # ties
    ("input x\ns = 0\nfor i in range(20):\n    s = s + relu(x - i*0.1) * sigmoid(x) + abs(x)\n",
     {"x": 0.4}),
    ("input x\nparam w = 2.0\ny = w*x*x + sign(x) + floor(x) + softplus(x) + silu(w)\n",
     {"x": -0.3}),
    ("input x\ny = log(x) + sqrt(x)\n", {"x": 0.0}),                 # inf cotangents
    ("input x\ny = x ** 3.0\n", {"x": 1e200}),                        # overflow: graph fallback
    ("input x\ny = x / 0\n", {"x": 1.0}),
    ("input x\ny = x * 0 + 3\n", {"x": 1.0}),
    ("input x\ninput u\ny = x * x\n", {"x": 2.0, "u": 1.0}),          # u not connected
    ("input x\ny = 5.0\n", {"x": 2.0}),
    ("input x\ny = leaky_relu(x) + clip(x, -1, 1)\n", {"x": 0.5}),  # attributes: graph backward
    ("input x\ny = sum(x * x)\n", {"x": [1.0, 2.0]}),                # vectors: graph backward
    ("input x\nn = 0\nwhile x > 0.01:\n    x = x / 2\n    n = n + 1\ny = x * n\n", {"x": 3.0}),
    ("def f(t):\n    return t * sin(t)\ninput x\ny = f(x) + f(2 * x)\n", {"x": 0.3}),
    ("input x\ny = grad(x * x * x, x) + x\n", {"x": 0.3}),           # grad inside the program
]


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True) \
        and np.array_equal(np.signbit(a), np.signbit(b))


@pytest.mark.parametrize("src, feed", PROGRAMS)
def test_eager_gradients_are_the_graph_backwards(src, feed):
    prog = cgraph.compile(src, mode="eager")
    r = prog.run(feed, grad=True)
    value, grads = prog.gradients(feed)
    assert _same(value, r.outputs[r.output])
    assert list(grads) == list(r.gradients)
    for n in grads:
        assert _same(grads[n], r.gradients[n]), (n, grads[n], r.gradients[n])
    for wrt in ([n] for n in r.gradients):
        _, g1 = prog.gradients(feed, wrt=wrt)
        assert _same(g1[wrt[0]], r.gradients[wrt[0]])


def test_the_float_walk_runs_for_scalar_programs(monkeypatch):
    ran = []
    real = float_backward.gradients
    monkeypatch.setattr(float_backward, "gradients", lambda *a: ran.append(real(*a)) or ran[-1])
    for src, feed in PROGRAMS[:6]:
        cgraph.compile(src, mode="eager").gradients(feed)
    assert ran and all(r is not None for r in ran)
    ran.clear()
    for src, feed in PROGRAMS[12:14]:   # attributes, vectors
        cgraph.compile(src, mode="eager").gradients(feed)
    assert ran == [None, None]


def test_static_gradients_and_eager_runs_keep_the_graph():
    src, feed = PROGRAMS[0]
    r = cgraph.compile(src, mode="eager").run(feed, grad=True)
    assert r.graph.nodes[r.grad_ids[r.graph.leaves["x0"]]].op.name != "const"
    value, grads = cgraph.compile(src).gradients(feed)
    _, eager = cgraph.compile(src, mode="eager").gradients(feed)
    assert math.isclose(float(grads["x0"]), float(eager["x0"]), rel_tol=1e-12)


# ============================================ eager loops of simple assignments
LOOPS = [
    # the loop variable read, assigned, unread, read after the loop, nested, empty
    ("input x\nfor i in range(5):\n    x = x * 0.9 + i\n", {"x": 1.0}),
    ("input x\nfor i in range(5):\n    i = x * 2\n    x = x + i\ny = x + i\n", {"x": 1.0}),
    ("input x\nfor i in range(5):\n    x = x * x - 0.5\ny = x * i\n", {"x": 0.3}),
    ("input x\nfor i in range(3):\n    for j in range(4):\n        x = x * 0.5 + j\n    x = x + i\n"
     "y = x * i * j\n", {"x": 1.0}),
    ("input x\ny = x\nfor i in range(0):\n    y = y * 2\nz = y + 1\n", {"x": 1.0}),
    ("input x\ns = 1\nfor i in range(4):\n    s *= x\n    t = s - x\ny = s + t\n", {"x": 1.5}),
    ("def f(t):\n    for k in range(3):\n        t = sin(t) + k\n    return t\ninput x\ny = f(x)\n",
     {"x": 0.2}),
]


@pytest.mark.parametrize("src, feed", LOOPS)
def test_loops_of_simple_assignments_keep_their_values_and_names(src, feed):
    prog = cgraph.compile(src, mode="eager")
    r = prog.run(feed, grad=True, all_names=True)
    value, grads = prog.gradients(feed)
    assert _same(value, r.outputs[r.output])
    for n in grads:
        assert _same(grads[n], r.gradients[n]), n
    static = cgraph.compile(src).run(feed, grad=True, all_names=True)
    assert list(r.graph.names) == list(static.graph.names)  # the order --all prints
    for n, i in static.graph.names.items():
        assert math.isclose(float(r.values[r.graph.names[n]]), float(static.values[i]),
                            rel_tol=1e-12), n


def test_an_error_in_a_loop_of_simple_assignments_says_where():
    src = "input u: [2]\ninput v: [3]\nx = u\nfor i in range(4):\n    x = x * 2\n    w = x + v\n"
    with pytest.raises(cgraph.CgraphError) as exc:
        cgraph.compile(src, "f.cg", mode="eager").gradients({"u": [1.0, 2.0], "v": [1.0, 2, 3]})
    text = str(exc.value)
    assert "f.cg:6:9" in text and "at i = 0" in text and "w = x + v" in text, text
    src = "input x\nfor i in range(4):\n    x = x * 2 + nope\n"
    with pytest.raises(cgraph.CgraphError) as exc:
        cgraph.compile(src, "f.cg", mode="eager").gradients({"x": 1.0})
    assert "f.cg:3:17" in str(exc.value) and "nope" in str(exc.value), str(exc.value)


def test_the_loop_limit_counts_fast_iterations():
    src = "input x\nfor i in range(30):\n    for j in range(30):\n        x = x * 0.99\n"
    prog = cgraph.compile(src, mode="eager", max_iterations=500)
    with pytest.raises(cgraph.CgraphError) as exc:
        prog.gradients({"x": 1.0})
    assert "more than 500 iterations" in str(exc.value)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(derivatives=True, prints=False, asserts=False))
def test_random_programs_gradients_are_the_graph_backwards(case):
    src, inputs = case
    prog = cgraph.compile(src, "<random>", mode="eager")
    try:
        r = prog.run(inputs, grad=True)
    except cgraph.CgraphError as exc:
        with pytest.raises(cgraph.CgraphError) as again:
            prog.gradients(inputs)
        assert str(again.value) == str(exc), src
        return
    value, grads = prog.gradients(inputs)
    assert _same(value, r.outputs[r.output]), src
    assert list(grads) == list(r.gradients), src
    for n in grads:
        assert _same(grads[n], r.gradients[n]), f"d/d{n}\n{src}"


def test_a_run_records_every_iteration_as_before():
    """Only a values-only call (gradients) leaves out the unread loop variable's
    constants and makes a loop body's numbers once; run(), draw and --explain see
    every node of every iteration."""
    src = "input x0\nx = x0\nfor i in range(3):\n    x = sin(x)*0.999 + 0.1\n"
    r = cgraph.compile(src, mode="eager").run({"x0": 0.5}, grad=True)
    forward = [n.op.name for n in r.graph.nodes[:2 + 6 * 3]]
    assert forward == ["input", "const"] + ["const", "sin", "const", "mul", "const", "add"] * 3
    assert [n.attrs["value"] for n in r.graph.nodes[2:20:6]] == [0.0, 1.0, 2.0]
