"""Forward mode (`jvp`, `hvp`), generated from the op registry like the reverse-mode
tests: every differentiable op's J·v against central finite differences and
against its VJP (⟨u, J v⟩ = ⟨Jᵀu, v⟩), in eager mode and in a static plan; and
the builtins through the language in both modes."""
from __future__ import annotations

import re

import numpy as np
import pytest

from cgraph.autodiff import backward, forward
from cgraph.execute import Plan
from cgraph.ir import Graph
from cgraph.program import Program
from test_ops_registry import (DIFF_CASES, EPS, OPS, assert_close, case_attrs, default_cases,
                               make_inputs)


def _jvp_graph(op, vals, attrs, i, v, eager):
    feed = {f"x{k}": val for k, val in enumerate(vals)}
    g = Graph(eager=eager, feed=feed if eager else None)
    ids = [g.leaf(f"x{k}", "input", shape=val.shape) for k, val in enumerate(vals)]
    out = g.add(op, ids, dict(attrs))
    vid = g.const(v)
    jv = forward(g, out, ids[i], vid)
    return g, ids, out, jv, feed


@pytest.mark.parametrize("name, k", DIFF_CASES)
def test_jvp_against_finite_differences_and_the_vjp(name, k):
    op = OPS[name]
    case = default_cases(op)[k]
    attrs = case_attrs(op, case)
    vals, diff, rng = make_inputs(op, case, k)
    for i in diff:
        v = rng.standard_normal(vals[i].shape)

        def f(shift):
            moved = [x + shift * v if j == i else x for j, x in enumerate(vals)]
            with np.errstate(all="ignore"):
                return np.asarray(op.forward(*moved, **attrs), float)

        numeric = (f(EPS) - f(-EPS)) / (2 * EPS)
        g, ids, out, jv, feed = _jvp_graph(op, vals, attrs, i, v, eager=True)
        assert_close(g.values[jv], numeric, f"{name}: J·v along input {i}")
        # the transpose identity with the reverse mode
        u = rng.standard_normal(np.shape(g.values[out]))
        jtu = backward(g, out, [ids[i]], seed=g.const(u))[ids[i]]
        lhs, rhs = float(np.sum(u * g.values[jv])), float(np.sum(g.values[jtu] * v))
        assert abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs), abs(rhs)), (name, lhs, rhs)
        # static: the same graph built without values, planned and run
        gs, _, _, jvs, _ = _jvp_graph(op, vals, attrs, i, v, eager=False)
        static = Plan(gs, [jvs]).run(feed)[jvs]
        assert_close(static, g.values[jv], f"{name}: static J·v along input {i}")


@pytest.mark.parametrize("mode", ["static", "eager"])
def test_jvp_and_hvp_builtins(mode):
    src = ("input x: [3]\ny = sin(x) * x\nj = jvp(y, x, [1, 0, 2])\n"
           "H = hvp(sum(x^3) + x[0] * x[1], x, [1, 1, 0])\nsecond = jvp(grad(sum(x^3), x), x, [0, 0, 1])\n"
           "output j, H, second\n")
    out = Program(src, mode=mode).evaluate({"x": [0.5, 1.0, 2.0]})
    x = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(out["j"], (np.cos(x) * x + np.sin(x)) * [1, 0, 2], rtol=1e-12)
    np.testing.assert_allclose(out["H"], 6 * x * [1, 1, 0] + [1, 1, 0], rtol=1e-12)
    np.testing.assert_allclose(out["second"], [0, 0, 12.0], rtol=1e-12)


def test_jvp_is_differentiable_again_and_its_mistakes_are_diagnostics():
    p = Program("input x\ny = x^3\nd = jvp(y, x, 1)\nY = d\n")
    value, grads = p.gradients({"x": 2.0})
    assert float(value) == 12.0 and float(grads["x"]) == 12.0   # d/dx 3x² = 6x
    from cgraph.errors import CgraphError

    for src, words in (("input x: [3]\nY = jvp(x, x, [1, 2])", "direction v has shape [2]"),
                       ("input x\nY = jvp(x, 2 * x, 1)", "must be a name"),
                       ("input x\nY = jvp(x, x)", "three arguments")):
        with pytest.raises(CgraphError, match=re.escape(words)):
            Program(src).evaluate({"x": [1.0, 2.0, 3.0]} if "[3]" in src else {"x": 1.0})


