"""Compiled all-scalar loop bodies (cgraph/loop_compile.py): the generated
function gives the step loop's numbers bit for bit (values and gradients, so
the forward loop, the history loop and the reverse loop), eager mode's to
rounding; bodies it does not cover fall back; and no text of the program ever
reaches the generated code."""
from __future__ import annotations

import re

import numpy as np
import pytest

import cgraph.loop_compile as LC
from cgraph.program import Program

PROGRAMS = {
    "chain": ("input x\nfor i in range(60):\n    x = sin(x)*0.999 + 0.1\noutput x\n", {"x": 0.5}),
    "index as a value": ("input x\nfor i in range(50):\n    x = sin(x)*0.99 + 0.01*i\noutput x\n",
                         {"x": 0.5}),
    "several carries": ("input a\ninput b\ns = a\nt = b\nfor i in range(45):\n"
                        "    u = s * t * 0.5 - cos(t)\n    s = t\n    t = tanh(u) + s / 3\n"
                        "y = s + t * 2\noutput y\n", {"a": 0.3, "b": -0.4}),
    "swap": ("input a\ninput b\nx = a\ny = b\nfor i in range(41):\n    t = y\n    y = x * 0.9\n    x = t\n"
             "z = x - y\noutput z\n", {"a": 1.5, "b": 0.25}),
    "captured values": ("input x\ninput w\ninput c\nfor i in range(40):\n"
                        "    x = tanh(x * w + c) - -x * 0.5\noutput x\n",
                        {"x": 0.1, "w": 0.8, "c": -0.2}),
    "where and comparisons": ("input x\ninput c\nfor i in range(70):\n"
                              "    x = where(x > c, x * 0.7, x + 0.3) + where(x <= 0.1, 0.01, 0.0)\n"
                              "output x\n", {"x": 2.0, "c": 0.6}),
    "pow, exp, maximum": ("input x\nfor i in range(35):\n"
                          "    x = maximum(x ** 1.5 * 0.4, exp(-x)) + 0.05\noutput x\n",
                          {"x": 0.7}),
    "a function in the body": ("def f(p, q):\n    return p * q + sin(p)\ninput x\ninput w\n"
                               "for i in range(50):\n    x = f(x, w) * 0.5\noutput x\n",
                               {"x": 0.3, "w": 0.8}),
}
TENSOR = ("input W: [3,3]\ninput v: [3]\nh = v\nfor i in range(40):\n    h = tanh(W @ h)\n"
          "y = sum(h * h)\noutput y\n", {"W": np.eye(3) * 0.5 + 0.1, "v": np.array([1.0, -1, 0.5])})


def _run(src, inputs, mode="static"):
    prog = Program(src, mode=mode)
    value, grads = prog.gradients(inputs)
    return prog, float(value), {k: np.asarray(v, float) for k, v in grads.items()}


def _compiled_bodies(prog, inputs):
    """The loop nodes' bodies of the gradient plan, and how many generated
    functions each has."""
    nodes = prog.compiled(inputs, grad=True).plan.graph.nodes
    return [sum(f is not None for f in (n.attrs["body"].compiled_loops or {}).values())
            for n in nodes if n.op.name == "loop"]


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_compiled_loops_equal_the_step_loop_bit_for_bit_and_eager_mode(name, monkeypatch):
    src, inputs = PROGRAMS[name]
    prog, value, grads = _run(src, inputs)
    counts = _compiled_bodies(prog, inputs)
    assert counts and all(counts), counts  # every loop (forward, history, reverse) compiled
    with monkeypatch.context() as m:
        m.setattr(LC, "MIN_ITERATIONS", 10 ** 9)  # the step loop only
        step_prog, step_value, step_grads = _run(src, inputs)
        assert not any(_compiled_bodies(step_prog, inputs))
    assert value == step_value
    assert grads.keys() == step_grads.keys()
    for k in grads:
        assert np.array_equal(grads[k], step_grads[k]), (k, grads[k], step_grads[k])
    _, eager_value, eager_grads = _run(src, inputs, mode="eager")
    np.testing.assert_allclose(value, eager_value, rtol=1e-12, atol=1e-14)
    for k in grads:
        np.testing.assert_allclose(grads[k], eager_grads[k], rtol=1e-9, atol=1e-14)


