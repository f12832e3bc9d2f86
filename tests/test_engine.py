"""The engine through the Python API: values, gradients, modes, errors."""
from __future__ import annotations

import numpy as np
import pytest

import cgraph
from cgraph import CgraphError
from cgraph.program import Program

SEED = "(a+b)*(b-c)"
SEED_SCRIPT = "a = 2\nb = 3\nc = 4\nd = a + b\ne = b - c\nY = d * e\n"
MODES = ["static", "eager"]


@pytest.mark.parametrize("mode", MODES)
def test_seed_expression(mode):
    outs = cgraph.evaluate(SEED, {"a": 2, "b": 3, "c": 4}, mode=mode)
    assert list(outs) == ["Y"] and float(outs["Y"]) == -5.0
    value, grads = cgraph.gradients(SEED, {"a": 2, "b": 3, "c": 4}, mode=mode)
    assert float(value) == -5.0
    assert {k: float(v) for k, v in grads.items()} == {"a": -1.0, "b": 4.0, "c": -5.0}
    assert all(isinstance(v, np.ndarray) for v in grads.values())


@pytest.mark.parametrize("mode", MODES)
def test_seed_script_leaves_and_overrides(mode):
    p = Program(SEED_SCRIPT, "seed.cg", mode=mode)
    value, grads = p.gradients()
    assert float(value) == -5.0
    assert {k: float(v) for k, v in grads.items()} == {"a": -1.0, "b": 4.0, "c": -5.0}
    assert 2.0 not in (float(grads["b"]), float(grads["c"])) or float(grads["b"]) == 4.0
    value, grads = p.gradients({"a": 1.0})  # a leaf's default may be overridden
    assert float(value) == -4.0 and float(grads["b"]) == 3.0


def test_compiled_program_reused():
    p = cgraph.compile(SEED)
    for a in range(5):
        value, grads = p.gradients({"a": a, "b": 3, "c": 4})
        assert float(value) == (a + 3) * (3 - 4)
        assert float(grads["a"]) == -1.0
    assert len(p._plans) == 1


@pytest.mark.parametrize("mode", MODES)
def test_second_derivative(mode):
    outs = cgraph.evaluate("grad(grad(x^3, x), x)", {"x": 2.0}, mode=mode)
    assert float(outs["Y"]) == pytest.approx(12.0)
    outs = cgraph.evaluate("x = 2\ny = grad(x^3, x)\n", mode=mode)
    assert float(outs["y"]) == pytest.approx(12.0)


@pytest.mark.parametrize("mode", MODES)
def test_jacobian_hessian(mode):
    src = "input x: [3]\nJ = jacobian(x * x, x)\nH = hessian(sum(x^3), x)\noutput J, H\n"
    outs = cgraph.evaluate(src, {"x": [1.0, 2.0, 3.0]}, mode=mode)
    np.testing.assert_allclose(outs["J"], np.diag([2.0, 4.0, 6.0]))
    np.testing.assert_allclose(outs["H"], np.diag([6.0, 12.0, 18.0]))


@pytest.mark.parametrize("mode", MODES)
def test_broadcast_gradient_summed_back(mode):
    src = "input W: [2, 3]\ninput b: [3]\nL = sum(W + b)\n"
    _, g = cgraph.gradients(src, {"W": np.ones((2, 3)), "b": np.zeros(3)}, mode=mode)
    np.testing.assert_allclose(g["b"], [2.0, 2.0, 2.0])
    np.testing.assert_allclose(g["W"], np.ones((2, 3)))


@pytest.mark.parametrize("mode", MODES)
def test_not_connected_leaf_gets_zeros(mode):
    r = Program("a = 2\nb = [1, 2]\ny = a * 3\n", mode=mode).run(grad=True)
    assert float(r.gradients["a"]) == 3.0
    np.testing.assert_array_equal(r.gradients["b"], [0.0, 0.0])
    assert r.connected == {"a": True, "b": False}


@pytest.mark.parametrize("mode", MODES)
def test_functions_loops_and_build_time_if(mode):
    src = """
def f(x, k):
    y = x
    for i in range(3):
        y = y * k
    return y
def g(x): return f(x, 2) + 1
const flag = true
n = 2
if flag:
    z = g(x)
else:
    z = -g(x)
for j in range(n):
    z += j
"""
    value, grads = cgraph.gradients(src, {"x": 1.5}, mode=mode)
    assert float(value) == pytest.approx(1.5 * 8 + 1 + 0 + 1)
    assert float(grads["x"]) == pytest.approx(8.0)
    assert "n" not in grads  # a range bound fixes the structure: not a leaf


def test_data_dependent_if_needs_eager():
    src = "input x\nif x > 0:\n    y = x\nelse:\n    y = -x\n"
    with pytest.raises(CgraphError) as e:
        cgraph.evaluate(src, {"x": 2.0})
    assert "--mode eager" in e.value.hint
    assert float(cgraph.evaluate(src, {"x": -2.0}, mode="eager")["y"]) == 2.0


def test_while_in_both_modes_and_guard():
    src = "x = 1\nwhile x < 100:\n    x = x * 2\n"
    assert float(cgraph.evaluate(src)["x"]) == 128.0  # static: one while node
    assert float(cgraph.evaluate(src, mode="eager")["x"]) == 128.0
    with pytest.raises(CgraphError) as e:  # a body a loop node cannot hold still needs eager
        cgraph.evaluate("x = 1\nwhile x < 100:\n    x = x * 2\n    print(x)\n")
    assert "eager" in e.value.hint
    for mode in ("eager", "static"):
        with pytest.raises(CgraphError) as e:
            Program("x = 1\nwhile x > 0:\n    x = x + 1\n", mode=mode, max_iterations=50).evaluate()
        assert e.value.line == 2 and "did not end" in e.value.message, mode


