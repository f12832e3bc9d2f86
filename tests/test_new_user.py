"""What a new user tripped over (issue 18): false errors from `check`, the
mode a file declares, literal top-level values in conditions, messages that
misled, and numbers at degenerate points. Each test failed before its fix."""
from __future__ import annotations

import glob
import os

import numpy as np
import pytest

from cli_runner import cli
from cgraph import CgraphError
from cgraph.draw_program import draw_program
from cgraph.program import Program, declared_mode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DIM = "input x: [n]\ninput y: [n]\nz = sum(x * y)\n"
DIM_IN_SHAPE = "input x: [n, 3]\nY = sum(ones([n, 5])) + sum(x)\n"


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# ------------------------------------------------------------ named dims
def test_a_named_dim_shared_by_inputs_checks(tmp_path):
    src = write(tmp_path, "nd.cg", SHARED_DIM)
    out = cli("check", src)
    assert out.code == 0, out.stderr
    assert "clashes" not in out.stderr
    Program(SHARED_DIM).check()
    assert draw_program(SHARED_DIM).nodes > 0  # structure only, no values
    assert cli("eval", src, "x=[1,2]", "y=[3,4]").stdout.strip() == "z = 11"
    bad = cli("eval", src, "x=[1,2]", "y=[3,4,5]")
    assert bad.code == 1 and "declared" in bad.stderr


def test_a_named_dim_in_a_shape_checks(tmp_path):
    src = write(tmp_path, "nd2.cg", DIM_IN_SHAPE)
    out = cli("check", src)
    assert out.code == 0, out.stderr
    assert "None" not in out.stderr
    assert cli("eval", src, "x=[[1,2,3],[4,5,6]]").stdout.strip() == "Y = 31"


# ------------------------------------------------------------ declared mode
def test_check_honours_the_mode_the_file_declares():
    out = cli("check", *sorted(glob.glob(os.path.join(ROOT, "examples", "*.cg"))))
    assert out.code == 0, out.stderr


def test_declared_mode_is_read_from_the_opening_comments():
    assert declared_mode("# a program\n# mode: eager\nx = 1\n") == "eager"
    assert declared_mode("x = 1\n# mode: eager\n") is None  # after the first statement
    assert declared_mode("# mode: static\n") == "static"
    assert Program("# mode: eager\nY = 1\n").mode == "eager"
    assert Program("# mode: eager\nY = 1\n", mode="static").mode == "static"


def test_the_mode_flag_wins_over_the_declaration():
    newton = os.path.join(ROOT, "examples", "newton.cg")
    assert cli("eval", newton).code == 0
    static = cli("eval", newton, "--mode", "static")
    assert static.code == 1
    assert "value error: a while loop needs eager mode here" in static.stderr


def test_while_and_if_needing_eager_are_the_same_kind():
    w = cli("eval", "x = 1\nwhile x < 3:\n    x = x + 1\n    print(x)\n", "--mode", "static")
    i = cli("check", "input x\nif x > 1:\n    Y = x\nelse:\n    Y = -x\n")
    assert "value error" in w.stderr and "value error" in i.stderr


# ------------------------------------------------------- literal values
def test_a_literal_top_level_value_in_an_if_hints_const():
    src = "a = 2\nif a > 1:\n    Y = a * 3\nelse:\n    Y = a\n"
    with pytest.raises(CgraphError) as e:
        Program(src).evaluate()
    assert "depends on 'a'" in e.value.message and "const a" in e.value.hint
    assert Program(src, mode="eager").evaluate() == {"Y": 6.0}
    assert Program("const " + src).evaluate() == {"Y": 6.0}


# ------------------------------------------------------- messages
def test_the_typo_hint_names_the_given_value_as_the_typo():
    out = cli("eval", "input alpha\nY = alpha * 2\n", "alpah=3")
    assert out.code == 1
    assert "'alpha' looks like a misspelling of 'alpah'" not in out.stderr
    assert "did you mean alpha=" in out.stderr