def test_a_tensor_body_falls_back_to_the_plan():
    src, inputs = TENSOR
    prog, value, grads = _run(src, inputs)
    assert _compiled_bodies(prog, inputs) and not any(_compiled_bodies(prog, inputs))
    _, eager_value, eager_grads = _run(src, inputs, mode="eager")
    np.testing.assert_allclose(value, eager_value, rtol=1e-12)
    for k in grads:
        np.testing.assert_allclose(grads[k], eager_grads[k], rtol=1e-9, atol=1e-14)


def test_a_division_by_zero_midway_gives_the_step_loop_s_inf_and_nan(monkeypatch):
    # at i = 20 the divisor is 0: `/` raises in the compiled loop, the step loop answers
    for body, x in [("x = x / (i - 20) + 1", 0.5), ("x = 0 * x / (i - 20)", 0.5),
                    ("x = x / (i - 20) - x", -0.0)]:
        src = f"input x\nfor i in range(40):\n    {body}\noutput x\n"
        value = Program(src).run({"x": x}).outputs["x"]
        eager = Program(src, mode="eager").run({"x": x}).outputs["x"]
        with monkeypatch.context() as m:
            m.setattr(LC, "MIN_ITERATIONS", 10 ** 9)
            steps = Program(src).run({"x": x}).outputs["x"]
        assert not np.isfinite(value)
        np.testing.assert_array_equal(value, steps)
        np.testing.assert_array_equal(value, eager)


def test_a_loop_that_starts_elsewhere_and_steps_down(monkeypatch):
    src = "input x\nfor i in range(90, 5, -2):\n    x = x * 0.97 + sin(i * 0.1) * 0.02\noutput x\n"
    prog, value, grads = _run(src, {"x": 0.2})
    assert all(_compiled_bodies(prog, {"x": 0.2}))
    monkeypatch.setattr(LC, "MIN_ITERATIONS", 10 ** 9)
    _, v2, g2 = _run(src, {"x": 0.2})
    assert value == v2 and grads["x"] == g2["x"]


def test_no_text_of_the_program_reaches_the_generated_code(monkeypatch):
    """Names and strings holding Python code: the generated functions hold none of it."""
    texts = []
    real = LC.source
    monkeypatch.setattr(LC, "source", lambda text: texts.append(text) or real(text))
    src = ('input __import__\ninput exec_os_system\neval = exec_os_system * 2\n'
           'assert __import__ < 10, "__import__(\'os\').system(\'rm -rf /\')"\n'
           'lambda_ = __import__\nfor getattr_ in range(50):\n'
           '    lambda_ = sin(lambda_) * eval + 0.1 * getattr_\n'
           '    open_ = lambda_ / 7\noutput open_\n')
    prog = Program(src)
    inputs = {"__import__": 0.5, "exec_os_system": 0.4}
    value, grads = prog.gradients(inputs)
    assert len(texts) >= 2 and all(_compiled_bodies(prog, inputs))
    user_words = {"__import__", "exec_os_system", "eval", "lambda_", "getattr_", "open_", "os",
                  "system", "rm", "import", "exec"}
    for text in texts:
        words = set(re.findall(r"[A-Za-z_0-9]+", text))
        assert not words & user_words, words & user_words
        assert "'" not in text and '"' not in text and "#" not in text
    _, eager_value, _ = _run(src, inputs, mode="eager")
    np.testing.assert_allclose(float(value), eager_value, rtol=1e-12)


@pytest.mark.parametrize("text", ["def loop(n):\n    return __import__\n",
                                  "def loop(n):\n    return 'x'\n",
                                  "def loop(n):\n    return n + 1\n",
                                  "def loop(v1):\n    v1.__class__\n"])
