"""Static and eager mode (LANGUAGE.md §7): eager semantics, and the promise
that a program valid in both modes gives the same values and gradients.

- eager mode runs each statement as it is reached, recording every op on the
  same IR as static mode; `if`/`while` test real values; `for` may run over a
  computed integer; functions may recurse (depth guard); `while` has a
  trip guard; `print` prints at once; `assert` fails at its line;
- every example in examples/*.cg runs in both modes with the same values and
  gradients. An example that needs eager mode says so with a comment line
  of its own, exactly `# mode: eager` (the test runs it in eager mode only);
  an unmarked example whose static build fails with a hint naming
  `--mode eager` is skipped with that reason;
- random valid programs (tests/strategies.py) give the same values and
  gradients in both modes;
- eager-only programs (Newton's iteration, a piecewise function, a loop
  whose trip count depends on data) are checked against finite differences
  of the whole eager run.
"""
from __future__ import annotations

import contextlib
import glob
import io
import math
import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from cgraph import CgraphError
from cgraph import ast as A
from cgraph.ir import Graph
from cgraph.program import Program

from strategies import programs

MODES = ("static", "eager")
RTOL, ATOL = 1e-10, 1e-12  # static mode may fuse/simplify: not bit-for-bit
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.cg")))
EAGER_MARK = re.compile(r"^#\s*mode:\s*eager\s*$", re.MULTILINE)


# ------------------------------------------------------------------ helpers
def run(src, inputs=None, mode="eager", grad=True, file="<test>", **kw):
    return Program(src, file, mode=mode, **kw).run(inputs, grad=grad)


def assert_same(a, b, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=what)


def assert_modes_agree(src, inputs=None, file="<test>", grad=True):
    """Run in both modes; outputs, gradients and connectivity must agree."""
    r = {m: run(src, inputs, m, grad, file) for m in MODES}
    s, e = r["static"], r["eager"]
    assert list(s.outputs) == list(e.outputs)
    for k in s.outputs:
        assert_same(s.outputs[k], e.outputs[k], f"output {k}\n{src}")
    assert list(s.gradients) == list(e.gradients), src
    for k in s.gradients:
        assert_same(s.gradients[k], e.gradients[k], f"d/d{k}\n{src}")
    assert s.connected == e.connected
    return s, e


def fd(f, x, h=1e-6):
    """Central finite difference of a scalar function of a float."""
    return (f(x + h) - f(x - h)) / (2 * h)


def ops(graph, first=0, last=None):
    return [n.op.name for n in graph.nodes[first:last]]


# ======================================================== eager semantics
def test_eager_records_the_same_ir_as_static():
    src = "input x: [3]\ninput W: [2, 3]\nh = tanh(W @ x)\ny = sum(h * h) + mean(x)\n"
    inputs = {"x": [0.1, -0.2, 0.3], "W": np.arange(6.0).reshape(2, 3) / 6}
    eager = run(src, inputs, "eager")
    static_graph = Program(src, mode="static", optimize=False).build(inputs, grad=True)
    assert isinstance(eager.graph, Graph) and eager.graph.eager
    # the same ops, in the same order, forward and backward
    assert ops(eager.graph) == ops(static_graph)
    assert [n.shape for n in eager.graph.nodes] == [n.shape for n in static_graph.nodes]
    # every recorded node has its value: it ran when it was added
    assert all(v is not None for v in eager.values)


def test_each_statement_runs_when_reached(capsys):
    # static mode finds the shape error before anything runs; eager runs line 2 first
    src = 'input x: [3]\nprint("started")\ny = x + [1, 2]\nprint("never")\n'
    with pytest.raises(CgraphError) as e:
        run(src, {"x": [1.0, 2.0, 3.0]}, "static")
    assert e.value.kind == "shape" and e.value.line == 3
    assert capsys.readouterr().out == ""
    with pytest.raises(CgraphError) as e:
        run(src, {"x": [1.0, 2.0, 3.0]}, "eager")
    assert e.value.kind == "shape" and e.value.line == 3 and len(e.value.errors) == 1
    assert capsys.readouterr().out == "started\n"