# ---------------------------------------------------------------- the commands
def test_cgraph_hessian_and_jvp_commands(tmp_path):
    from cli_runner import cli

    r = cli("hessian", "sum(x^3) + x[0]*x[1]", "x=[1,2,3]", "--json")
    assert r.code == 0, r
    np.testing.assert_allclose(r.json["hessians"]["x"]["value"], [[6, 1, 0], [1, 12, 0], [0, 0, 18]])
    for mode in ("static", "eager"):  # the MLP example: against the Jacobian of the gradient
        r = cli("hessian", "examples/mlp.cg", "--wrt", "b2", "--json", "--mode", mode)
        h = np.array(r.json["hessians"]["b2"]["value"])
        np.testing.assert_allclose(h, h.T, atol=1e-12)
        np.testing.assert_allclose(h.sum(axis=1), 0, atol=1e-12)  # softmax: rows sum to 0
    out = tmp_path / "H.npz"
    assert cli("hessian", "sum(x^3)", "x=[1,2]", "--out", out, "-q").code == 0
    assert np.load(out)["x"].tolist() == [[6, 0], [0, 12]]
    assert cli("hessian", "sum(x^3) + y", "x=[1,2]", "y=1", "--out", tmp_path / "H.npy").code == 2
    r = cli("jvp", "sin(x) * x", "x=[1,2,3]", "--along", "x=[1,0,2]", "--json")
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(r.json["jvp"]["x"]["value"], (np.cos(x) * x + np.sin(x)) * [1, 0, 2],
                               rtol=1e-12)
    r = cli("jvp", "examples/seed.cg", "--along", "b=1", "--json")
    assert r.json["jvp"]["b"]["value"] == 4.0
    r = cli("jvp", "sin(x)", "x=[1,2,3]", "--along", "x=[1,0]")
    assert r.code == 1 and "the direction for 'x' has shape [2]" in r.stderr


@pytest.mark.parametrize("mode", ["static", "eager"])
@pytest.mark.parametrize("src, values", [
    ("W @ x", {"W": [[1, 2], [3, 4], [5, 6]], "x": [1, -1]}),
    ("input x: [2]\nY = concat([sin(x) * x[0], exp(x), [x[1]^3]])", {"x": [0.3, 1.2]}),
    ("input A: [2, 2]\nY = inv(A) @ [1.0, 2.0]", {"A": [[2.0, 1.0], [0.5, 3.0]]}),
])
def test_jacobian_forward_and_reverse_mode_agree(src, values, mode):
    from cli_runner import cli

    got = {}
    for ad in ("forward", "reverse"):
        r = cli("jacobian", src, *[f"{k}={v}".replace(" ", "") for k, v in values.items()],
                "--mode-ad", ad, "--json", "--mode", mode)
        assert r.code == 0, r
        got[ad] = r.json["jacobians"]
    for leaf in got["reverse"]:
        np.testing.assert_allclose(got["forward"][leaf]["value"], got["reverse"][leaf]["value"],
                                   rtol=1e-12, atol=1e-14)
    # the default: whichever mode makes fewer passes
    prog = Program(src, mode=mode)
    c = prog.compiled({k: np.asarray(v, float) for k, v in values.items()}, jacobian=True)
    n_in = sum(np.size(v) for v in values.values())
    n_out = int(np.prod(c.graph.nodes[c.outputs[c.output]].shape))
    assert c.jacobian_mode == ("forward" if n_in < n_out else "reverse")


def test_jvp_rules_live_in_the_registry_and_the_pass_is_flat():
    assert OPS["sum"].jvp == "linear" and OPS["reshape"].jvp == "linear"
    assert callable(OPS["matmul"].jvp)
    # a 5,000-op chain: one tangent per node, no recursion
    src = "input x\ny = x\n" + "y = sin(y) * 0.5 + x\n" * 5000 + "Y = jvp(y, x, 1.0)\n"
    p = Program(src, mode="eager")
    j = float(p.evaluate({"x": 0.3})["Y"])
    h = 1e-6
    f = lambda x: float(Program(src.replace("Y = jvp(y, x, 1.0)", "Y = y"), mode="eager")  # noqa: E731
                        .evaluate({"x": x})["Y"])
    assert abs(j - (f(0.3 + h) - f(0.3 - h)) / (2 * h)) < 1e-5
