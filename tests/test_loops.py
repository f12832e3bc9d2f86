"""Loops as graph nodes (cgraph/loops.py, cgraph/build_loops.py): a static `for`
over more than UNROLL_MAX iterations is one `loop` node with a body sub-graph;
its derivative is a reverse loop. Checked here: values and gradients equal the
unrolled graph's and eager mode's (nested loops, loops in functions, grad
inside, tensors), second derivatives and Jacobians through loops, the cases
that are unrolled instead, the iteration limit, batch runs, drawings,
--explain and export. (The loop op's VJP and JVP are also checked against
finite differences by the generated tests of test_ops_registry.py and
test_forward_mode.py, from its registry test cases.)
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import cgraph.optimize.unroll as U
from cgraph.export import export_source
from cgraph.program import Program
from cli_runner import cli

PROGRAMS = {
    "chain": ("input x\nfor i in range(50):\n    x = sin(x)*0.99 + 0.01*i\noutput x\n",
              {"x": 0.5}),
    "two carries": ("input a\ninput u: [3]\nw = u\ns = a\nfor i in range(40):\n"
                    "    s = s * 0.9 + sum(w) * 0.1\n    w = tanh(w * a + i * 0.01)\n"
                    "y = s + sum(w)\noutput y\n", {"a": 0.7, "u": np.array([0.1, -0.2, 0.3])}),
    "first bound inside": ("input x: [2]\ns = 0\nfor i in range(30):\n    t = x * i\n"
                           "    s = s + sum(sin(t)) * 0.01\ny = s + sum(t)\noutput y\n",
                           {"x": np.array([0.3, 0.4])}),
    "nested": ("input x\nfor i in range(20):\n    for j in range(20):\n"
               "        x = x * 0.999 + 0.001 * sin(x + j)\noutput x\n", {"x": 0.2}),
    "function": ("def f(p, q):\n    return p * q + sin(p)\ninput x\ninput w\n"
                 "for i in range(25):\n    x = f(x, w) * 0.5\noutput x\n", {"x": 0.3, "w": 0.8}),
    "loop in a function": ("def f(p):\n    for k in range(30):\n        p = cos(p) * 0.9\n"
                           "    return p\ninput x\ny = f(x) + f(x * 2)\noutput y\n", {"x": 0.4}),
    "grad inside": ("input x\ny = x\nfor i in range(20):\n    y = y * 0.9 + sin(y) * 0.1\n"
                    "g = grad(y, x)\nz = g * x\noutput z\n", {"x": 0.4}),
    "body calls grad": ("input x\ns = x\nfor i in range(20):\n    s = s - 0.1 * grad(s * s * s, s)\n"
                        "output s\n", {"x": 0.9}),
    "matrix": ("input W: [3,3]\ninput v: [3]\nh = v\nfor i in range(30):\n    h = tanh(W @ h)\n"
               "y = sum(h * h)\noutput y\n", {"W": np.eye(3) * 0.5 + 0.1, "v": np.array([1.0, -1, 0.5])}),
}


def unrolled(monkeypatch):
    monkeypatch.setattr(U, "UNROLL_MAX", 10 ** 9)


def loop_count(src, inputs) -> int:
    g = Program(src).build(inputs, grad=False)
    return sum(n.op.name == "loop" for n in g.nodes)


def close(a, b, what):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-10,
                               atol=1e-13, err_msg=what)


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_a_loop_node_equals_the_unrolled_graph_and_eager_mode(name, monkeypatch):
    src, inputs = PROGRAMS[name]
    assert loop_count(src, inputs) >= 1
    p = Program(src)
    value, grads = p.gradients(inputs)
    outs = p.evaluate(inputs)
    eager = Program(src, mode="eager")
    ev, eg = eager.gradients(inputs)
    unrolled(monkeypatch)
    assert loop_count(src, inputs) == 0
    uv, ug = Program(src).gradients(inputs)
    for other, og, what in ((ev, eg, "eager"), (uv, ug, "unrolled")):
        close(value, other, f"{name}: value vs {what}")
        for k in grads:
            close(grads[k], og[k], f"{name}: ∂/∂{k} vs {what}")
    for k, v in Program(src).evaluate(inputs).items():
        close(outs[k], v, k)


WHILES = {
    "newton": ("const tol = 1e-12\ninput a\nx = a\nwhile abs(x * x - a) > tol:\n"
               "    x = x - (x * x - a) / (2 * x)\nroot = x\noutput root\n", {"a": 2.0}),
    "bisection": ("input c\nlo = 0\nhi = 2\nwhile hi - lo > 1e-10:\n    mid = (lo + hi) / 2\n"
                  "    f = mid * mid * mid - c\n    lo = where(f < 0, mid, lo)\n"
                  "    hi = where(f < 0, hi, mid)\nr = (lo + hi) / 2\noutput r\n", {"c": 2.0}),
    "data-dependent trip count": ("input x\ninput w\nwhile x > 0.01:\n    x = x * w\ny = x * 3\n"
                                  "output y\n", {"x": 5.0, "w": 0.7}),
    "tensor carry": ("input v: [2]\ninput s\nwhile sum(v * v) > 0.01:\n    v = v * s + 0.001\n"
                     "y = sum(v)\noutput y\n", {"v": np.array([1.0, -2.0]), "s": 0.8}),
}


@pytest.mark.parametrize("name", list(WHILES))
def test_a_static_while_node_equals_eager_mode(name):
    src, inputs = WHILES[name]
    p = Program(src)
    g = p.build(inputs, grad=True)
    assert [n.op.name for n in g.nodes].count("while") >= 1
    value, grads = p.gradients(inputs)
    ev, eg = Program(src, mode="eager").gradients(inputs)
    close(value, ev, f"{name}: value")
    for k in eg:
        close(grads[k], eg[k], f"{name}: ∂/∂{k}")
    if name == "newton":
        assert abs(float(value) - 2 ** 0.5) < 1e-15
        close(grads["a"], 0.5 / 2 ** 0.5, "d sqrt(a)/da")


def test_a_static_while_that_does_not_end_is_an_error(tmp_path):
    src = tmp_path / "w.cg"
    src.write_text("input x\nwhile x > 0:\n    x = x + 1\n")
    r = cli("eval", src, "x=1", "--max-iterations", "1000")
    assert r.code == 1 and "did not end after 1,000 iterations" in r.stderr
    assert "Traceback" not in r.stderr


def test_one_node_not_n_copies():
    src = "input x\nfor i in range(10000):\n    x = sin(x)*0.999 + 0.1\noutput x\n"
    p = Program(src)
    g = p.build({"x": 0.5}, grad=True)
    assert len(g.nodes) < 60
    loops = [n for n in g.nodes if n.op.name == "loop"]
    assert {n.attrs["n"] for n in loops} == {10000}
    assert any(n.attrs["step"] == -1.0 for n in loops)  # the reverse loop
    assert any(n.attrs.get("history") for n in loops)   # the forward loop keeping its carries
    value, grads = p.gradients({"x": 0.5})
    ev, eg = Program(src, mode="eager").gradients({"x": 0.5})
    close(value, ev, "value")
    close(grads["x"], eg["x"], "grad")


def test_short_loops_and_bodies_a_loop_node_cannot_hold_are_unrolled():
    short = "input x\nfor i in range(BL_N):\n    x = x * 2\noutput x\n".replace(
        "BL_N", str(U.UNROLL_MAX))
    assert loop_count(short, {"x": 1.0}) == 0
    for body in ("    print(x)\n    x = x * 0.5\n",          # an effect
                 "    if i == 0:\n        x = x * 3\n    x = x * 0.5\n",  # the index's value
                 "    x = x * randn([], seed=1)\n",          # a draw per iteration
                 "    v = concat([v, [1.0]])\n"):            # a carry whose shape grows
        src = f"input x\nv = [1.0, 2.0, 3.0]\nfor i in range(20):\n{body}y = sum(v) * x\n"
        assert loop_count(src, {"x": 1.0}) == 0, body
        e = Program(src, mode="eager").evaluate({"x": 1.0})
        s = Program(src).evaluate({"x": 1.0})
        for k in s:
            close(s[k], e[k], body)


def test_a_tensor_index_by_the_loop_variable_stays_a_loop_node():
    src = "input x\nv = [1.0, 2.0, 3.0]\nfor i in range(20):\n    x = x * v[i % 3] * 0.5\ny = x\n"
    assert loop_count(src, {"x": 1.0}) == 1
    value, grads = Program(src).gradients({"x": 1.0})
    ev, eg = Program(src, mode="eager").gradients({"x": 1.0})
    close(value, ev, "value")
    for k in eg:
        close(grads[k], eg[k], k)


def test_second_derivatives_and_jacobians_through_a_loop(tmp_path):
    src = tmp_path / "l.cg"
    src.write_text("input x: [2]\nh = x\nfor i in range(30):\n    h = tanh(h * 0.9 + sin(x) * 0.1)\n"
                   "y = sum(h * h) + h[0] * h[1]\n")
    out = {}
    for mode in ("static", "eager"):
        h = cli("hessian", src, "x=[0.3,-0.2]", "--mode", mode, "--json")
        j = cli("jacobian", src, "x=[0.3,-0.2]", "--mode", mode, "--json", "--of", "y")
        assert h.code == 0 and j.code == 0, h.stderr + j.stderr
        out[mode] = (h.json["hessians"]["x"]["value"], j.json)
    close(out["static"][0], out["eager"][0], "hessian")
    assert np.shape(out["static"][0]) == (2, 2)


def test_the_iteration_limit_counts_a_loop_node_s_iterations(tmp_path):
    src = tmp_path / "l.cg"
    src.write_text("input x\nfor i in range(10000):\n    x = x * 0.5\n")
    r = cli("eval", src, "x=1", "--max-iterations", "5000")
    assert r.code == 1 and "iterations" in r.stderr and "Traceback" not in r.stderr


def test_batch_runs_go_through_loop_nodes(tmp_path):
    src = tmp_path / "l.cg"
    src.write_text("input x\nfor i in range(100):\n    x = sin(x) * 0.99 + 0.01\ny = x\n")
    rows = tmp_path / "rows.csv"
    rows.write_text("x\n0.1\n0.5\n-0.3\n")
    r = cli("grad", src, "--inputs", rows, "--json")
    assert r.code == 0, r.stderr
    doc = r.json
    p = Program(src.read_text())
    for k, x in enumerate((0.1, 0.5, -0.3)):
        value, grads = p.gradients({"x": x})
        assert abs(doc["outputs"]["y"]["value"][k] - float(value)) < 1e-12
        assert abs(doc["gradients"]["x"]["value"][k] - float(grads["x"])) < 1e-12


@pytest.mark.parametrize("target", ["numpy", "torch"])
def test_export_writes_a_loop_as_a_for_loop(tmp_path, target):
    if target == "torch":
        pytest.importorskip("torch")
    src, inputs = PROGRAMS["two carries"]
    p = Program(src)
    text = export_source(p, target, inputs)
    # NumPy: the forward loop, the one keeping its carries, the reverse loop; torch: forward
    assert "for k in range(40):" in text and text.count("range(40)") >= (3 if target == "numpy" else 1)
    path = tmp_path / f"loop_{target}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"loop_{target}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    value, grads = mod.gradients(inputs)
    ref_value, ref = p.gradients(inputs)
    arr = (lambda v: v.detach().numpy()) if target == "torch" else np.asarray
    close(arr(value), ref_value, "value")
    for k in ref:
        close(arr(grads[k]), ref[k], k)
