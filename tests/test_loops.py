"""Loops as graph nodes (cgraph/loops.py, cgraph/build_loops.py): a static `for`
over more than UNROLL_MAX iterations is one `loop` node with a body sub-graph;
its derivative is a reverse loop. Checked here, on hand-written programs and on
random ones (tests/strategies.py `loop_programs`: long, nested and
data-dependent loops, loops in functions, bodies that call grad), that the
static graph really holds loop/while nodes, that values, gradients, second
derivatives and Jacobians equal eager mode's (hand-written ones: the unrolled
graph's too) and finite differences, the cases
that are unrolled instead, the iteration limit, batch runs, drawings,
--explain and export. (The loop op's VJP and JVP are also checked against
finite differences by the generated tests of test_ops_registry.py and
test_forward_mode.py, from its registry test cases.)
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cgraph.optimize.unroll as U
from cgraph.export import export_source
from cgraph.errors import CgraphError
from cgraph.program import Program
from cgraph.cli.jacobian import jacobians
from cli_runner import cli
from strategies import INPUTS, loop_programs

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
    # (the index and a name first bound in the body were taken for inputs of the program)
    "index and a temporary in a function": ("def f(p):\n    for k in range(30):\n"
                                            "        t = sin(k * 0.1)\n        p = cos(p) * 0.9 + t * 0.01\n"
                                            "    return p\ninput x\ny = f(x)\noutput y\n", {"x": 0.4}),
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


def unrolled_as_eager(src, inputs, name):
    """The static graph holds no loop node for src, and gives eager mode's value and
    gradients (the same leaves)."""
    assert loop_count(src, inputs) == 0
    value, grads = Program(src).gradients(inputs)
    ev, eg = Program(src, mode="eager").gradients(inputs)
    assert list(grads) == list(eg)
    close(value, ev, f"{name}: value")
    for k in eg:
        close(grads[k], eg[k], f"{name}: ∂/∂{k}")


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


HIGHER = {  # a derivative inside the program, differentiated again by the run
    "while, grad of grad": ("input x\ninput w\ny = x\nwhile y > 0.01:\n"
                            "    y = y * w + sin(y) * 0.01\ng = grad(y, w)\noutput g\n",
                            {"x": 5.0, "w": 0.7}),
    "while, two carries": ("input x\ninput w\ny = x\nz = w\nwhile y > 0.01:\n"
                           "    y = y * w + sin(z) * 0.01\n    z = z * 0.9 + y * 0.01\n"
                           "g = grad(y + z, w)\noutput g\n", {"x": 5.0, "w": 0.7}),
    "while, a tensor": ("input v: [2]\ninput s\nwhile sum(v * v) > 0.01:\n"
                        "    v = v * s + 0.01 * sin(v)\ng = grad(sum(v * v), s)\ny = g + sum(v)\n"
                        "output y\n", {"v": np.array([1.0, -2.0]), "s": 0.8}),
    "while, third derivative": ("input x\ninput w\ny = x\nwhile y > 0.01:\n"
                                "    y = y * w + sin(y) * 0.01\ng = grad(y, w)\nh = grad(g, w)\n"
                                "output h\n", {"x": 5.0, "w": 0.7}),
    "for, grad of grad": ("input x\ninput w\ny = x\nfor i in range(40):\n"
                          "    y = sin(y) * 0.9 + w * 0.01 * i\ng = grad(y, x) * w\noutput g\n",
                          {"x": 0.5, "w": 0.7}),
    "for, two carries": ("input x: [2]\ninput w\nh = x\ns = w\nfor i in range(25):\n"
                         "    h = tanh(h * s + 0.1)\n    s = s * 0.9 + sum(h) * 0.05\n"
                         "g = grad(sum(h * h) + s, x)\ny = sum(g * g)\noutput y\n",
                         {"x": np.array([0.3, -0.2]), "w": 0.6}),
}


@pytest.mark.parametrize("name", list(HIGHER))
def test_higher_derivatives_through_static_loops(name):
    # once refused in static mode (a while's reverse loop carried the sum of its
    # history's cotangent, a value of a size known only when it runs, and read it
    # wrongly): the reverse loop now carries one row of it a step
    src, inputs = HIGHER[name]
    p = Program(src)
    kind = "while" if name.startswith("while") else "loop"
    assert kind in [n.op.name for n in p.build(inputs, grad=True).nodes]
    value, grads = p.gradients(inputs)
    eager = Program(src, mode="eager")
    ev, eg = eager.gradients(inputs)
    close(value, ev, f"{name}: value")
    for k in eg:
        close(grads[k], eg[k], f"{name}: ∂/∂{k}")
        x = np.asarray(inputs[k], float)
        fd = np.zeros(x.shape)
        for j in np.ndindex(x.shape):
            hi, lo = x.copy(), x.copy()
            hi[j] += 1e-6
            lo[j] -= 1e-6
            f = lambda v: float(eager.evaluate({**inputs, k: v})[list(eager.evaluate(inputs))[-1]])  # noqa: E731
            fd[j] = (f(hi) - f(lo)) / 2e-6
        np.testing.assert_allclose(grads[k], fd, rtol=1e-5, atol=1e-7, err_msg=f"{name}: ∂/∂{k} vs fd")


def test_a_second_derivative_through_a_long_loop_is_linear_in_its_length():
    # the reverse loop of a reverse loop reads the history one row a step: no
    # capture-sized value (2,001 rows here) is carried through every step
    src = ("input x\ny = x\nfor i in range(2000):\n    y = sin(y) * 0.999 + 0.1\n"
           "g = grad(y, x)\noutput g\n")
    g = Program(src).build({"x": 0.5}, grad=True)
    for n in g.nodes:
        if n.op.name == "loop":
            body = n.attrs["body"]
            assert all(len(s) == 0 or max(s) < 100 for s in body.shapes), body.shapes
    value, grads = Program(src).gradients({"x": 0.5})
    ev, eg = Program(src, mode="eager").gradients({"x": 0.5})
    close(value, ev, "value")
    close(grads["x"], eg["x"], "∂/∂x")


ALIASED = {  # grad inside the body, of a carry that starts as (or becomes) another name's node
    "starts as a captured input": "input x\nt = x\nfor j in range(20):\n"
                                  "    t = t - 0.1 * grad(t * t * 0.5 + sin(t) * tanh(x) * 0.3, t)\n"
                                  "out = t\noutput out\n",
    "two carries, one start": "input x\ns = x\nt = x\nfor j in range(20):\n"
                              "    s = s * 0.5 + 0.1 * grad(s * t, s)\n    t = t * 0.9\n"
                              "out = s + t\noutput out\n",
    "becomes a captured input": "input x\ninput w\nt = w\nfor j in range(20):\n"
                                "    u = t - 0.1 * grad(t * x + t * t, t)\n    t = x\n"
                                "out = u + t\noutput out\n",
}


@pytest.mark.parametrize("name", list(ALIASED))
def test_a_carry_that_is_another_name_s_node_is_differentiated_as_unrolled(name):
    # found by the generated tests: unrolled (and in eager mode) the first step's
    # grad(..., t) follows x too when t = x is one node; a loop node's body held t
    # as an input of its own and gave another value. Such a loop is unrolled.
    src = ALIASED[name]
    inputs = {"x": 0.3, "w": 0.5} if "input w" in src else {"x": 0.3}
    assert loop_count(src, inputs) == 0
    value, grads = Program(src).gradients(inputs)
    ev, eg = Program(src, mode="eager").gradients(inputs)
    close(value, ev, f"{name}: value")
    for k in eg:
        close(grads[k], eg[k], f"{name}: ∂/∂{k}")


UNROLLED_SEMANTICS = {  # what a loop node's body cannot hold, found by the generated tests
    "a leaf bound inside": "input x\nfor i in range(20):\n    t = tanh(1.5)\n"
                           "    x = x * 0.9 + t\nout = x\noutput out\n",
    "a leaf of the index": "input x\nfor i in range(20):\n    t = tanh(i * 0.1)\n"
                           "    x = x * 0.9 + t\nout = x\noutput out\n",
    "grad by the index": "input x\nfor i in range(20):\n    x = x * 0.9 + grad(x * i * i, i) * 0.01\n"
                         "out = x\noutput out\n",
}


@pytest.mark.parametrize("name", list(UNROLLED_SEMANTICS))
def test_bodies_whose_unrolled_meaning_a_loop_node_lacks_are_unrolled(name):
    # a top-level name bound to a value that depends on no leaf is a leaf (with a
    # gradient) and the index is a constant (grad by it: zeros) — unrolled and in
    # eager mode; a loop node's body held neither, and its gradients differed
    src = UNROLLED_SEMANTICS[name]
    unrolled_as_eager(src, {"x": 0.3}, name)
    # inside a function no name is a leaf: such a loop stays a node (its body's own
    # name t was once taken for a free name, an input of the program)
    fn = ("def f(x):\n    for i in range(20):\n        t = tanh(1.5)\n        x = x * 0.9 + t\n"
          "    return x\ninput x\nout = f(x)\noutput out\n")
    assert loop_count(fn, {"x": 0.3}) == 1
    value, grads = Program(fn).gradients({"x": 0.3})
    ev, eg = Program(fn, mode="eager").gradients({"x": 0.3})
    close(value, ev, "in a function: value")
    close(grads["x"], eg["x"], "in a function: ∂/∂x")


# ============================================== random programs with loops
RANDOM = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                         HealthCheck.data_too_large])


def assert_loop_nodes(src, inputs, info):
    """The static graph holds the loop and while nodes the program should have
    (at least one of each kind expected: identical loops may be merged)."""
    names = [n.op.name for n in Program(src).build(inputs).nodes]
    for kind in ("loop", "while"):
        if info["expect"][kind]:
            assert kind in names, f"no {kind} node (unrolled?)\n{src}"


def near(a, b, what, rtol=1e-9):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape, what
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale, err_msg=what)


def directions(draw_seed: int) -> dict:
    rng = np.random.default_rng(draw_seed)
    return {k: rng.standard_normal(s) for k, s in INPUTS.items()}


def moved(inputs, d, h):
    return {k: (v + h * d[k] if k in d else v) for k, v in inputs.items()}


def fd_along(f, inputs, d, h=1e-6):
    return (np.asarray(f(moved(inputs, d, h)), float) - np.asarray(f(moved(inputs, d, -h)), float)) / (2 * h)


def along(grads, d) -> float:
    return sum(float(np.sum(np.asarray(grads[k]) * d[k])) for k in d if k in grads)


@settings(RANDOM, max_examples=30)
@given(loop_programs(derivatives=True))
def test_random_loop_programs_agree_between_modes(case):
    src, inputs, info = case
    assert_loop_nodes(src, inputs, info)
    s = Program(src).run(inputs, grad=True)
    e = Program(src, mode="eager").run(inputs, grad=True)
    near(s.outputs["out"], e.outputs["out"], f"out\n{src}")
    assert list(s.gradients) == list(e.gradients), src
    for k in s.gradients:
        near(s.gradients[k], e.gradients[k], f"d/d{k}\n{src}")
    assert s.connected == e.connected, src


@settings(RANDOM, max_examples=25)
@given(loop_programs(smooth=True, derivatives=True), st.integers(0, 2 ** 16))
def test_random_loop_programs_gradients_against_finite_differences(case, seed):
    src, inputs, info = case
    p = Program(src)
    value, grads = p.gradients(inputs)
    d = directions(seed)
    slope = fd_along(lambda x: p.evaluate(x)["out"], inputs, d)
    g = along(grads, d)
    assert abs(g - slope) <= 1e-5 * max(1.0, abs(g), abs(float(value))), f"{g} vs {slope}\n{src}"


@settings(RANDOM, max_examples=15)
@given(loop_programs(smooth=True, derivatives=True), st.sampled_from(sorted(INPUTS)),
       st.integers(0, 2 ** 16))
def test_random_second_derivatives_through_loops(case, x, seed):
    # grad(out, x) in the program, differentiated again: the reverse loops of the
    # program's loops are differentiated (for and while, static and eager)
    src, inputs, info = case
    src = src.replace("output out\n", f"gout = sum(grad(out, {x}) * sin({x}))\noutput gout\n")
    p = Program(src)
    value, grads = p.gradients(inputs)
    ev, eg = Program(src, mode="eager").gradients(inputs)
    near(value, ev, f"gout\n{src}")
    for k in eg:
        near(grads[k], eg[k], f"d/d{k}\n{src}")
    d = directions(seed)
    slope = fd_along(lambda v: p.evaluate(v)["gout"], inputs, d)
    g = along(grads, d)
    assert abs(g - slope) <= 1e-5 * max(1.0, abs(g), abs(float(value))), f"{g} vs {slope}\n{src}"


@settings(RANDOM, max_examples=15)
@given(loop_programs(smooth=True), st.integers(0, 2 ** 16))
def test_random_jacobians_of_loop_results(case, seed):
    src, inputs, info = case
    name = max(info["carries"], key=lambda n: len(info["shapes"][n]))  # a loop's result
    src = src.replace("output out\n", f"output out, {name}\n")
    out = {}
    for mode in ("static", "eager"):
        _, value, jac, _, _, _ = jacobians(Program(src, mode=mode), inputs, of=name)
        out[mode] = value, jac
    (value, jac), (ev, ejac) = out["static"], out["eager"]
    near(value, ev, f"{name}\n{src}")
    assert sorted(jac) == sorted(ejac)
    for k in jac:
        near(jac[k], ejac[k], f"d{name}/d{k}\n{src}")
    d = directions(seed)
    shape = np.shape(value)
    jd = sum(np.tensordot(jac[k], d[k], axes=np.ndim(d[k])) if np.ndim(d[k]) else jac[k] * d[k]
             for k in d if k in jac)
    slope = fd_along(lambda v: Program(src).evaluate(v)[name], inputs, d)
    assert np.shape(jd) == shape
    near(jd, slope, f"J·d of {name}\n{src}", rtol=1e-5)


def test_carried_values_that_never_meet_are_loop_nodes_of_their_own():
    # found by the generated tests: t (on b) shared one loop node with s, so b was
    # "connected" to an output that never reads t — unrolled and eager, it is not
    src = ("input a\ninput b\ns = a\nfor i in range(20):\n    t = tanh(0.5) + 0.1 * b\n"
           "    s = s * 0.5 + 0.1 * sin(s)\nout = s\noutput out\n")
    inputs = {"a": 0.3, "b": 0.2}
    assert loop_count(src, inputs) == 1   # t's loop is dead code
    s, e = (Program(src, mode=m).run(inputs, grad=True) for m in ("static", "eager"))
    assert s.connected == e.connected == {"a": True, "b": False}
    close(s.gradients["a"], e.gradients["a"], "∂/∂a")
    two = src.replace("out = s", "out = s + t")
    assert loop_count(two, inputs) == 2
    s, e = (Program(two, mode=m).run(inputs, grad=True) for m in ("static", "eager"))
    assert s.connected == e.connected == {"a": True, "b": True}
    for k in e.gradients:
        close(s.gradients[k], e.gradients[k], k)


CAPTURED_TARGETS = {  # grad(y, v) in the body, v captured, y reading what depends on v
    "another capture": "input v: [2]\ninput b\nc = v * b\ns = v * 0.5\nfor i in range(20):\n"
                       "    s = sin(s) * 0.9 + 0.1 * tanh(grad(sum(c * v), v))\nout = sum(s)\noutput out\n",
    "a carry": "input w\nx = w * 0.5\nz = w * 0.1\nfor i in range(17):\n    x = x * 0.9 + w * 0.01\n"
               "    z = z * 0.5 + 0.01 * grad(x * w, w)\nout = x + z\noutput out\n",
}


@pytest.mark.parametrize("name", list(CAPTURED_TARGETS))
def test_grad_by_a_captured_value_follows_what_depends_on_it(name):
    # found by the generated tests: unrolled, grad(sum(c * v), v) follows c = v * b
    # too; in a loop node's body c and v were inputs of their own, and it did not
    src = CAPTURED_TARGETS[name]
    inputs = {"v": np.array([0.3, -0.2]), "b": 0.7} if "input v" in src else {"w": 0.7}
    unrolled_as_eager(src, inputs, name)   # (a static while: refused)
    free = "input w\ninput x\nfor i in range(20):\n    x = x * 0.9 + 0.1 * grad(w * w, w)\nout = x\noutput out\n"
    assert loop_count(free, {"w": 0.7, "x": 0.2}) == 1   # nothing else depends on w: a loop node
    w = "while" if name == "a carry" else None
    if w:
        src = src.replace("for i in range(17):", "r = 2 + w * 0\nwhile r > 0.1:\n    r = r * 0.5")
        with pytest.raises(CgraphError, match="needs eager mode"):
            Program(src).gradients(inputs)


def test_export_of_a_body_that_applies_ops_to_the_index(tmp_path):
    # found by the generated tests: the torch module ran torch.tanh on the loop's
    # index, a Python float
    pytest.importorskip("torch")
    # (and on a carry that starts as a literal number)
    src = ("def f(p, q):\n    t = p * 0.9\n    for j in range(20):\n        t = tanh(t) * 0.9 + q * 0.01\n"
           "    return t\ninput x\nfor i in range(20):\n    x = x * 0.5 + 0.1 * tanh(i * 0.1 + x)\n"
           "y = x + f(0.5, x)\noutput y\n")
    p = Program(src)
    assert loop_count(src, {"x": 0.3}) == 2
    path = tmp_path / "loop_index.py"
    path.write_text(export_source(p, "torch", {"x": 0.3}))
    spec = importlib.util.spec_from_file_location("loop_index", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    value, grads = mod.gradients({"x": 0.3})
    ref_value, ref = p.gradients({"x": 0.3})
    close(value.detach().numpy(), ref_value, "value")
    close(grads["x"].detach().numpy(), ref["x"], "∂/∂x")