def test_explain_keeps_parentheses_around_a_conditional_term():
    out = cli("grad", "input a\nb = a * 3\nc = relu(a)\nout = c + b * a\n", "a=1", "--explain")
    assert "+ (1 if a > 0 else 0)" in out.stdout
    assert "+ 1 if a > 0 else 0" not in out.stdout


def test_ops_grad_does_not_contradict_itself():
    out = cli("ops", "grad")
    assert "not differentiable" not in out.stdout
    assert "differentiable again" in out.stdout


def test_gradient_check_shows_both_errors_and_the_rule():
    out = cli("grad", "x * 1e-9", "x=1", "--check")
    assert "max abs. error" in out.stdout and "max rel. error" in out.stdout
    assert "atol" in out.stdout and "rtol" in out.stdout


# ------------------------------------------------------- numbers
def test_grad_of_a_literal_argument_inside_a_function():
    src = "def cube_slope(t):\n    return grad(t^3, t)\ninput a\nY = cube_slope(2) + cube_slope(a)\n"
    for mode in ("static", "eager"):
        assert Program(src, mode=mode).evaluate({"a": 2}) == {"Y": 24.0}
        _, grads = Program(src, mode=mode).gradients({"a": 2})
        assert grads["a"] == 12.0  # d(3a²)/da
    nested = "def s(t):\n    return grad(t^3, t)\ndef h(t):\n    return grad(s(t), t)\nY = h(2)\n"
    assert Program(nested).evaluate() == {"Y": 12.0}


def test_einsum_of_one_literal_operand():
    assert Program('Y = einsum("i->", [1, 2, 3])').evaluate() == {"Y": 6.0}
    assert Program('Y = einsum("i,i->", [1, 2, 3], [1, 1, 1])').evaluate() == {"Y": 6.0}


@pytest.mark.parametrize("src, feed", [
    ("Y = x / x", {"x": 0.0}), ("Y = 0 / x", {"x": 0.0}), ("Y = 1 / (1 / x)", {"x": 0.0}),
    ("Y = x * y / y", {"x": 1.0, "y": 0.0}), ("Y = abs(abs(x))", {"x": np.nan}),
    ("Y = maximum(x, 0) + minimum(0, x) + relu(x) + sign(x)", {"x": np.nan}),
])
def test_static_and_eager_agree_at_ieee_special_points(src, feed):
    s = Program(src).gradients(feed)
    e = Program(src, mode="eager").gradients(feed)
    np.testing.assert_equal(s[0], e[0])
    for k in feed:
        np.testing.assert_equal(s[1][k], e[1][k], err_msg=f"{src}: d/d{k}")


def test_a_sum_of_booleans_is_a_float_in_both_modes():
    for src, feed in (("Y = sum([true, false, true])", {}), ("input x: [2]\nY = sum(x > 0)", {"x": [1, -1]})):
        for mode in ("static", "eager"):
            y = Program(src, mode=mode).evaluate(feed)["Y"]
            assert np.asarray(y).dtype == np.float64, (src, mode)


@pytest.mark.parametrize("mode", ["static", "eager"])
def test_kinks_follow_pytorch(mode):
    cases = [("Y = std(broadcast_to(t, [3]))", {"t": 1.0}, "t", 0.0),
             ("Y = norm(x)", {"x": [0.0, 0.0]}, "x", [0.0, 0.0]),
             ("Y = norm(x, ord=3)", {"x": [0.0, 0.0]}, "x", [0.0, 0.0]),
             ("Y = x ^ 0", {"x": 0.0}, "x", 0.0)]
    for src, feed, leaf, want in cases:
        _, grads = Program(src, mode=mode).gradients(feed)
        np.testing.assert_array_equal(grads[leaf], want, err_msg=src)


def test_variance_of_equal_values_is_exactly_zero():
    for mode in ("static", "eager"):
        y = Program("Y = var(x) + std(x)", mode=mode).evaluate({"x": [0.1, 0.1, 0.1]})["Y"]
        assert y == 0.0
    assert Program("Y = var(x)").evaluate({"x": [1, 2, 3, 4]})["Y"] == 1.25


@pytest.mark.parametrize("src, want", [("softmax(x)", []), ("log_softmax(x)", []),
                                       ("logsumexp(x)", -np.inf)])