def test_print_is_immediate_and_interleaves_with_a_failing_assert(capsys):
    src = ('input x\nprint("start", x)\ny = x * 2\nfor i in range(3):\n    y = y + i\n'
           '    print("step", i, y)\nassert y > 100, "y is too small"\nprint("not reached")\n')
    with pytest.raises(CgraphError) as e:
        run(src, {"x": 1.0}, "eager")
    assert e.value.kind == "runtime" and e.value.line == 7
    assert "y is too small" in e.value.message
    assert capsys.readouterr().out.splitlines() == [
        "start 1", "step 0 2", "step 1 3", "step 2 5"]
    # the earlier prints of a run that fails later appear, in order, before the error
    out = run(src.replace("100", "0"), {"x": 1.0}, "eager").outputs
    assert float(out["y"]) == 5.0
    assert capsys.readouterr().out.splitlines()[-1] == "not reached"


def test_print_inside_a_while_shows_each_iteration(capsys):
    run('x = 1\nwhile x < 20:\n    x = x * 3\n    print("x", x)\n', grad=False)
    assert capsys.readouterr().out.splitlines() == ["x 3", "x 9", "x 27"]


@pytest.mark.parametrize("x, branch", [(-2.0, "neg"), (0.5, "small"), (3.0, "big")])
def test_if_elif_else_on_data(x, branch):
    src = ("input x\nif x < 0:\n    y = -x\n    b = 1\nelif x < 1:\n    y = x ^ 3\n    b = 2\n"
           "else:\n    y = 2 * x\n    b = 3\noutput y, b\n")
    out = run(src, {"x": x}, grad=False).outputs
    expect = {"neg": (-x, 1), "small": (x ** 3, 2), "big": (2 * x, 3)}[branch]
    assert (float(out["y"]), float(out["b"])) == pytest.approx(expect)
    with pytest.raises(CgraphError) as e:
        run(src, {"x": x}, "static", grad=False)
    assert "--mode eager" in e.value.hint and e.value.line == 2


def test_condition_must_be_a_single_value():
    with pytest.raises(CgraphError) as e:
        run("input x: [2]\nif x > 0:\n    y = x\nelse:\n    y = -x\n", {"x": [1.0, -1.0]})
    assert e.value.line == 2 and "single value" in e.value.message


def test_recorded_graph_is_the_path_taken():
    src = "input x\nif x > 0:\n    y = exp(x)\nelse:\n    y = cos(x)\n"
    pos = run(src, {"x": 1.0})
    neg = run(src, {"x": -1.0})
    assert "exp" in ops(pos.graph) and "cos" not in ops(pos.graph)
    assert "cos" in ops(neg.graph) and "exp" not in ops(neg.graph)
    # the gradients are the taken branch's derivatives
    assert float(pos.gradients["x"]) == pytest.approx(math.exp(1.0))
    assert float(neg.gradients["x"]) == pytest.approx(math.sin(1.0))
    # a while loop records exactly the iterations it ran
    r = run("input x\nwhile x < 100:\n    x = x * 3\n", {"x": 2.0})
    forward = ops(r.graph, 0, r.graph.outputs["x"] + 1)  # the backward nodes come after
    assert forward.count("mul") == 4 and float(r.outputs["x"]) == 162.0
    assert float(r.gradients["x"]) == 81.0


def test_for_over_a_computed_integer():
    src = "input x\ninput n\ny = 1\nfor i in range(n * 2 - 1):\n    y = y * x\n"
    r = run(src, {"x": 1.5, "n": 3.0})
    assert float(r.outputs["y"]) == pytest.approx(1.5 ** 5)
    assert float(r.gradients["x"]) == pytest.approx(5 * 1.5 ** 4)
    assert not r.connected["n"] and float(r.gradients["n"]) == 0.0
    # a bound computed from data: floor(x) multiplications
    src = "input x\ny = x\nfor i in range(floor(x)):\n    y = y * x\n"
    r = run(src, {"x": 3.5})
    assert float(r.outputs["y"]) == pytest.approx(3.5 ** 4)
    assert float(r.gradients["x"]) == pytest.approx(4 * 3.5 ** 3)
    with pytest.raises(CgraphError) as e:  # static mode cannot
        run(src, {"x": 3.5}, "static")
    assert "--mode eager" in e.value.hint
    with pytest.raises(CgraphError) as e:  # not an integer
        run("input n\nfor i in range(n):\n    y = i\n", {"n": 2.5})
    assert e.value.kind == "value" and e.value.line == 2


