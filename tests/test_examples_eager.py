"""The known results of examples/newton.cg, piecewise.cg and rnn.cg, each
computed independently here with plain Python/NumPy."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

from cgraph import CgraphError
from cgraph.program import Program

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def example(name: str, mode: str = "eager") -> Program:
    path = os.path.join(ROOT, "examples", name)
    with open(path, encoding="utf-8") as f:
        return Program(f.read(), path, mode=mode)


def forward_ops(result, output):
    """The op names recorded before the output (the backward pass comes after)."""
    return [n.op.name for n in result.graph.nodes[: result.graph.outputs[output] + 1]]


# ------------------------------------------------------------------ newton
def newton_iterates(x0: float, tol: float = 1e-12) -> list:
    x, out = x0, []
    while abs(x * x - 2) > tol:
        x = x - (x * x - 2) / (2 * x)
        out.append(x)
    return out


@pytest.mark.parametrize("x0", [None, 3.0, 0.2])
def test_newton(x0, capsys):
    p = example("newton.cg")
    r = p.run(None if x0 is None else {"x0": x0}, grad=True)
    iterates = newton_iterates(1.0 if x0 is None else x0)
    assert float(r.outputs["root"]) == iterates[-1] == pytest.approx(math.sqrt(2), rel=1e-13, abs=0)
    # each iterate printed as it was computed
    assert capsys.readouterr().out.splitlines() == [f"x = {x!r}" for x in iterates]
    # the root does not depend on the start
    assert list(r.gradients) == ["x0"] and abs(float(r.gradients["x0"])) < 1e-12
    assert forward_ops(r, "root").count("div") == len(iterates)


def test_newton_needs_eager():
    with pytest.raises(CgraphError) as e:
        example("newton.cg", "static").run()
    assert "--mode eager" in e.value.hint and e.value.errors[0].line_text.startswith("while")


# --------------------------------------------------------------- piecewise
def piecewise(x: float):
    """(f(x), f'(x), the op that only its branch uses)."""
    if x < 0:
        return x * math.exp(x), (1 + x) * math.exp(x), "exp"
    if x < 2:
        return math.sin(x) ** 2, 2 * math.sin(x) * math.cos(x), "sin"
    return math.sqrt(x), 0.5 / math.sqrt(x), "sqrt"


@pytest.mark.parametrize("x", [None, -1.0, -0.0, 0.0, 1.0, 1.999, 2.0, 4.0])
def test_piecewise(x):
    r = example("piecewise.cg").run(None if x is None else {"x": x}, grad=True)
    x = 0.5 if x is None else x
    value, slope, op = piecewise(x)
    assert float(r.outputs["y"]) == pytest.approx(value, rel=1e-15, abs=1e-300)
    assert float(r.gradients["x"]) == pytest.approx(slope, rel=1e-14)
    recorded = set(forward_ops(r, "y"))
    assert op in recorded and not ({"exp", "sin", "sqrt"} - {op}) & recorded


def test_piecewise_needs_eager():
    with pytest.raises(CgraphError) as e:
        example("piecewise.cg", "static").run()
    assert "--mode eager" in e.value.hint


# --------------------------------------------------------------------- rnn
def rnn_numpy(xs, ys, Wx, Wh, b, Wy):
    """The loss and its gradients, forward and back-propagation through time by hand."""
    T = len(xs)
    hs, h = [], None
    for t in range(T):
        a = xs[t] @ Wx + b + (h @ Wh if h is not None else 0)
        h = np.tanh(a)
        hs.append(h)
    err = np.array([h @ Wy for h in hs]) - ys
    loss = np.sum(err ** 2) / T
    g = {k: np.zeros_like(v) for k, v in (("Wx", Wx), ("Wh", Wh), ("b", b), ("Wy", Wy))}
    da_next = np.zeros_like(b)
    for t in reversed(range(T)):
        dy = 2 * err[t] / T
        g["Wy"] += dy * hs[t]
        dh = dy * Wy + Wh @ da_next
        da = dh * (1 - hs[t] ** 2)
        g["Wx"] += np.outer(xs[t], da)
        g["b"] += da
        if t > 0:
            g["Wh"] += np.outer(hs[t - 1], da)
        da_next = da
    return loss, g


def test_rnn_parameters_are_the_seeded_draws():
    named = example("rnn.cg").run().named()
    rng = lambda seed: np.random.default_rng(seed)  # noqa: E731  (randn(shape, seed=k))
    np.testing.assert_array_equal(named["xs"], rng(1).standard_normal((6, 2)))
    np.testing.assert_array_equal(named["Wx"], rng(2).standard_normal((2, 4)) * 0.5)
    np.testing.assert_array_equal(named["Wh"], rng(3).standard_normal((4, 4)) * 0.5)
    np.testing.assert_array_equal(named["Wy"], rng(4).standard_normal(4) * 0.5)
    np.testing.assert_array_equal(named["b"], np.zeros(4))
    np.testing.assert_allclose(named["ys"], np.sin(np.linspace(0, 3, 6)))


@pytest.mark.parametrize("mode", ["static", "eager"])
def test_rnn(mode):
    eager_named = example("rnn.cg").run().named()
    params = {k: eager_named[k] for k in ("xs", "ys", "Wx", "Wh", "b", "Wy")}
    loss, grads = rnn_numpy(**params)
    r = example("rnn.cg", mode).run(grad=True)
    assert float(r.outputs["loss"]) == pytest.approx(loss, rel=1e-12)
    assert list(r.gradients) == ["Wx", "Wh", "b", "Wy"]  # consts are not leaves
    for k, v in grads.items():
        np.testing.assert_allclose(r.gradients[k], v, rtol=1e-10, atol=1e-14, err_msg=k)
    # overriding a param (as `cgraph grad rnn.cg b=[...]` does)
    b = np.array([0.1, -0.2, 0.3, 0.0])
    r = example("rnn.cg", mode).run({"b": b}, grad=True)
    loss, grads = rnn_numpy(**{**params, "b": b})
    assert float(r.outputs["loss"]) == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(r.gradients["Wh"], grads["Wh"], rtol=1e-10, atol=1e-14)


def test_rnn_static_graph_is_unrolled():
    g = example("rnn.cg", "static").build()
    assert [n.op.name for n in g.nodes].count("tanh") == 6