def test_empty_tensors_as_pytorch(src, want):
    y = Program(f"input x: [0]\nY = {src}\n").evaluate({"x": np.zeros(0)})["Y"]
    np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("op", ["max", "min", "argmax", "argmin"])
def test_an_extreme_of_nothing_is_a_clear_error(op):
    with pytest.raises(CgraphError, match=f"{op} of an empty tensor"):
        Program(f"input x: [0]\nY = {op}(x)\n").evaluate({"x": np.zeros(0)})


def test_a_named_dim_cannot_be_given_a_value():
    out = cli("eval", "input x: [n]\nY = sum(x) / n\n", "x=[1,2,3]", "n=5")
    assert out.code == 1 and "named dim of input 'x'" in out.stderr
    bad = cli("eval", "input x: [n, 2]\nY = sum(x)\n", "x=[1,2,3]")
    assert "declared [n, 2]" in bad.stderr and "[?" not in bad.stderr
    same = cli("eval", "input x: [n, n]\nY = sum(x)\n", "x=[[1,2,3]]")
    assert same.code == 1 and "declared [n, n]" in same.stderr


def test_a_long_chain_of_distinct_functions_is_not_recursion():
    src = "def f0(x):\n    return x + 1\n" + "".join(
        f"def f{i}(x):\n    return f{i - 1}(x) * 1\n" for i in range(1, 300)) + "Y = f299(1)\n"
    assert Program(src).evaluate() == {"Y": 2.0}


def test_small_mistakes_get_plain_messages():
    with pytest.raises(CgraphError, match="not a boolean"):
        Program("x = [1, 2]\nY = x[true]\n").evaluate()
    with pytest.raises(CgraphError) as e:
        Program("assert 1 > 2\n").evaluate()
    assert e.value.message == "assertion failed"
    with pytest.raises(CgraphError) as e:
        Program("x = 1\nY = x(2)\n").evaluate()
    assert "is a value, not a function" in e.value.message


# ------------------------------------------------------- output a user reads
def test_wrt_a_const_is_an_error_with_a_hint():
    for mode in ("static", "eager"):
        out = cli("grad", "const X = 2\ninput a\nY = a * X\n", "a=1", "--wrt", "X", "--mode", mode)
        assert out.code == 1 and "consts are never differentiated" in out.stderr


def test_check_in_eager_mode_names_the_last_binding_as_output(tmp_path):
    out = cli("check", write(tmp_path, "d.cg", "a = 2\nb = a * 3\n"), "--mode", "eager")
    assert "1 output (b)" in out.stdout


def test_a_program_says_what_it_is():
    import cgraph

    text = repr(cgraph.compile("input x\nparam w = 2\nY = x * w\n"))
    assert text.startswith("<cgraph.Program") and "inputs x" in text and "params w" in text
    assert "annotations" not in dir(cgraph)


def test_a_format_that_contradicts_the_file_name_is_refused(tmp_path):
    out = cli("draw", os.path.join(ROOT, "examples", "seed.cg"), "-o", str(tmp_path / "g.svg"),
              "--format", "png")
    assert out.code == 2 and "does not match" in out.stderr
    assert not (tmp_path / "g.svg").exists()


def test_print_shows_numbers_as_tables_do(capsys):
    Program("x = [1, 2]\ny = 35.0\nprint(x, y, x * 0.5)\nY = y\n").evaluate()
    assert capsys.readouterr().out.strip() == "[1, 2] 35 [0.5, 1]"


def test_an_error_names_its_call_site_and_iteration():
    with pytest.raises(CgraphError) as e:
        Program("def f(u):\n    return u @ [1, 2, 3]\ninput x: [2]\nY = f(x)\n").evaluate({"x": [1, 2]})
    assert e.value.line == 2 and "in f() called at line 4, column 5" in e.value.hint
    with pytest.raises(CgraphError) as e:
        Program("x = [1, 2]\nfor i in range(4):\n    y = x[i]\n").evaluate()
    assert "at i = 2" in e.value.hint