def test_recursion_and_its_depth_guard():
    src = ("input x\ndef power(x, n):\n    if n == 0:\n        return 1\n"
           "    return x * power(x, n - 1)\ny = power(x, 5)\n")
    r = run(src, {"x": 1.2})
    assert float(r.outputs["y"]) == pytest.approx(1.2 ** 5)
    assert float(r.gradients["x"]) == pytest.approx(5 * 1.2 ** 4)
    with pytest.raises(CgraphError) as e:
        run(src, {"x": 1.2}, "static")
    assert "eager" in e.value.hint
    # a recursion without a reachable base case: a clean error, not a Python crash
    src = "def f(n):\n    return f(n - 1) + 1\ny = f(3)\n"
    with pytest.raises(CgraphError) as e:
        run(src, grad=False)
    assert e.value.kind == "runtime" and e.value.line == 2 and "nest deeper" in e.value.message
    assert "base case" in e.value.hint


def test_while_guard_stops_a_loop_that_does_not_end(capsys):
    assert Program("1").max_iterations == 100_000  # the default
    src = 'x = 1\ny = 0\n\nwhile x > 0:\n    x = x + 1\n    print("again")\n'
    with pytest.raises(CgraphError) as e:
        Program(src, "loop.cg", mode="eager", max_iterations=7).run()
    assert e.value.line == 4 and e.value.kind == "runtime"
    assert "did not end after 7 iterations" in e.value.message
    assert "--max-iterations" in e.value.hint
    assert capsys.readouterr().out.count("again") == 7
    # the same loop with a guard it does not reach
    assert float(Program("x = 1\nwhile x < 50:\n    x = x + 1\n", mode="eager",
                         max_iterations=49).evaluate()["x"]) == 50.0


def test_assert_fails_at_its_line_in_a_function():
    src = ('def safe_log(x):\n    assert x > 0, "log of a non-positive number"\n    return log(x)\n'
           "input a\ny = safe_log(a)\n")
    assert float(run(src, {"a": math.e}).outputs["y"]) == pytest.approx(1.0)
    for mode in MODES:
        with pytest.raises(CgraphError) as e:
            run(src, {"a": -1.0}, mode)
        assert e.value.line == 2 and "log of a non-positive number" in e.value.message


def test_gradients_match_static_mode():
    src = ("input x: [3]\nparam W = randn([2, 3], seed=3)\nb = [0.1, -0.2]\n"
           "def layer(z): return tanh(W @ z + b)\nh = layer(x)\nconst k = 2\n"
           "if k > 1:\n    h = h * k\nloss = sum(h ^ 2) + logsumexp(x)\n")
    s, e = assert_modes_agree(src, {"x": [0.5, -1.0, 2.0]})
    assert set(s.gradients) == {"x", "W", "b"}


@pytest.mark.parametrize("mode", MODES)
def test_in_language_derivatives_agree(mode):
    src = ("input x: [2]\nf = sum(sin(x) * x)\ng = grad(f, x)\nH = hessian(f, x)\n"
           "J = jacobian(x * x, x)\ngg = grad(sum(g * g), x)\nL = sum(g) + sum(H) + sum(gg)\n"
           "output L, g, H, J\n")
    x = np.array([0.3, -0.7])
    r = run(src, {"x": x}, mode)
    np.testing.assert_allclose(r.outputs["g"], np.sin(x) + x * np.cos(x))
    np.testing.assert_allclose(r.outputs["H"], np.diag(2 * np.cos(x) - x * np.sin(x)))
    np.testing.assert_allclose(r.outputs["J"], np.diag(2 * x))
    other = run(src, {"x": x}, "eager" if mode == "static" else "static")
    for k in r.outputs:
        assert_same(r.outputs[k], other.outputs[k], k)
    assert_same(r.gradients["x"], other.gradients["x"], "dL/dx")


def test_grad_drives_eager_control_flow():
    # gradient descent until the gradient is small: a while on a grad value
    src = ("input x0\nx = x0\nwhile abs(grad((x - 3) ^ 2, x)) > 1e-8:\n"
           "    x = x - 0.25 * grad((x - 3) ^ 2, x)\n")
    r = run(src, {"x0": 0.0})
    assert float(r.outputs["x"]) == pytest.approx(3.0)
    assert abs(float(r.gradients["x0"])) < 1e-8  # each step halves the distance to 3


