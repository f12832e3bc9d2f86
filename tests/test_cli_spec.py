"""One definition per command: the fast parser and Typer agree.

`catalog.parse_fast` parses ordinary command lines without Typer; for every line
it accepts, Typer (built from the same declarations) must hand the command
exactly the same Options. Lines it is unsure of must be left to Typer.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cgraph.cli import app as app_mod
from cgraph.cli import catalog
from cgraph.cli.sources import looks_like_path, parse_literal


def typer_options(argv, monkeypatch):
    """The Options Typer gives the command for argv (None if Typer refuses the line)."""
    seen = []

    def capture(cmd, opts):
        seen.append((cmd.name, opts))
        return 0

    monkeypatch.setattr(app_mod, "run_command", capture)
    app = app_mod.build_app()
    try:
        app(args=list(argv), prog_name="cgraph", standalone_mode=False)
    except SystemExit:
        pass
    except Exception:  # a click usage error, in non-standalone mode
        return None
    return seen[0] if seen else None


LINES = [
    ["eval", "(a+b)*(b-c)", "a=2", "b=3", "c=4"],
    ["grad", "(a+b)*(b-c)", "a=2", "b=3", "c=4", "--json"],
    ["grad", "m.cg", "--of", "loss", "--wrt", "a,b", "--all", "--explain", "--check"],
    ["grad", "m.cg", "--of=loss", "x=[1,2]", "--mode", "eager", "--dtype=float32"],
    ["eval", "m.cg", "--seed", "7", "--precision", "3", "-q", "--max-iterations", "10"],
    ["eval", "-", "x=1", "--inputs", "in.json", "--quiet", "--json"],
    ["eval", "--json", "m.cg", "x=-1", "y=@f.npz:W"],
    ["eval", "--", "-x", "x=1"],
    ["jacobian", "x^2", "x=[1,2,3]", "--wrt", "x"],
    ["check", "a.cg", "b.cg", "--json"],
    ["check", "a.cg", "--mode", "eager"],
    ["ops"],
    ["ops", "sin", "--json"],
    ["ops", "--markdown"],
    ["eval", "x", "--seed", "-3"],
]


@pytest.mark.parametrize("argv", LINES)
def test_fast_parser_matches_typer(argv, monkeypatch):
    fast = catalog.parse_fast(argv)
    assert fast is not None, argv
    slow = typer_options(argv, monkeypatch)
    assert slow is not None, argv
    assert (fast[0].name, fast[1]) == slow


REFUSED = [
    [], ["--help"], ["--version"], ["eval", "--help"], ["eval", "x", "-h"],
    ["eval", "x", "--seed", "x"],
    ["eval", "x", "--precision", "0"], ["grad", "x", "--of"],
    ["eval"], ["check"], ["eval", "x", "-qj"], ["eval", "x", "--json=yes"],
    ["ops", "a", "b"], ["nosuchcommand", "x"], ["eval", "-x+1"],
]


@pytest.mark.parametrize("argv", REFUSED)
def test_fast_parser_leaves_the_unusual_to_typer(argv):
    assert catalog.parse_fast(argv) is None


@pytest.mark.parametrize("argv", [["eval", "x", "--bogus"], ["eval", "x", "--mode", "fast"],
                                  ["eval", "x", "--of"]])
def test_fast_parser_says_what_is_wrong_itself(argv):
    """An unknown long option or a wrong choice: cgraph's own usage error (issue 18)."""
    from cgraph.cli.run import UsageError

    with pytest.raises(UsageError):
        catalog.parse_fast(argv)


def test_every_command_has_help_and_examples():
    cmds = catalog.load_commands()
    for name in ("eval", "grad", "jacobian", "check", "ops"):
        cmd = cmds[name]
        assert cmd.help and cmd.examples and all("cgraph " + name in e for e in cmd.examples)
        for p in cmd.params:
            assert p.help, (name, p.name)


def test_run_commands_share_the_common_flags():
    cmds = catalog.load_commands()
    for name in ("eval", "grad", "jacobian"):
        flags = set(cmds[name].flags)
        assert {"--mode", "--dtype", "--seed", "--json", "--precision", "--quiet", "-q",
                "--max-iterations", "--inputs"} <= flags


# --------------------------------------------------------------- literals
numbers = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def tensors(draw):
    shape = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    size = 1
    for d in shape:
        size *= d
    flat = draw(st.lists(numbers, min_size=size, max_size=size))

    def nest(items, dims):
        if not dims:
            return items[0]
        step = len(items) // dims[0]
        return [nest(items[i * step:(i + 1) * step], dims[1:]) for i in range(dims[0])]

    return nest(flat, shape)


@settings(max_examples=200, deadline=None)
@given(tensors(), st.sampled_from(["", " "]))
def test_literal_parser_reads_what_json_writes(value, space):
    text = json.dumps(value, separators=("," + space, ":"))
    assert parse_literal(text) == value


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="[],.-+e0123456789 inaf_()x'", max_size=20))
def test_literal_parser_only_raises_value_error(text):
    try:
        parse_literal(text)
    except ValueError:
        pass


@pytest.mark.parametrize("text", ["[1,,2]", "[1 2]", "[1,2", "1,2", "]", "[1]]", "[,1]", "abc",
                                  "[1,2,]", "", "[[1],2,[3]", "__import__('os')"])
def test_literal_parser_rejects(text):
    with pytest.raises(ValueError):
        parse_literal(text)


def test_literal_parser_accepts_special_numbers():
    assert parse_literal("[inf, -inf, 1e-3, +2]") == [float("inf"), float("-inf"), 1e-3, 2.0]


@pytest.mark.parametrize("arg, path", [("model.cg", True), ("dir/model", True), ("./m", True),
                                       ("/abs/m", True), ("a/b", True), ("1/3", False),
                                       ("x / 3", False), ("(x)/3", False), ("sum(x)/n", False),
                                       ("x", False), ("a+b", False)])
def test_looks_like_path(arg, path):
    assert looks_like_path(arg) is path


def test_cli_run_is_the_function_not_the_submodule():
    import importlib

    importlib.import_module("cgraph.cli.run")     # the submodule of exit statuses
    from cgraph.cli import run

    assert callable(run) and run.__module__ == "cgraph.cli"


def test_usage_lines_are_written_as_cgraph_writes_them():
    """No {SOURCE} or [[NAME]] (Typer's own style), batch shows its NAME=VALUE words,
    --help and --version show no <bool> type."""
    from cli_runner import cli

    for cmd, usage in (("eval", "cgraph eval [OPTIONS] SOURCE [NAME=VALUE]..."),
                       ("batch", "cgraph batch [OPTIONS] SOURCE... [NAME=VALUE]..."),
                       ("ops", "cgraph ops [OPTIONS] [NAME]"),
                       ("fit", "cgraph fit [OPTIONS] SOURCE [NAME=VALUE]...")):
        out = cli(cmd, "--help", env={"NO_COLOR": "1", "COLUMNS": "120"})
        assert out.code == 0 and usage in out.stdout, (cmd, out.stdout[:400])
        assert "<bool>" not in out.stdout.split("--help")[1].split("\n")[0]
    out = cli("--help", env={"NO_COLOR": "1", "COLUMNS": "120"})
    assert not any("<bool>" in line for line in out.stdout.splitlines()
                   if "--version" in line or "--help" in line)