def test_errors_reported_together_with_spans():
    src = "input x: [3]\ninput W: [4, 2]\ny = W @ x\nz = foo(x)\nw = x + [1, 2]\n"
    with pytest.raises(CgraphError) as e:
        Program(src, "m.cg").check()
    kinds = [(d.kind, d.line) for d in e.value.errors]
    assert ("shape", 3) in kinds and ("name", 4) in kinds and ("shape", 5) in kinds
    first = e.value.errors[0]
    assert first.line_text == "y = W @ x" and first.span.column == 5
    assert "2" in first.message and "3" in first.message


def test_typo_hint_and_missing_inputs():
    with pytest.raises(CgraphError) as e:
        cgraph.evaluate("(a+b)*(b-c)", {"a": 1, "b": 2})
    assert "'c'" in e.value.message
    with pytest.raises(CgraphError) as e:
        cgraph.evaluate("(a+b)*(b-c)", {"a": 1, "b": 2, "cc": 3})
    msgs = " ".join(d.message + " " + (d.hint or "") for d in e.value.errors)
    assert "cc" in msgs and "'c'" in msgs


def test_declared_shape_checked():
    with pytest.raises(CgraphError) as e:
        cgraph.evaluate("input x: [n, 3]\ny = sum(x) / n\n", {"x": np.ones((2, 4))})
    assert e.value.kind == "shape"
    out = cgraph.evaluate("input x: [n, 3]\ny = sum(x) / n\n", {"x": np.ones((2, 3))})
    assert float(out["y"]) == 3.0


def test_long_chain_is_flat():
    n = 100_000
    src = "x = 1\n" + "x = x * 1.0000001 + 0.0000001\n" * 1  # warm the parser
    cgraph.evaluate(src)
    from cgraph.autodiff import backward
    from cgraph.execute import Plan
    from cgraph.ir import Graph

    g = Graph()
    x = g.sym(g.leaf("x", "input", shape=()))
    y = x
    for _ in range(n):
        y = y * 1.0 + 0.0
    grads = backward(g, y.id, [x.id])
    vals = Plan(g, [y.id, grads[x.id]]).run({"x": np.float64(3.0)})
    assert float(vals[y.id]) == 3.0 and float(vals[grads[x.id]]) == 1.0


def test_float32_runs_in_float32():
    out = cgraph.evaluate("x * 2 + 1", {"x": [1.0, 2.0]}, dtype="float32")
    assert out["Y"].dtype == np.float32
    _, g = cgraph.gradients("sum(x * x)", {"x": [1.0, 2.0]}, dtype="float32")
    assert g["x"].dtype == np.float32


def test_seeded_randomness_is_reproducible():
    a = cgraph.evaluate("randn([3])")["Y"]
    b = cgraph.evaluate("randn([3])")["Y"]
    c = cgraph.evaluate("randn([3])", seed=1)["Y"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    two = cgraph.evaluate("x = randn([3])\ny = randn([3])\noutput x, y")
    assert not np.array_equal(two["x"], two["y"])


def test_print_and_assert(capsys):
    cgraph.evaluate("x = 3\nprint(\"x is\", x * 2)\ny = x\n")
    assert capsys.readouterr().out.strip() == "x is 6"
    with pytest.raises(CgraphError) as e:
        cgraph.evaluate("input x\nassert x > 0, \"x must be positive\"\ny = x\n", {"x": -1.0})
    assert "x must be positive" in e.value.message and e.value.line == 2


@pytest.mark.parametrize("mode", MODES)
def test_eager_recursion(mode):
    src = "def fact(n):\n    if n <= 1:\n        return 1\n    return n * fact(n - 1)\ny = fact(5)\n"
    if mode == "static":
        with pytest.raises(CgraphError):
            cgraph.evaluate(src, mode=mode)
    else:
        assert float(cgraph.evaluate(src, mode=mode)["y"]) == 120.0


@pytest.mark.parametrize("mode", MODES)
def test_structural_leaves_freeze_through_expressions(mode):
    src = "n = 3\nm = n * 2\ns = 0\nfor i in range(m):\n    s += i\n"
    r = Program(src, mode=mode).run(grad=True)
    assert float(r.outputs["s"]) == 15.0
    assert "n" not in r.gradients and "m" not in r.gradients
    with pytest.raises(CgraphError) as e:
        Program(src, mode=mode).run({"n": 4})
    assert "structure" in e.value.message and e.value.line == 1


@pytest.mark.parametrize("mode", MODES)
def test_prod_gradient_with_zeros(mode):
    for x, want in [([2.0, 3.0, 4.0], [12.0, 8.0, 6.0]), ([2.0, 0.0, 4.0], [0.0, 8.0, 0.0]),
                    ([0.0, 0.0, 4.0], [0.0, 0.0, 0.0])]:
        _, g = cgraph.gradients("prod(x)", {"x": x}, mode=mode)
        np.testing.assert_array_equal(g["x"], want)
    h = cgraph.evaluate("hessian(prod(x), x)", {"x": [2.0, 3.0, 4.0]}, mode=mode)["Y"]
    np.testing.assert_array_equal(h, [[0, 4, 3], [4, 0, 2], [3, 2, 0]])