def test_grad_of_a_constant_is_zero_in_both_modes():
    # a loop index (or a const) is never differentiated: static mode folds it away
    src = ("out = 0\nfor i in range(3):\n    out = out + grad(0.5 * i * i, i)\nconst k = 2\n"
           "z = grad(k ^ 2, k)\noutput out, z\n")
    for mode in MODES:
        r = run(src, mode=mode, grad=False)
        assert float(r.outputs["out"]) == 0.0 and float(r.outputs["z"]) == 0.0


def test_frozen_leaf_is_a_constant_in_both_modes():
    # `n` fixes a loop's trip count, so it is frozen into a constant: a later
    # const may use it in either mode
    src = "n = 2\ny = 0\nfor i in range(n):\n    y = y + i\nconst k = n * 2\nz = k * x\n"
    s, e = assert_modes_agree(src, {"x": 2.0})
    assert float(e.outputs["z"]) == 8.0 and "n" not in e.gradients


def test_grad_of_unfolded_constant_binds_a_leaf_with_a_value():
    # grad(...) of a linear function is leaf-free but the backward pass leaves it
    # unfolded in static mode; binding it must still give a valued leaf
    src = ("input a\nh = grad(sum(0.5 * a), a)\nconst k = grad(2 * a, a)\nout = a * h\n"
           "for i in range(k):\n    out = out + a\n")
    s, e = assert_modes_agree(src, {"a": 3.0})
    assert float(e.outputs["out"]) == pytest.approx(1.5 + 6.0)
    assert float(e.gradients["h"]) == 3.0


# ============================================================== examples
def _example_inputs(prog) -> dict:
    """Values for the inputs an example declares: by declared shape (a named dim
    is 3), from a fixed seed, positive (away from domain edges)."""
    rng = np.random.default_rng(0)
    out = {}
    for st in prog.ast.body:
        if isinstance(st, A.Input):
            shape = tuple(int(d.value) if isinstance(d, A.Num) else 3 for d in (st.shape or ()))
            out[st.name] = rng.uniform(0.5, 1.5, shape)
            if "label" in st.name:  # class labels are whole numbers
                out[st.name] = np.floor(out[st.name] * 2)
    return out


def _run_example(path, mode, inputs):
    src = open(path, encoding="utf-8").read()
    try:
        return Program(src, path, mode=mode).run(inputs, grad=True)
    except CgraphError as e:
        if "scalar" not in e.message:
            raise
        return Program(src, path, mode=mode).run(inputs)  # a tensor output: values only


@pytest.mark.parametrize("path", EXAMPLES, ids=[os.path.basename(p) for p in EXAMPLES])
def test_example_runs_in_both_modes(path, capsys):
    src = open(path, encoding="utf-8").read()
    inputs = _example_inputs(Program(src, path))
    eager = _run_example(path, "eager", inputs)
    if EAGER_MARK.search(src):
        with pytest.raises(CgraphError) as e:  # the mark is there for a reason
            _run_example(path, "static", inputs)
        assert "--mode eager" in (e.value.hint or "") + e.value.message
        return
    try:
        static = _run_example(path, "static", inputs)
    except CgraphError as e:
        if "--mode eager" in (e.hint or ""):
            pytest.skip(f"{os.path.basename(path)} needs eager mode (mark it `# mode: eager`)")
        raise
    assert list(static.outputs) == list(eager.outputs)
    for k in static.outputs:
        assert_same(static.outputs[k], eager.outputs[k], f"{path}: {k}")
    assert list(static.gradients) == list(eager.gradients)
    for k in static.gradients:
        assert_same(static.gradients[k], eager.gradients[k], f"{path}: d/d{k}")
    assert static.connected == eager.connected


def test_there_are_eager_only_examples():
    marked = [os.path.basename(p) for p in EXAMPLES if EAGER_MARK.search(open(p).read())]
    assert {"newton.cg", "piecewise.cg"} <= set(marked)
    assert "rnn.cg" not in marked


