"""The command line (CLI.md): commands, flags, values, JSON, exit statuses.

Most tests run the CLI in-process through `cgraph.cli.run` (the same entry as
the console script, fast path included) with captured streams; the Typer
path is covered with CliRunner and CGRAPH_TYPER=1, and a few real
subprocesses check what only a process can show (pipes, stdin, Ctrl-C).
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from cli_runner import cli
from cgraph.errors import CgraphError

SEED = "(a+b)*(b-c)"
SEED_ARGS = ("a=2", "b=3", "c=4")
SEED_SCRIPT = "a = 2\nb = 3\nc = 4\nd = a + b\ne = b - c\nY = d * e\n"




@pytest.fixture
def seed_file(tmp_path):
    p = tmp_path / "seed.cg"
    p.write_text(SEED_SCRIPT)
    return p


# ----------------------------------------------------------------- the seed
def test_seed_eval_json_exact():
    r = cli("eval", SEED, *SEED_ARGS, "--json")
    assert r.code == 0, r.stderr
    assert r.json == {"outputs": {"Y": {"value": -5.0, "shape": []}}}
    assert r.stdout.count("\n") == 1 and r.stderr == ""


def test_seed_grad_json_exact():
    r = cli("grad", SEED, *SEED_ARGS, "--json")
    assert r.code == 0, r.stderr
    assert r.json == {"output": "Y", "value": -5.0, "shape": [],
                      "gradients": {"a": {"value": -1.0, "shape": []},
                                    "b": {"value": 4.0, "shape": []},
                                    "c": {"value": -5.0, "shape": []}}}


def test_seed_grad_table_never_the_wrong_numbers():
    r = cli("grad", SEED, *SEED_ARGS)
    assert r.code == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "Y = -5"
    rows = {ln.split()[0]: ln.split() for ln in lines[2:5]}
    assert rows["a"][-1] == "-1" and rows["b"][-1] == "4" and rows["c"][-1] == "-5"
    assert "∂Y/∂leaf" in lines[1] and "shape" in lines[1] and "value" in lines[1]


@pytest.mark.parametrize("mode", ["static", "eager"])
def test_seed_script_file_both_modes(seed_file, mode):
    r = cli("grad", seed_file, "--mode", mode, "--json")
    assert r.code == 0, r.stderr
    assert {k: v["value"] for k, v in r.json["gradients"].items()} == {"a": -1.0, "b": 4.0, "c": -5.0}


def test_leaf_values_override_script_defaults(seed_file):
    r = cli("eval", seed_file, "a=1", "--json")
    assert r.json["outputs"]["Y"]["value"] == -4.0


def test_stdin_source():
    r = cli("eval", "-", *SEED_ARGS, "--json", stdin=SEED)
    assert r.code == 0 and r.json["outputs"]["Y"]["value"] == -5.0
    r = cli("eval", "-", stdin="x = 1 +\n")
    assert r.code == 1 and "<stdin>:1:" in r.stderr


# ------------------------------------------------------------------ explain
def test_explain_script_follows_the_tutorial(seed_file):
    r = cli("grad", seed_file, "--explain")
    assert r.code == 0, r.stderr
    text = r.stdout
    for line in ["d = a + b = 5", "e = b − c = -1", "Y = d × e = -5",
                 "∂Y/∂d = e = -1", "∂Y/∂e = d = 5",
                 "∂Y/∂a = ∂Y/∂d·∂d/∂a = e·1 = e = -1·1 = -1",
                 "∂Y/∂b = ∂Y/∂d·∂d/∂b + ∂Y/∂e·∂e/∂b = e·1 + d·1 = e + d = -1·1 + 5·1 = 4",
                 "∂Y/∂c = ∂Y/∂e·∂e/∂c = d·(-1) = -d = 5·(-1) = -5"]:
        assert line in text, line
    # reverse order: the intermediates before the leaves, d before e, then a, b, c
    order = [text.index(s) for s in ("∂Y/∂d =", "∂Y/∂e =", "∂Y/∂a =", "∂Y/∂b =", "∂Y/∂c =")]
    assert order == sorted(order)


def test_explain_bare_expression_names_intermediates():
    r = cli("grad", SEED, *SEED_ARGS, "--explain")
    assert "t1 = a + b = 5" in r.stdout and "t2 = b − c = -1" in r.stdout
    assert "∂Y/∂b = ∂Y/∂t1·∂t1/∂b + ∂Y/∂t2·∂t2/∂b = t2·1 + t1·1" in r.stdout
    assert "= -1·1 + 5·1 = 4" in r.stdout


def _vector_file(n: int) -> str:
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "v.npy")
    np.save(path, np.linspace(0, 1, n))
    return path


def test_explain_uses_registry_templates_and_shows_norms_for_tensors():
    r = cli("grad", "sum(sin(x) * w)", "x=[1,2,3]", "w=[0.5,0.5,2]", "--explain")
    assert r.code == 0, r.stderr
    assert "cos(x)" in r.stdout                         # sin's partial, from the registry
    assert "t1 = [0.841471, 0.909297, 0.14112]" in r.stdout  # small tensors: their values
    r = cli("grad", "sum(sin(x))", "x=@" + _vector_file(20), "--explain")
    assert "[20] tensor, ‖·‖ =" in r.stdout             # larger: shape and norm
    r = cli("grad", "x*x", "x=3", "--explain")
    assert "∂Y/∂x = x + x = 3 + 3 = 6" in r.stdout      # fan-out is summed


def test_explain_json():
    r = cli("grad", SEED, *SEED_ARGS, "--explain", "--json")
    ex = r.json["explain"]
    assert "t1 = a + b = 5" in ex["forward"]
    b = next(x for x in ex["backward"] if x["name"] == "b")
    assert b["value"] == "4" and b["chain"] == "∂Y/∂t1·∂t1/∂b + ∂Y/∂t2·∂t2/∂b"


def test_explain_not_connected_leaf(seed_file):
    r = cli("grad", "a*b", "a=2", "b=3", "--explain", "--wrt", "a,b")
    assert r.code == 0
    r = cli("grad", "-", "--explain", stdin="a = 2\nb = 3\nY = a * 2\n")
    assert "∂Y/∂b = 0   (not connected)" in r.stdout


# ------------------------------------------------------------------- check
def test_check_passes_and_reports_errors():
    r = cli("grad", SEED, *SEED_ARGS, "--check")
    assert r.code == 0 and "gradient check passed" in r.stdout
    r = cli("grad", "sum(x^3)", "x=[1,2,3]", "--check", "--json")
    chk = r.json["check"]
    assert chk["passed"] and chk["leaves"]["x"]["checked"] == 3
    assert chk["leaves"]["x"]["max_rel_error"] < 1e-6


def test_check_samples_big_leaves():
    r = cli("grad", "sum(tanh(x))", "--inputs", "-", "--check", "--json")  # wrong use: exit 2
    assert r.code == 2
    values = "[" + ",".join(str(i / 10) for i in range(200)) + "]"
    r = cli("grad", "sum(tanh(x))", f"x={values}", "--check", "--json")
    leaf = r.json["check"]["leaves"]["x"]
    assert leaf["size"] == 200 and leaf["checked"] <= 24 and leaf["passed"]


def test_check_fails_on_a_wrong_derivative(monkeypatch):
    from cgraph import registry
    from cgraph.notation import F

    monkeypatch.setattr(registry.get("sin"), "vjp", lambda g, out, x, **_: (g * F.cos(x) * 2.0,))
    r = cli("grad", "sin(x)", "x=1", "--check")
    assert r.code == 1 and "FAILED" in r.stdout
    r = cli("grad", "sin(x)", "x=1", "--check", "--json")
    assert r.code == 1 and r.json["check"]["passed"] is False


def test_check_float32_against_float64_reference():
    r = cli("grad", "sum(exp(x) / 3)", "x=[0.1,0.2]", "--dtype", "float32", "--check", "--json")
    assert r.code == 0 and r.json["check"]["passed"]


# ---------------------------------------------------------------- jacobian
def test_jacobian_json_shape():
    r = cli("jacobian", "x^2", "x=[1,2,3]", "--json")
    assert r.code == 0, r.stderr
    assert r.json == {"output": "Y", "shape": [3],
                      "jacobians": {"x": {"value": [[2.0, 0, 0], [0, 4.0, 0], [0, 0, 6.0]],
                                          "shape": [3, 3]}}}
    r = cli("jacobian", "W @ x", "W=[[1,2],[3,4]]", "x=[1,1]", "--wrt", "x", "--json")
    assert r.json["jacobians"]["x"]["value"] == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize("mode", ["static", "eager"])
def test_jacobian_modes_and_scalar_output(mode):
    r = cli("jacobian", SEED, *SEED_ARGS, "--mode", mode, "--json")
    assert r.code == 0, r.stderr
    assert {k: v["value"] for k, v in r.json["jacobians"].items()} == {"a": -1.0, "b": 4.0, "c": -5.0}
    r = cli("jacobian", "x^2", "x=[1,2]", "--mode", mode)
    assert r.code == 0 and "∂Y/∂leaf" in r.stdout


def test_jacobian_errors():
    assert cli("jacobian", "x^2", "x=[1,2]", "--wrt", "q").code == 1
    assert "did you mean 'x'" in cli("jacobian", "x^2", "xx=1", "x=[1,2]", "--wrt", "xy").stderr


# --------------------------------------------------------- eval and grad
def test_eval_all_prints_every_named_value(seed_file):
    r = cli("eval", seed_file, "--all", "--json")
    assert list(r.json["values"]) == ["a", "b", "c", "d", "e", "Y"]
    assert r.json["values"]["d"]["value"] == 5.0
    r = cli("eval", seed_file, "--all")
    assert r.stdout.splitlines() == ["a = 2", "b = 3", "c = 4", "d = 5", "e = -1", "Y = -5"]


def test_grad_of_wrt_all(seed_file):
    r = cli("grad", seed_file, "--wrt", "a,c", "--json")
    assert list(r.json["gradients"]) == ["a", "c"]
    r = cli("grad", seed_file, "--of", "d", "--json")
    assert r.json["output"] == "d" and r.json["value"] == 5.0
    assert r.json["gradients"]["a"]["value"] == 1.0 and r.json["gradients"]["c"]["value"] == 0.0
    r = cli("grad", seed_file, "--all", "--json")
    assert r.json["intermediates"] == {"d": {"value": -1.0, "shape": []},
                                       "e": {"value": 5.0, "shape": []},
                                       "Y": {"value": 1.0, "shape": []}}
    r = cli("grad", seed_file, "--all")
    assert "intermediate" in r.stdout
    assert cli("grad", seed_file, "--of", "Q").code == 1
    assert "did you mean" in cli("grad", seed_file, "--wrt", "dd").stderr


def test_not_connected_leaf_is_zero_and_marked():
    r = cli("grad", "-", stdin="a = 2\nb = 3\nY = a * 2\n")
    assert "(not connected)" in r.stdout
    r = cli("grad", "-", "--json", stdin="a = 2\nb = 3\nY = a * 2\n")
    assert r.json["gradients"]["b"] == {"value": 0.0, "shape": []}


def test_grad_of_a_vector_output_is_an_error():
    r = cli("grad", "x^2", "x=[1,2]")
    assert r.code == 1 and "sum(" in r.stderr and "Traceback" not in r.stderr


def test_tensor_output_formats():
    r = cli("eval", "x * 2", "x=[[1,2],[3,4]]")
    assert "[[2, 4],\n" in r.stdout and "[2, 2]" in r.stdout
    r = cli("eval", "randn([50, 40], seed=1)")
    assert "min" in r.stdout and "max" in r.stdout and "mean" in r.stdout and "…" in r.stdout
    r = cli("eval", "x * 2", "x=[[1,2],[3,4]]", "--json")
    assert r.json["outputs"]["Y"] == {"value": [[2.0, 4.0], [6.0, 8.0]], "shape": [2, 2]}


# ------------------------------------------------------------------ values
def test_value_forms(tmp_path):
    np.save(tmp_path / "x.npy", np.array([1.0, 2.0]))
    np.savez(tmp_path / "d.npz", W=np.eye(2), b=np.ones(2))
    (tmp_path / "m.csv").write_text("p,q\n1,2\n3,4\n")
    (tmp_path / "v.json").write_text("[[1, 0], [0, 2]]")
    prog = "sum(W @ x + b) + sum(M) + sum(J) + s"
    r = cli("eval", prog, f"x=@{tmp_path / 'x.npy'}", f"W=@{tmp_path / 'd.npz'}:W",
            f"b=@{tmp_path / 'd.npz'}:b", f"M=@{tmp_path / 'm.csv'}", f"J=@{tmp_path / 'v.json'}",
            "s=-1.5e0", "--json")
    assert r.code == 0, r.stderr
    assert r.json["outputs"]["Y"]["value"] == (3 + 2) + 10 + 3 - 1.5


def test_numbers_and_literals():
    for value, expect in [("2", 2), ("-3", -3), ("1e-3", 1e-3), ("+4", 4), ("[1, 2, 3]", [1, 2, 3]),
                          ("[[1,0],[0,1]]", [[1, 0], [0, 1]]), ("[ -1 , 2.5 ]", [-1, 2.5]), ("[]", [])]:
        r = cli("eval", "x", f"x={value}", "--json")
        assert r.code == 0, (value, r.stderr)
        assert r.json["outputs"]["Y"]["value"] == expect
    r = cli("eval", "x", "x=inf", "--json")
    assert r.json["outputs"]["Y"]["value"] == "Infinity"


@pytest.mark.parametrize("word", ["x", "=2", "x=", "1x=2", "x=[1,2", "x=[[1,2],[3]]", "x=abc",
                                  "x=[1,,2]", "x=[1 2]", "x=__import__('os')", "x=@",
                                  "x=@/nonexistent.npy", "x=1", ])
def test_malformed_values_exit_2(word):
    args = ["eval", "x + 0", word] + (["x=2"] if word == "x=1" else [])
    r = cli(*args)
    assert r.code == 2, (word, r.stdout, r.stderr)
    assert "usage error" in r.stderr and "Traceback" not in r.stderr


def test_inputs_files(tmp_path):
    (tmp_path / "in.json").write_text('{"a": 2, "b": 3, "c": 4}')
    np.savez(tmp_path / "in.npz", a=2.0, b=3.0, c=4.0)
    for f in ("in.json", "in.npz"):
        r = cli("grad", SEED, "--inputs", tmp_path / f, "--json")
        assert r.code == 0, r.stderr
        assert r.json["value"] == -5.0
    r = cli("eval", SEED, "--inputs", tmp_path / "in.json", "a=0", "--json")  # words win
    assert r.json["outputs"]["Y"]["value"] == -3.0
    assert cli("eval", SEED, "--inputs", tmp_path / "nope.json").code == 2
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert cli("eval", SEED, "--inputs", tmp_path / "bad.json").code == 2
    assert cli("eval", SEED, "--inputs", tmp_path / "in.txt").code == 2


def test_engine_value_errors_exit_1():
    r = cli("eval", SEED, "a=2", "b=3")                       # missing input
    assert r.code == 1 and "no value for input 'c'" in r.stderr
    r = cli("eval", SEED, *SEED_ARGS, "cc=1")                 # unknown name, nearest real one
    assert r.code == 1 and "'cc'" in r.stderr and "did you mean 'c'" in r.stderr
    r = cli("eval", "-", "x=[1,2]", stdin="input x: [3]\ny = x * 2\n")   # wrong shape
    assert r.code == 1 and "shape" in r.stderr


# ------------------------------------------------------------------ source
def test_source_rules(tmp_path):
    assert cli("eval", "missing.cg").code == 2
    assert cli("eval", "models/missing").code == 2
    assert cli("eval", tmp_path).code == 2
    r = cli("eval", "x/2", "x=4")
    assert r.code == 2 and "x / 2" in r.stderr      # the hint
    assert cli("eval", "(x)/2", "x=4", "--json").json["outputs"]["Y"]["value"] == 2.0
    assert cli("eval", "1/4", "--json").json["outputs"]["Y"]["value"] == 0.25
    assert cli("eval", "x / 2", "x=4", "--json").json["outputs"]["Y"]["value"] == 2.0
    (tmp_path / "bad.cg").write_bytes(b"x = \xff\n")
    r = cli("eval", tmp_path / "bad.cg")
    assert r.code == 1 and "UTF-8" in r.stderr


def test_syntax_errors_are_diagnostics():
    r = cli("eval", "(a+")
    assert r.code == 1
    assert "<expr>:1:" in r.stderr and "^" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------- check cmd
def test_check_command(tmp_path, seed_file):
    bad = tmp_path / "bad.cg"
    bad.write_text("x = (1 +\ny = foo(2)\nz = [1, 2] + [1, 2, 3]\n")
    r = cli("check", seed_file)
    assert r.code == 0
    assert "ok: 6 statements, 0 inputs, 0 params, 1 output (Y)" in r.stdout
    r = cli("check", seed_file, bad)
    assert r.code == 1 and "ok" in r.stdout and "bad.cg:1:" in r.stderr
    r = cli("check", "-", stdin="y = foo(1)\nz = [1, 2] + [1, 2, 3]\n")
    assert r.code == 1 and r.stderr.count("error") >= 2   # every error, not only the first
    r = cli("check", seed_file, bad, "--json")
    doc = r.json
    assert doc["failed"] == 1 and doc["files"][0]["ok"] and not doc["files"][1]["ok"]
    assert doc["files"][1]["errors"][0]["line"] == 1
    r = cli("check", "-", stdin="input x: [n, 3]\nparam W = ones([3, 2])\noutput y\ny = x @ W\n")
    assert r.code == 0 and "1 input (x)" in r.stdout and "1 param (W)" in r.stdout
    assert cli("check", seed_file, "missing.cg").code == 2


# ------------------------------------------------------------------ ops cmd
def test_ops_lists_every_builtin():
    from cgraph.registry import builtins

    r = cli("ops", "--json")
    names = [o["name"] for o in r.json["ops"]]
    assert names == [op.name for op in builtins()]
    assert {"sin", "matmul", "softmax", "grad", "add"} <= set(names)
    sin = next(o for o in r.json["ops"] if o["name"] == "sin")
    assert sin["signature"] == "sin(x)" and sin["derivative"] == "cos(x)" and sin["doc"]
    r = cli("ops")
    assert r.code == 0 and "sigmoid" in r.stdout and "derivative" in r.stdout
    r = cli("ops", "--markdown")
    lines = r.stdout.splitlines()
    assert lines[0].startswith("| family | op |") and len(lines) == len(names) + 2


def test_ops_one():
    r = cli("ops", "sigmoid")
    assert r.code == 0 and "sigmoid(x)" in r.stdout and "σ(x)·(1-σ(x))" in r.stdout
    assert "add(x, y)" in cli("ops", "+").stdout
    assert "pow(x, y)" in cli("ops", "**").stdout
    r = cli("ops", "sigmod")
    assert r.code == 1 and "did you mean 'sigmoid'" in r.stderr


# ------------------------------------------------------------------- flags
def test_mode_dtype_seed_precision_quiet():
    r = cli("eval", "x / 3", "x=1", "--dtype", "float32", "--json")
    assert r.json["outputs"]["Y"]["value"] == 0.33333334
    a = cli("eval", "randn([3])", "--seed", "1", "--json").json
    b = cli("eval", "randn([3])", "--seed", "2", "--json").json
    assert a != b and a == cli("eval", "randn([3])", "--seed", "1", "--json").json
    assert cli("eval", "1/3", "--precision", "3").stdout == "Y = 0.333\n"
    assert cli("eval", "1/3", "--precision", "3", "--json").json["outputs"]["Y"]["value"] == 0.333
    assert cli("eval", "1/3").stdout == "Y = 0.333333\n"
    assert cli("eval", "2+3", "-q").stdout == "5\n"
    assert cli("eval", "2+3", "--mode", "eager", "--json").json["outputs"]["Y"]["value"] == 5.0


def test_max_iterations():
    prog = "i = 0\nwhile i < 10:\n    i = i + 1\n"
    assert cli("eval", "-", "--mode", "eager", "--json", stdin=prog).json["outputs"]["i"]["value"] == 10
    r = cli("eval", "-", "--mode", "eager", "--max-iterations", "5", stdin=prog)
    assert r.code == 1 and "5" in r.stderr
    assert cli("eval", "-", "--json", stdin=prog).json["outputs"]["i"]["value"] == 10  # static
    r = cli("eval", "-", "--max-iterations", "5", stdin=prog)
    assert r.code == 1 and "did not end after 5 iterations" in r.stderr


@pytest.mark.parametrize("args", [["eval", "x", "--bogus"], ["eval", "x", "--mode", "fast"],
                                  ["eval", "x", "--seed", "abc"], ["eval"], ["nosuchcommand"],
                                  ["eval", "x", "--precision", "0"], ["grad", "x", "--of"]])
def test_wrong_command_line_exits_2(args):
    r = cli(*args)
    assert r.code == 2, r
    assert "Traceback" not in r.stderr


def test_version_and_help():
    from cgraph import __version__

    r = cli("--version")
    assert r.code == 0 and r.stdout.strip() == f"cgraph {__version__}"
    r = cli("--help")
    assert r.code == 0 and "Examples" in r.stdout and "grad" in r.stdout
    for cmd in ("eval", "grad", "jacobian", "check", "ops"):
        r = cli(cmd, "--help")
        assert r.code == 0 and "Examples" in r.stdout and f"cgraph {cmd}" in r.stdout


def test_typer_path_gives_the_same_results(seed_file):
    for args in (["grad", SEED, *SEED_ARGS, "--json"], ["eval", seed_file, "--all", "--json"],
                 ["ops", "sin", "--json"], ["check", seed_file, "--json"]):
        fast, slow = cli(*args), cli(*args, env={"CGRAPH_TYPER": "1"})
        assert (fast.code, fast.json) == (slow.code, slow.json)


# -------------------------------------------------------------- JSON output
def test_json_print_goes_to_stderr():
    prog = 'input x\nprint("x is", x)\ny = x ^ 2\n'
    for mode in ("static", "eager"):
        r = cli("eval", "-", "x=3", "--mode", mode, "--json", stdin=prog)
        assert r.json == {"outputs": {"y": {"value": 9.0, "shape": []}}}
        assert "x is 3" in r.stderr
    r = cli("eval", "-", "x=3", stdin=prog)
    assert "x is 3" in r.stdout


def test_json_errors_go_to_stderr_only():
    r = cli("eval", "(a+", "--json")
    assert r.code == 1 and r.stdout == "" and "syntax error" in r.stderr


# --------------------------------------------------------------- numerics
def test_nan_warning_names_the_first_node(tmp_path):
    model = tmp_path / "model.cg"
    model.write_text("input x\ny = x * 2\nz = log(y - 10)\nw = z + 1\n")
    r = cli("eval", model, "x=3")
    assert r.code == 0 and "w = nan" in r.stdout
    assert f"{model}:3:5: warning: log of a negative value" in r.stderr
    assert "z = log(y - 10)" in r.stderr
    assert cli("eval", model, "x=3", "-q").stderr == ""
    r = cli("grad", "sqrt(x)", "x=0")
    assert "in the gradient" in r.stderr and "inf" in r.stderr
    r = cli("eval", "1 / x", "x=0", "--json")
    assert r.json["outputs"]["Y"]["value"] == "Infinity" and "division by zero" in r.stderr


# ------------------------------------------------------------- robustness
def test_interrupt_and_internal_error(monkeypatch):
    from cgraph.cli.spec import COMMANDS

    def interrupted(o):
        raise KeyboardInterrupt

    def broken(o):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(COMMANDS["eval"], "func", interrupted)
    r = cli("eval", "1")
    assert r.code == 130 and "interrupted" in r.stderr
    monkeypatch.setattr(COMMANDS["eval"], "func", broken)
    r = cli("eval", "1")
    assert r.code == 1 and "Traceback" in r.stderr and "internal error" in r.stderr


def test_no_traceback_for_user_mistakes(tmp_path):
    (tmp_path / "x.npy").write_bytes(b"not a numpy file")
    cases = [["eval", "1 +* 2"], ["eval", "foo(1)"], ["grad", "x", "x=[1,2]"],
             ["eval", "x", f"x=@{tmp_path / 'x.npy'}"], ["eval", "x @ y", "x=[1,2]", "y=[1,2,3]"],
             ["eval", "inv(x)", "x=[[1,2],[2,4]]"], ["jacobian", "x", "x=1", "--of", "zz"],
             ["eval", 'load("nope.npy")'], ["check", "def f(x):\n return f(x)\ny = f(1)"],
             ["eval", "x[5]", "x=[1,2]"], ["eval", "reshape(x, [3])", "x=[1,2]"]]
    for args in cases:
        r = cli(*args)
        assert r.code in (1, 2), (args, r)
        assert "Traceback" not in r.stderr, (args, r.stderr)


# --------------------------------------------------------------- plug-ins
def test_plugins_register_on_the_app(monkeypatch):
    import types

    from cgraph.cli import app as app_mod
    from cgraph.cli import catalog

    calls = []
    fake = types.ModuleType("cgraph.cli.cmd_fake")

    def register(app):
        calls.append(app)

        @app.command("fake")
        def fake_cmd(word: str):
            print("fake", word)

    fake.register = register
    monkeypatch.setitem(sys.modules, "cgraph.cli.cmd_fake", fake)
    monkeypatch.setattr(catalog, "PLUGINS", catalog.PLUGINS + ("cmd_fake",))
    monkeypatch.setattr(app_mod, "_APP", None)
    r = cli("fake", "hello")
    assert r.code == 0 and r.stdout == "fake hello\n" and len(calls) == 1


def test_plugin_declared_with_spec_gets_the_fast_path(monkeypatch):
    import types

    from cgraph.cli import catalog, spec

    fake = types.ModuleType("cgraph.cli.cmd_hello")

    @spec.command("hello", spec.SOURCE, *spec.RUN_FLAGS, help="Say hello.")
    def hello(o):
        print("hello", o.source, o.mode)
        return 0

    try:
        monkeypatch.setitem(sys.modules, "cgraph.cli.cmd_hello", fake)
        monkeypatch.setattr(catalog, "PLUGINS", catalog.PLUGINS + ("cmd_hello",))
        hit = catalog.parse_fast(["hello", "x", "--mode", "eager"])
        assert hit is not None and hit[1].source == "x"
        assert cli("hello", "x", "--mode", "eager").stdout == "hello x eager\n"
    finally:
        spec.COMMANDS.pop("hello", None)


# ----------------------------------------------------------------- atomic
def test_atomic_open(tmp_path):
    from cgraph.atomic import atomic_open

    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(str(target)) as fp:
            fp.write("half")
            raise RuntimeError
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["out.csv"]
    with atomic_open(str(target)) as fp:
        fp.write("new\n")
    assert target.read_text() == "new\n" and os.listdir(tmp_path) == ["out.csv"]
    with pytest.raises(CgraphError) as e:
        with atomic_open(str(tmp_path / "no" / "dir.csv")):
            pass
    assert e.value.kind == "usage"  # the command line is wrong: exit 2


def test_explain_writes_matmuls_rule_and_wraps_long_lines(tmp_path):
    r = cli("grad", "input x: [2]\nparam W = [[1.0, 2.0], [3.0, 4.0]]\nh = W @ x\nY = sum(h * h)",
            "x=[1,2]", "--explain")
    assert "∂Y/∂x = ∂Y/∂h·∂h/∂x = Wᵀ @ ∂Y/∂h = [76, 108]" in r.stdout
    assert "∂Y/∂W = ∂Y/∂h·∂h/∂W = ∂Y/∂h ⊗ x = [[10, 20], [22, 44]]" in r.stdout
    src = tmp_path / "wide.cg"
    src.write_text("input x\n" + "".join(f"a{i} = sin(x)*{i + 1}\n" for i in range(40))
                   + "Y = " + " + ".join(f"a{i}" for i in range(40)) + "\n")
    r = cli("grad", src, "x=0.5", "--explain")
    assert r.code == 0 and max(len(line) for line in r.stdout.splitlines()) <= 160
    assert "--wrt NAME explains the path to one leaf" in r.stdout


def test_explain_groups_the_iterations_of_a_loop(tmp_path):
    src = tmp_path / "loop.cg"
    src.write_text("input x\nfor i in range(16):\n    x = sin(x) * 0.9 + 0.1\nY = x\n")
    r = cli("grad", src, "x=0.5", "--explain")  # 16 iterations: unrolled
    assert r.code == 0 and "… 43 more from line 3, one loop iteration after another" in r.stdout
    backward = r.stdout.split("Backward pass")[1].splitlines()
    assert len(backward) < 12
    r = cli("grad", src, "x=0.5", "--explain", "--json")
    assert len(r.json["explain"]["backward"]) == 48  # JSON keeps every derivative


def test_explain_a_loop_node_once_with_its_trip_count(tmp_path):
    src = tmp_path / "loop.cg"
    src.write_text("input x\nfor i in range(5000):\n    x = sin(x) * 0.9 + 0.1\nY = x\n")
    r = cli("grad", src, "x=0.5", "--explain")
    assert r.code == 0, r.stderr
    assert "loop: 5,000 iterations of a" in r.stdout
    assert "over the 5,000 iterations (a reverse loop" in r.stdout
    # then the body's chain rule, once: ∂x′/∂x = 0.9·cos(x) at the first iteration's x
    assert "The loop at line 2 (5,000 iterations)" in r.stdout
    assert "∂x′/∂x = " in r.stdout and "= 0.789824" in r.stdout
    assert len(r.stdout.splitlines()) < 30