def test_source_refuses_anything_it_did_not_make(text):
    with pytest.raises(ValueError):
        LC.source(text)


def test_the_infix_table_is_the_registry_s_rule():
    """Every op's `infix` names an entry of the table, and the operator written
    there computes what the op's Python-float rule computes."""
    from cgraph.registry import REGISTRY

    samples = [0.0, -0.0, 1.5, -2.25, 3.0, float("inf"), float("nan"), True, False]
    used = [op for op in REGISTRY.values() if op.infix is not None]
    assert {op.name for op in used} >= {"add", "sub", "mul", "div", "lt", "neg"}
    for op in used:
        arity, template = LC.INFIX[op.infix]
        fn = eval("lambda *v: " + template.format(*(f"v[{k}]" for k in range(arity))))  # noqa: S307
        pairs = [(a,) for a in samples] if arity == 1 else [(a, b) for a in samples for b in samples]
        for args in pairs:
            try:
                want = op.scalar(*args)
            except (ZeroDivisionError, OverflowError, ValueError):
                continue
            try:
                got = fn(*args)
            except ZeroDivisionError:  # the compiled loop's cue to let the step loop answer
                continue
            assert type(got) is type(want) and repr(got) == repr(want), (op.name, args, got, want)


STRAIGHT = [("(a+b)*(b-c)", {"a": 2, "b": 3, "c": 4}),
            ("y = where(a > b, a / b, -c) * exp(b) + maximum(a, c) ** 2\noutput y\n",
             {"a": 2.5, "b": 0.5, "c": -1.0}),
            ("y = a / (b - c) + tanh(a)\noutput y\n", {"a": 1.0, "b": 2.0, "c": 2.0})]


@pytest.mark.parametrize("k", range(len(STRAIGHT)))
def test_a_straight_line_scalar_plan_compiled_on_its_second_run_equals_its_steps(k):
    src, inputs = STRAIGHT[k]
    prog = Program(src)
    first = prog.gradients(inputs)
    plan = prog.compiled({n: float(v) for n, v in inputs.items()}, grad=True).plan
    assert plan.scalar and plan._code is None
    again = prog.gradients(inputs)
    assert plan._code  # compiled now (the third case's b - c = 0 makes it fall back each run)
    for got in (again, prog.gradients(inputs)):
        assert np.array_equal(got[0], first[0], equal_nan=True)
        for name in first[1]:
            assert np.array_equal(got[1][name], first[1][name], equal_nan=True)
            assert got[1][name].dtype == first[1][name].dtype


def test_no_text_of_a_straight_line_program_reaches_its_code(monkeypatch):
    texts = []
    real = LC.source
    monkeypatch.setattr(LC, "source", lambda text: texts.append(text) or real(text))
    prog = Program("input __import__\ninput system\neval = sin(__import__) * system\n"
                   "exec_ = eval / 3 - system\noutput exec_\n")
    for _ in range(3):
        prog.gradients({"__import__": 0.5, "system": 2.0})
    assert len(texts) == 1
    assert not set(re.findall(r"[A-Za-z_0-9]+", texts[0])) & {"__import__", "system", "eval", "exec_"}


def test_the_history_handed_to_the_reverse_loop_is_that_run_s_own():
    """The reverse loop takes the forward loop's floats only for the very (read-only)
    array they made: runs of two programs and two inputs, interleaved, each agree
    with a fresh program's answer."""
    a = PROGRAMS["chain"][0]
    b = PROGRAMS["index as a value"][0]
    want = {(s, x): Program(s).gradients({"x": x})[1]["x"] for s in (a, b) for x in (0.5, 0.9)}
    pa, pb = Program(a), Program(b)
    for _ in range(2):
        for s, p in ((a, pa), (b, pb)):
            for x in (0.5, 0.9):
                assert p.gradients({"x": x})[1]["x"] == want[s, x]