# ============================================ random programs, both modes
@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(derivatives=True, prints=True, asserts=True))
def test_random_programs_agree_between_modes(case):
    src, inputs = case
    printed, results = {}, {}
    for mode in MODES:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            results[mode] = run(src, inputs, mode, file="<random>")
        printed[mode] = buf.getvalue().splitlines()
    s, e = results["static"], results["eager"]
    assert list(s.outputs) == list(e.outputs) == ["out"]
    assert_same(s.outputs["out"], e.outputs["out"], src)
    assert list(s.gradients) == list(e.gradients), src
    for k in s.gradients:
        assert_same(s.gradients[k], e.gradients[k], f"d/d{k}\n{src}")
    assert s.connected == e.connected, src
    # print runs once per reached print statement, in program order, in both modes
    assert [p.split()[0] for p in printed["static"] if p.startswith("value")] == \
        [p.split()[0] for p in printed["eager"] if p.startswith("value")]
    assert len(printed["static"]) == len(printed["eager"])


# ================================================ eager-only programs
NEWTON = """
input x0
const tol = {tol}
x = x0
while abs(x * x - 2) > tol:
    x = x - (x * x - 2) / (2 * x)
root = x
"""


def test_newton_sqrt2_and_its_derivative_wrt_the_start():
    src = NEWTON.format(tol=1e-12)
    p = Program(src, mode="eager")
    for x0 in (1.0, 3.0, 0.3):
        value, grads = p.gradients({"x0": x0})
        assert float(value) == pytest.approx(math.sqrt(2), rel=1e-13, abs=0)
        # the root does not depend on where the iteration starts: ∂root/∂x0 ≈ 0,
        # and finite differences of the whole eager run agree
        slope = fd(lambda s: float(p.evaluate({"x0": s})["root"]), x0)
        assert abs(float(grads["x0"])) < 1e-8 and abs(slope) < 1e-8
    static = Program(src, mode="static")  # a while node: the same value and gradient
    for x0 in (1.0, 3.0, 0.3):
        sv, sg = static.gradients({"x0": x0})
        ev, eg = p.gradients({"x0": x0})
        assert float(sv) == float(ev) and abs(float(sg["x0"]) - float(eg["x0"])) < 1e-15


def test_newton_stopped_early_differentiates_the_steps_taken():
    # with a loose tolerance the loop stops after 3 steps (x0 = 1: 1.5, 1.41667, 1.414216):
    # d root/d x0 is the product of N'(x) = 1/2 - 1/x² along the iterates
    p = Program(NEWTON.format(tol=1e-3), mode="eager")
    r = p.run({"x0": 1.0}, grad=True)
    xs, x = [], 1.0
    while abs(x * x - 2) > 1e-3:
        xs.append(x)
        x = x - (x * x - 2) / (2 * x)
    assert len(xs) == 3 and float(r.outputs["root"]) == pytest.approx(x, rel=1e-15)
    expect = np.prod([0.5 - 1 / t ** 2 for t in xs])
    assert float(r.gradients["x0"]) == pytest.approx(expect, rel=1e-10)
    slope = fd(lambda s: float(p.evaluate({"x0": s})["root"]), 1.0)  # same trip count nearby
    assert float(r.gradients["x0"]) == pytest.approx(slope, rel=1e-4, abs=1e-9)
    assert ops(r.graph, 0, r.graph.outputs["root"] + 1).count("div") == 3


PIECEWISE = """
input x
if x < 1:
    y = x ^ 3 - x
else:
    y = log(x) + 2 * sqrt(x)
"""


@pytest.mark.parametrize("x", [-1.3, 0.2, 0.999, 1.001, 2.5, 7.0])
def test_piecewise_values_and_gradients_on_both_sides(x):
    p = Program(PIECEWISE, mode="eager")
    value, grads = p.gradients({"x": x})
    f = (lambda t: t ** 3 - t) if x < 1 else (lambda t: math.log(t) + 2 * math.sqrt(t))
    df = (lambda t: 3 * t ** 2 - 1) if x < 1 else (lambda t: 1 / t + 1 / math.sqrt(t))
    assert float(value) == pytest.approx(f(x), rel=1e-14)
    assert float(grads["x"]) == pytest.approx(df(x), rel=1e-12)
    slope = fd(lambda s: float(p.evaluate({"x": s})["y"]), x, h=1e-7)
    assert float(grads["x"]) == pytest.approx(slope, rel=1e-6)