def test_wrong_flags_are_said_in_cgraphs_words():
    out = cli("eval", "1 + 2", "--mode", "eagr")
    assert out.code == 2 and "--mode must be static or eager, not 'eagr'" in out.stderr
    assert "Value error" not in out.stderr and "did you mean eager" in out.stderr
    out = cli("eval", "1 + 2", "--bogus")
    assert out.code == 2 and "no option --bogus" in out.stderr and "--out" not in out.stderr
    assert "did you mean --mode" in cli("eval", "1 + 2", "--modee", "eager").stderr


@pytest.mark.parametrize("mode", ["static", "eager"])
def test_det_of_a_singular_matrix_has_the_adjugate_as_gradient(mode):
    _, grads = Program("input A: [2, 2]\nY = det(A)\n", mode=mode).gradients({"A": [[1, 2], [2, 4]]})
    np.testing.assert_allclose(grads["A"], [[4, -2], [-2, 1]])
    a = np.array([[2.0, 1, 0], [1, 3, 1], [0, 1, 4]])
    _, grads = Program("input A: [3, 3]\nY = det(A)\n", mode=mode).gradients({"A": a})
    np.testing.assert_allclose(grads["A"], np.linalg.det(a) * np.linalg.inv(a).T, rtol=1e-12)


def test_a_default_parameter_gets_one_clear_diagnostic():
    with pytest.raises(CgraphError) as e:
        Program("def g(u, k=2):\n    return u * k\nY = g(3)\n")
    assert [d.message for d in e.value.errors] == ["a function's parameters take no default values"]
    with pytest.raises(CgraphError, match="positional arguments only"):
        Program("def g(u, k):\n    return u * k\nY = g(3, k=2)\n").evaluate()


# ------------------------------------------------------- second stop, issue 18
def test_var_and_std_take_ddof_as_numpy():
    import cgraph

    x = np.array([1.0, 2.0, 4.0, 8.0])
    for f in ("var", "std"):
        for ddof in (0, 1):
            v, g = cgraph.gradients(f"{f}(x, ddof={ddof})", {"x": x})
            assert float(v) == pytest.approx(getattr(np, f)(x, ddof=ddof), rel=1e-14)
            h = 1e-6
            num = [(getattr(np, f)(x + h * e, ddof=ddof) - getattr(np, f)(x - h * e, ddof=ddof))
                   / (2 * h) for e in np.eye(4)]
            np.testing.assert_allclose(g["x"], num, rtol=1e-6)


def test_small_3d_arrays_print_in_full():
    out = cli("jacobian", "A @ x", "A=[[1,2],[3,4]]", "x=[1,1]", env={"NO_COLOR": "1"})
    assert out.code == 0, out
    assert "[[[1, 1]," in out.stdout and "min 0" not in out.stdout


def test_a_table_wider_than_the_terminal_keeps_every_digit():
    import io

    from rich.console import Console

    from cgraph.cli.output import Printer

    p = Printer()
    p.rich = True
    buf = io.StringIO()
    p._console = Console(file=buf, width=40, force_terminal=False)
    cells = [f"{k}.123456789" for k in range(8)]
    import contextlib

    plain = io.StringIO()
    with contextlib.redirect_stdout(plain):
        p.table([f"c{k}" for k in range(8)], [cells])
    text = buf.getvalue() + plain.getvalue()
    assert all(c in text for c in cells) and "…" not in text


def test_the_call_depth_is_the_users_to_raise(tmp_path):
    src = tmp_path / "rec.cg"
    src.write_text("def f(x):\n    if x > 0:\n        return f(x - 1) + 1\n    return 0\nY = f(n)\n")
    out = cli("eval", src, "n=1500", "--mode", "eager")
    assert out.code == 1 and "deeper than 1,000" in out.stderr and "--max-depth" in out.stderr
    assert len(out.stderr) < 2000  # the chain of call sites is cut, with a count
    out = cli("eval", src, "n=1500", "--mode", "eager", "--max-depth", "2000", "--json")
    assert out.code == 0 and out.json["outputs"]["Y"]["value"] == 1500.0, out