def test_trip_count_depends_on_data():
    # halve until below 1: y = x / 2^k with k = the number of halvings
    src = "input x\ny = x\nwhile y >= 1:\n    y = y / 2\n"
    p = Program(src, mode="eager")
    for x in (0.5, 1.0, 3.0, 17.5, 1000.0):
        k = 0 if x < 1 else math.floor(math.log2(x)) + 1
        r = p.run({"x": x}, grad=True)
        assert float(r.outputs["y"]) == x / 2 ** k and float(r.outputs["y"]) < 1
        assert float(r.gradients["x"]) == 1 / 2 ** k
        assert ops(r.graph, 0, r.graph.outputs["y"] + 1).count("div") == k
        if x not in (1.0,):  # away from a jump in the trip count
            slope = fd(lambda s: float(p.evaluate({"x": s})["y"]), x)
            assert float(r.gradients["x"]) == pytest.approx(slope, rel=1e-6)


def test_while_and_early_return_inside_a_function():
    src = ("def first_power_above(x, limit):\n    p = x\n    while 1 > 0:\n        p = p * x\n"
           "        if p > limit:\n            return p\ninput x\ny = first_power_above(x, 10)\n")
    r = run(src, {"x": 1.5})
    k = next(k for k in range(2, 20) if 1.5 ** k > 10)  # 1.5^6 = 11.39
    assert float(r.outputs["y"]) == pytest.approx(1.5 ** k)
    assert float(r.gradients["x"]) == pytest.approx(k * 1.5 ** (k - 1))


@pytest.mark.parametrize("x, connected", [(0.5, False), (1.5, True)])
def test_input_used_only_in_an_untaken_branch_is_still_an_input(x, connected):
    # `b` is a free name, so an input (§9), even when this run does not reach its use
    src = "input x\nif x > 1:\n    y = x * b\nelse:\n    y = x ^ 2\n"
    r = run(src, {"x": x, "b": 2.0})
    assert r.connected["b"] is connected
    assert float(r.gradients["b"]) == (x if connected else 0.0)
    # the same with a build-time branch, in both modes
    src = "const flag = false\nif flag:\n    y = a * b\nelse:\n    y = a\n"
    s, e = assert_modes_agree(src, {"a": 1.0, "b": 2.0})
    assert float(e.gradients["b"]) == 0.0 and not e.connected["b"]
    with pytest.raises(CgraphError) as err:  # a name the program does not mention at all
        run(src, {"a": 1.0, "bb": 2.0})
    assert "'bb'" in err.value.message


# ------------------------------------------------------------ --compare-modes
def test_compare_modes_from_the_command_line():
    from cli_runner import cli

    r = cli("grad", os.path.join(ROOT, "examples", "mlp.cg"), "--compare-modes", "--json")
    assert r.code == 0, r
    doc = r.json["compare"]
    assert doc["agree"] and {q["name"] for q in doc["quantities"]} >= {"loss", "∂loss/∂W1"}
    assert all(q["max_abs_difference"] == 0.0 for q in doc["quantities"])
    r = cli("jacobian", "W @ x", "W=[[1,2],[3,4]]", "x=[1,1]", "--compare-modes", "--json")
    assert r.code == 0 and r.json["compare"]["agree"]
    assert [q["name"] for q in r.json["compare"]["quantities"]] == ["Y", "∂Y/∂W", "∂Y/∂x"]
    r = cli("eval", "x / x", "x=0", "--compare-modes", env={"NO_COLOR": "1"})
    assert r.code == 0 and "agree" in r.stdout            # NaN equals NaN
    r = cli("grad", os.path.join(ROOT, "examples", "newton.cg"), "--compare-modes")
    assert r.code == 1 and "static mode cannot run this program" in r.stdout
    assert "needs eager mode" in r.stderr


def test_compare_modes_says_when_they_differ():
    from cgraph.cli.compare import differences

    assert differences([1.0, np.nan, np.inf], [1.0 + 1e-12, np.nan, np.inf], "float64") \
        == (pytest.approx(1e-12, abs=1e-15), True)
    d, ok = differences([1.0, 2.0], [1.0, 2.001], "float64")
    assert not ok and d == pytest.approx(0.001)
    assert differences([1.0], [1.00001], "float32")[1]
