"""Issue 9: nothing crashes, nothing is lost, nothing runs that should not.

- Fuzzing: valid random programs (tests/strategies.py) broken by mutation
  (tests/fuzz_strategies.py), token soup, random text and bytes, fed to the
  API (check, evaluate, gradients; static and eager) and to the CLI (in
  process, and a few real processes). The only failure allowed is a
  `CgraphError` (CLI: a diagnostic and exit 1 or 2): never another exception,
  a traceback, "internal error", a NumPy RuntimeWarning, or a hang.
- The hostile corpus, tests/hostile/*.cg: every crasher found, kept as a
  regression case (its first comment says what it broke), and the hostile
  inputs of the other protections; `test_hostile_corpus` runs them all.
- Resource limits (--max-memory, the loop guard, recursion, deep nesting, a
  100,000-statement script), files as data (no pickle, no eval; FIFOs and
  devices refused; JSON depth and size bounded), drawings as data, Ctrl-C and
  SIGTERM (real processes: status 130/143, the old output file intact), and
  numerical trouble (one warning naming the op and line; --strict).

The fuzz tests take CGRAPH_FUZZ_EXAMPLES examples each when it is set
(`make fuzz`); by default a bounded number keeps `make test` quick.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from cli_runner import Out, cli as run_cli
from hypothesis import strategies as st

import cgraph
from cgraph import CgraphError
from cgraph.errors import KINDS
from cgraph.program import Program

from fuzz_strategies import (SNIPPETS, default_inputs, hostile_sources, mutated_programs,
                             random_bytes, random_text, token_soup)

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = Path(__file__).resolve().parent / "hostile"
FUZZ = int(os.environ.get("CGRAPH_FUZZ_EXAMPLES") or 0)
LIMITS = dict(max_iterations=1000, max_memory=64 << 20)   # API runs
CLI_LIMITS = ["--max-iterations", "1000", "--max-memory", "64M"]
HANG = 30  # seconds one example may take before it counts as a hang


def fuzz_settings(default: int):
    """`default` examples, or CGRAPH_FUZZ_EXAMPLES (make fuzz)."""
    return settings(max_examples=FUZZ or default, deadline=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))


# ------------------------------------------------------------------ harness
class Hung(BaseException):
    """An example ran longer than HANG seconds."""


@contextlib.contextmanager
def watchdog(seconds: float = HANG):
    """Fail (raise Hung) if the block runs longer than `seconds`."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def alarm(signum, frame):
        raise Hung(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def no_runtime_warnings():
    """NumPy's RuntimeWarnings (overflow, divide, invalid) must never escape."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    leaked = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught
              if issubclass(w.category, RuntimeWarning)]
    assert not leaked, leaked


def check_error(exc: CgraphError) -> None:
    """A CgraphError is well-formed: diagnostics of known kinds that render."""
    assert exc.errors
    for d in exc.errors:
        assert d.kind in KINDS, d
        assert isinstance(d.message, str) and d.message
    assert str(exc)


def api_run(source: str, inputs: dict, mode: str, grad: bool) -> None:
    """check, then evaluate or gradients: only CgraphError may come out."""
    opts = dict(mode=mode, **LIMITS)
    steps = [lambda: Program(source, **opts).check()]
    if grad:
        steps.append(lambda: cgraph.gradients(source, inputs, **opts))
    else:
        steps.append(lambda: cgraph.evaluate(source, inputs, **opts))
    with contextlib.redirect_stdout(io.StringIO()), no_runtime_warnings(), watchdog():
        for step in steps:
            try:
                step()
            except CgraphError as exc:
                check_error(exc)


def cli(*args, stdin: bytes = b"") -> Out:
    """`cgraph ARGS...` in this process, under the hang watchdog."""
    with watchdog():
        return run_cli(*args, stdin=stdin)


def assert_clean(r: Out, json_mode: bool = False) -> None:
    """Exit 0, 1 or 2; no traceback, no internal error, no NumPy warning; with
    --json, stdout is one JSON document or nothing."""
    assert r.code in (0, 1, 2), r
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r
    assert not r.warned, r.warned
    if json_mode and r.stdout.strip():
        json.loads(r.stdout)
    elif r.code != 0:
        assert r.stderr.strip() or r.stdout.strip(), r  # a failure always says why


def values_words(inputs: dict) -> list[str]:
    def lit(v):
        v = np.asarray(v)
        if v.ndim == 0:
            return repr(float(v))
        return "[" + ",".join(lit(x) for x in v) + "]"
    return [f"{k}={lit(v)}" for k, v in inputs.items()]


# ================================================================= fuzzing
@fuzz_settings(600)
@given(case=hostile_sources(), mode=st.sampled_from(["static", "eager"]), grad=st.booleans(),
       give=st.booleans())
def test_api_only_cgraph_errors(case, mode, grad, give):
    source, inputs = case
    api_run(source, inputs if give else {}, mode, grad)


@fuzz_settings(300)
@given(case=mutated_programs(max_mutations=2), mode=st.sampled_from(["static", "eager"]),
       dtype=st.sampled_from(["float64", "float32"]))
def test_api_gradients_of_nearly_valid_programs(case, mode, dtype):
    """Few mutations: most of these run, through the gradients and the optimiser."""
    source, inputs = case
    with contextlib.redirect_stdout(io.StringIO()), no_runtime_warnings(), watchdog():
        try:
            prog = cgraph.compile(source, mode=mode, dtype=dtype, **LIMITS)
            prog.gradients(inputs)
            prog.gradients({k: float(np.sum(v)) for k, v in inputs.items()})  # cached plans
        except CgraphError as exc:
            check_error(exc)


@fuzz_settings(300)
@given(source=st.one_of(random_text(), random_bytes(), token_soup()))
def test_api_random_text(source):
    api_run(source, default_inputs(), "static", False)


COMMANDS = [["eval"], ["eval", "--all"], ["grad"], ["grad", "--explain"], ["grad", "--check"],
            ["grad", "--of", "out", "--wrt", "a,u"], ["jacobian"], ["check"], ["draw"]]


@fuzz_settings(400)
@given(case=hostile_sources(), command=st.sampled_from(COMMANDS),
       mode=st.sampled_from(["static", "eager"]), give=st.booleans(),
       extra=st.lists(st.sampled_from(["--json", "--strict", "--quiet", "--dtype", "--precision"]),
                      unique=True, max_size=2))
def test_cli_only_diagnostics(tmp_path_factory, case, command, mode, give, extra):
    source, inputs = case
    args = [command[0], source] + (values_words(inputs) if give and command[0] != "check" else [])
    args += command[1:] + ["--mode", mode] + CLI_LIMITS
    for e in extra:
        if command[0] in ("check", "draw") and e in ("--strict", "--precision"):
            continue
        args += {"--dtype": ["--dtype", "float32"], "--precision": ["--precision", "3"]}.get(e, [e])
    if command[0] == "draw":
        out = tmp_path_factory.getbasetemp() / "fuzz.dot"
        args += ["-o", str(out), "--format", "dot"]
    assert_clean(cli(*args), json_mode="--json" in args)


_WORDS = ["eval", "grad", "check", "jacobian", "draw", "ops", "batch", "--mode", "static", "eager",
          "--dtype", "float32", "float16", "--seed", "-1", "99999999999999999999", "--json",
          "--precision", "0", "1000", "--max-iterations", "--max-memory", "1K", "0", "-5", "2Q",
          "--of", "--wrt", ",", "a,,b", "--inputs", "-o", "-", "--format", "svg", "png", "--all",
          "--explain", "--check", "--strict", "--quiet", "-q", "--help", "--version", "--", "x=1",
          "x=", "=1", "x=[1,2", "x=[[1],[2,3]]", "x=@", "x=@nope.npy", "x=@.", "θ=2", "1x=2",
          "x=nan", "x=1e999", "a+b", "(a+b)*(b-c)", "a=2", "b=3", "c=4", "sum(x)", "\x00", "é",
          "--max-nodes", "--backward", "--optimized", "--rankdir", "TB", "--jobs", "2"]


@fuzz_settings(200)
@given(words=st.lists(st.one_of(st.sampled_from(_WORDS), st.text(max_size=8)), max_size=8))
def test_cli_random_command_lines(words, tmp_path_factory):
    """Any argv: a result, a diagnostic or usage help; never a traceback. Files
    named on it (-o, --inputs) live in a scratch directory."""
    scratch = tmp_path_factory.getbasetemp()
    cwd = os.getcwd()
    os.chdir(scratch)
    try:
        r = cli(*words)
    finally:
        os.chdir(cwd)
    assert r.code in (0, 1, 2), r
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r


_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.text(max_size=3),
              st.floats(allow_nan=True, allow_infinity=True)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=20)


@st.composite
def data_files(draw):
    """(suffix, bytes): a damaged or odd data file of each kind load() reads."""
    kind = draw(st.sampled_from([".json", ".csv", ".npy", ".npz"]))
    raw = draw(st.binary(max_size=120))
    if kind == ".json":
        text = json.dumps(draw(_json_values)) if draw(st.booleans()) else raw.decode("latin-1")
        return kind, text.encode("utf-8", "surrogatepass") if draw(st.booleans()) else raw
    if kind == ".csv":
        cells = st.one_of(st.sampled_from(["1", "-2.5", "nan", "inf", "", "x", "1e999", '"3"',
                                           " 4 ", "1,2", "\ufeff5"]), st.text(max_size=3))
        rows = draw(st.lists(st.lists(cells, min_size=1, max_size=4), max_size=5))
        text = "\n".join(",".join(r) for r in rows)
        return kind, text.encode("utf-8", "surrogatepass") if draw(st.booleans()) else raw
    buf = io.BytesIO()
    arr = np.asarray(draw(st.sampled_from([[1.0, 2.0], [[1, 2], [3, 4]], 3.5, [True, False], []])))
    if kind == ".npy":
        np.save(buf, arr)
    else:
        np.savez(buf, **{draw(st.sampled_from(["x", "W", "a.npy", ""])) or "x": arr})
    data = bytearray(buf.getvalue())
    for _ in range(draw(st.integers(0, 4))):  # flip, cut or overwrite a few bytes
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "cut", "byte"]))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[i:]
        else:
            data[i] = draw(st.integers(0, 255))
    return kind, bytes(data)


@fuzz_settings(150)
@given(case=data_files(), mode=st.sampled_from(["static", "eager"]))
def test_damaged_data_files(case, mode, tmp_path_factory):
    """load(), NAME=@file and --inputs on damaged files: a located error or a value."""
    kind, data = case
    path = tmp_path_factory.getbasetemp() / f"data{kind}"
    path.write_bytes(data)
    key = ', "x"' if kind == ".npz" else ""
    api_run(f'sum(load("{path}"{key}))', {}, mode, grad=False)
    assert_clean(cli("eval", "sum(x)", f"x=@{path}" + (":x" if kind == ".npz" else ""),
                     "--mode", mode))
    if kind in (".json", ".npz"):
        assert_clean(cli("eval", "sum(x)", "--inputs", str(path), "--mode", mode))


def _subprocess(args, stdin=b"", timeout=60, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "cgraph", *args], input=stdin, cwd=cwd,
                          capture_output=True, timeout=timeout, env=env)


@pytest.mark.parametrize("args, stdin", [
    (["eval", "-"], bytes(range(256))),
    (["eval", "-"], b"\xff\xfe(a+b" * 100),
    (["grad", "-", "a=1"], "θ = a ^ 2\nprint(θ)\nif θ > 0:\n  θ\n".encode()),
    (["check", "-"], ("(" * 3000 + "1" + ")" * 3000).encode()),
    (["draw", "-", "-o", "-", "--format", "dot"], 'print("</text><script>")\nx = 1\n'.encode()),
])
def test_real_processes_never_show_a_traceback(args, stdin):
    r = _subprocess(args, stdin)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode in (0, 1, 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    assert "RuntimeWarning" not in err


# =========================================================== hostile corpus
CORPUS = sorted(HOSTILE.glob("*.cg"))


def _directives(path: Path) -> dict:
    """`# run:`, `# exit:`, `# stderr:`, `# stderr-absent:`, `# svg:` lines of a case."""
    d = {"run": [], "stderr": [], "stderr-absent": [], "exit": None, "svg": False, "about": ""}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"#\s*(broke|checks|run|exit|stderr-absent|stderr|svg):\s?(.*)$", line)
        if not m:
            if line.strip() and not line.startswith("#"):
                break
            continue
        key, value = m.groups()
        if key in ("broke", "checks"):
            d["about"] = value
        elif key in ("run", "stderr", "stderr-absent"):
            d[key].append(value)
        elif key == "exit":
            d["exit"] = int(value)
        elif key == "svg":
            d["svg"] = True
    d["run"] = d["run"] or ["eval", "check"]
    return d


def test_corpus_cases_say_what_they_broke():
    assert len(CORPUS) >= 20
    for path in CORPUS:
        assert _directives(path)["about"], f"{path.name}: its first comment must say what it broke"


def assert_safe_svg(text: str) -> None:
    """A drawing is data: well-formed XML, no script, no event handlers, no links out."""
    root = ET.fromstring(text.encode("utf-8"))
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1].lower()
        assert tag not in ("script", "foreignobject", "iframe", "object", "embed"), tag
        for k, v in el.attrib.items():
            name = k.rsplit("}", 1)[-1].lower()
            assert not name.startswith("on"), (k, v)
            if name == "href":
                assert not v.strip().lower().startswith(("javascript:", "data:")), v


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_hostile_corpus(path, monkeypatch):
    """Each `# run:` line (default: eval, then check) in both modes (unless it
    names one), run from tests/hostile: a clean result, and the `# exit:`,
    `# stderr:`, `# stderr-absent:` and `# svg:` expectations. (`check --mode
    eager` only parses, so it is held to being clean only.)"""
    d = _directives(path)
    monkeypatch.chdir(HOSTILE)
    for line in d["run"]:
        words = shlex.split(line)
        for mode in ([None] if "--mode" in words else ["static", "eager"]):
            args = [words[0], path.name, *words[1:]] + (["--mode", mode] if mode else [])
            r = cli(*args)
            assert_clean(r, json_mode="--json" in words)
            if words[0] == "check" and mode == "eager":
                continue
            if d["exit"] is not None:
                assert r.code == d["exit"], (args, r)
            for text in d["stderr"]:
                assert text in r.stderr, (args, text, r)
            for text in d["stderr-absent"]:
                assert text not in r.stderr, (args, text, r)
            if d["svg"] and "svg" in words:
                assert r.code == 0, r
                assert_safe_svg(r.stdout)
    # and through the API, both modes, without values: CgraphError or a result
    text = path.read_text(encoding="utf-8")
    for mode in ("static", "eager"):
        with contextlib.redirect_stdout(io.StringIO()), no_runtime_warnings(), watchdog():
            for step in (lambda: Program(text, str(path), mode=mode, **LIMITS).check(),
                         lambda: Program(text, str(path), mode=mode, **LIMITS).evaluate({})):
                try:
                    step()
                except CgraphError as exc:
                    check_error(exc)


def test_load_as_the_first_builtin_in_a_fresh_process():
    """Regression: in a fresh process the builder looked load up before the op
    registry was loaded ("unknown function 'load'"); in-process tests never saw it."""
    r = _subprocess(["eval", 'sum(load("data/ok.npy"))'], cwd=HOSTILE)
    assert r.returncode == 0 and r.stdout.decode().strip() == "Y = 3", r.stderr.decode()


@pytest.mark.skipif(not FUZZ, reason="make fuzz: each corpus case in a fresh process")
@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_hostile_corpus_in_fresh_processes(path):
    d = _directives(path)
    for line in d["run"]:
        words = shlex.split(line)
        r = _subprocess([words[0], path.name, *words[1:]], cwd=HOSTILE)
        err = r.stderr.decode("utf-8", "replace")
        assert r.returncode in (0, 1, 2), err
        assert "Traceback" not in err and "internal error" not in err and "RuntimeWarning" not in err
        if d["exit"] is not None:  # static mode (the default) unless the line says otherwise
            assert r.returncode == d["exit"], (line, err)


def test_snippets_alone_never_crash():
    """Each hostile snippet of the fuzzer, as a whole program with the usual
    inputs, through the API in both modes."""
    prelude = "input a\ninput b\ninput u: [3]\ninput v: [2]\ninput M: [2, 3]\n"
    for snippet in SNIPPETS:
        for mode in ("static", "eager"):
            api_run(prelude + snippet + "\n", default_inputs(), mode, grad=False)


# ========================================================= resource limits
SIZE_CASES = {
    "creation": "sum(zeros([1000, 1000]))",
    "broadcasting": "sum(zeros([1000, 1]) + zeros([1, 1000]))",
    "matmul": "sum(ones([1000, 1]) @ ones([1, 1000]))",
    "literal": "const k = zeros([100000])\nsum([k, k])",
    "input": "input x: [1000, 1000]\nsum(x)",
    "gradient": "x = ones([1000])\nsum(jacobian(x * 2, x))",
}


@pytest.mark.parametrize("mode", ["static", "eager"])
@pytest.mark.parametrize("case", sorted(SIZE_CASES))
def test_tensor_size_limit(case, mode):
    """Over the limit (1 MB here): a clean value error, before anything is allocated."""
    prog = Program(SIZE_CASES[case], mode=mode, max_memory=1 << 20)
    with pytest.raises(CgraphError) as info:
        prog.check() if case == "input" else prog.evaluate()  # an input has no value here
    assert info.value.kind == "value" and "memory limit" in info.value.message


@pytest.mark.parametrize("mode", ["static", "eager"])
def test_size_limit_on_given_values_and_loaded_files(mode, tmp_path):
    big = np.zeros(200_000)  # 1.6 MB
    np.save(tmp_path / "big.npy", big)
    for source, inputs in [("sum(x)", {"x": big}),
                           (f'sum(load("{tmp_path / "big.npy"}"))', {})]:
        with pytest.raises(CgraphError, match="memory limit"):
            cgraph.evaluate(source, inputs, mode=mode, max_memory=1 << 20)
        cgraph.evaluate(source, inputs, mode=mode, max_memory=2 << 20)


def test_size_limit_before_allocating():
    """800 TB with the default limit (half the RAM): refused, no MemoryError."""
    for mode in ("static", "eager"):
        with pytest.raises(CgraphError, match="memory limit"):
            cgraph.evaluate("sum(zeros([1e7, 1e7]))", mode=mode)
    with pytest.raises(CgraphError, match="memory limit"):
        Program("input x: [1e7, 1e7]\nsum(x)").check()


def test_max_memory_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("eval", "sum(zeros([1000, 1000]))", "--max-memory", "1M")
    assert r.code == 1 and "memory limit of 1.0 MB" in r.stderr, r
    for size in ("9M", "8000000", "1.5GB", "8MiB", "1G"):
        assert cli("eval", "sum(zeros([1000, 1000]))", "--max-memory", size).code == 0, size
    for bad in ("1Q", "-5", "0", "M", "1e3"):
        r = cli("eval", "1", "--max-memory", bad)
        assert r.code == 2 and "--max-memory" in r.stderr, (bad, r)
    assert cli("check", "sum(zeros([1000, 1000]))", "--max-memory", "1M").code == 1
    assert cli("draw", "sum(zeros([1000, 1000]))", "--max-memory", "1M", "-o", "g.dot").code == 1
    assert not (tmp_path / "g.dot").exists()
    # NAME=VALUE, @file and --inputs values are held to it too
    np.save("big.npy", np.zeros(200_000))
    json.dump({"x": [0.0] * 200_000}, open("big.json", "w"))
    for words in (["x=@big.npy"], ["--inputs", "big.json"], ["x=[" + ",".join(["0"] * 200) + "]"]):
        r = cli("eval", "sum(x)", *words, "--max-memory", "1000")
        assert r.code == 1 and "memory limit" in r.stderr, (words, r)


def test_max_memory_refuses_a_npy_file_before_reading_it(tmp_path, monkeypatch):
    from cgraph import datafiles

    np.save(tmp_path / "big.npy", np.zeros(200_000))

    def no_read(*a, **k):
        raise AssertionError("the file was read")

    monkeypatch.setattr(datafiles, "read_array", no_read)
    r = cli("eval", "sum(x)", f"x=@{tmp_path / 'big.npy'}", "--max-memory", "1M")
    assert r.code == 1 and "memory limit" in r.stderr, r


def test_loop_guard_and_recursion_through_the_cli():
    forever = "x = 0\nwhile x > -1:\n    x = x + 1\nx"
    r = cli("eval", forever, "--mode", "eager", "--max-iterations", "500")
    assert r.code == 1 and "did not end after 500 iterations" in r.stderr, r
    r = cli("eval", forever, "--max-iterations", "500")  # static: a while node, the same guard
    assert r.code == 1 and "did not end after 500 iterations" in r.stderr and ":2:1" in r.stderr
    r = cli("eval", "for i in range(1000000):\n    y = i\ny", "--max-iterations", "1000")
    assert r.code == 1 and "more than the limit" in r.stderr, r
    recursive = "def f(x): return f(x) + 1\nf(1)"
    r = cli("eval", recursive, "--mode", "eager")
    assert r.code == 1 and "nest deeper than" in r.stderr, r
    r = cli("eval", recursive)
    assert r.code == 1 and "recursion needs eager mode" in r.stderr, r
    for r in (cli("eval", "--max-iterations", "0", "1"), cli("eval", "1", "--max-iterations", "x")):
        assert r.code == 2, r


DEEP = {
    "parens": "(" * 20000 + "a" + ")" * 20000,
    "negation": "-" * 20000 + "a",
    "power": "a" + " ^ a" * 3000,
    "calls": "sin(" * 5000 + "a" + ")" * 5000,
    "sum": "a" + " + a" * 20000,
    "blocks": "".join("    " * i + "if true:\n" for i in range(100)) + "    " * 100 + "y = a\ny",
    "functions": "def f0(x): return x\n" + "".join(f"def f{i}(x): return f{i - 1}(x) * 0.5\n"
                                                   for i in range(1, 400)) + "f399(a)",
}


@pytest.mark.parametrize("mode", ["static", "eager"])
@pytest.mark.parametrize("case", sorted(DEEP))
def test_deep_nesting_runs(case, mode):
    """Deep nesting runs (value and gradient): no RecursionError, no crash."""
    with watchdog():
        value, grads = cgraph.gradients(DEEP[case], {"a": 0.5}, mode=mode)
    assert np.isfinite(value) and np.isfinite(grads["a"])


@pytest.mark.parametrize("source", [
    "[" * 5000 + "a" + "]" * 5000,                      # more axes than a tensor may have
    "[" * 30000 + "1" + "]" * 30000,
    "def f0(x): return x\n" + "".join(f"def f{i}(x): return f{i - 1}(x)\n" for i in range(1, 1100))
    + "f1099(a)",                                       # calls nested deeper than 1000
    "(" * 100_000 + "a" + ")" * 100_000 + " +",          # a syntax error at the end
], ids=["list", "literal", "calls", "syntax"])
def test_too_deep_is_a_clean_error(source):
    for mode in ("static", "eager"):
        with pytest.raises(CgraphError) as info, watchdog():
            cgraph.evaluate(source, {"a": 0.5}, mode=mode)
        check_error(info.value)


@pytest.mark.parametrize("mode", ["static", "eager"])
def test_jacobian_of_a_long_vector_does_not_hang(mode):
    """jacobian(y, x) made one backward pass per element of y from y[k], each walking
    every earlier pass's nodes: 10,000 elements took a minute (quadratic). Now each
    pass starts at y with a one-hot seed: linear."""
    with watchdog(15):
        out = cgraph.evaluate("a = 1\ny = ones([8000]) * a\nsum(jacobian(y, a))", mode=mode)
    assert float(out["Y"]) == 8000


def test_100000_statement_script():
    source = "input a\nx0 = a\n" + "".join(f"x{i} = x{i - 1} * 0.5 + sin(a)\n"
                                          for i in range(1, 100_000))
    start = time.perf_counter()
    g = Program(source).check()
    assert len(g.nodes) > 300_000
    assert time.perf_counter() - start < 60


# ============================================================ files are data
def _package_sources():
    return sorted((ROOT / "cgraph").rglob("*.py"))


def test_no_pickle_no_eval_in_the_package():
    """No pickle, marshal or shelve; no eval/exec/__import__ of anything; every
    np.load refuses pickles; no shell."""
    banned_modules = {"pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}
    problems = []
    for path in _package_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        where = lambda n: f"{path.relative_to(ROOT)}:{n.lineno}"  # noqa: E731
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                problems += [where(node) for a in node.names if a.name.split(".")[0] in banned_modules]
            elif isinstance(node, ast.ImportFrom):
                if (node.module or "").split(".")[0] in banned_modules:
                    problems.append(where(node))
            elif isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                if isinstance(f, ast.Name) and name in ("eval", "exec", "__import__") and not (
                        # the one exception: compiled scalar loops, whose text holds only names
                        # they make (loop_compile.source checks it; test_loop_compile tests it)
                        name == "exec" and path.name == "loop_compile.py"
                        and ast.unparse(node).startswith("exec(compile(code, ")):
                    problems.append(f"{where(node)}: {name}()")
                if isinstance(f, ast.Attribute) and name == "load" and \
                        isinstance(f.value, ast.Name) and f.value.id in ("np", "numpy"):
                    ok = any(k.arg == "allow_pickle" and isinstance(k.value, ast.Constant)
                             and k.value.value is False for k in node.keywords)
                    if not ok:
                        problems.append(f"{where(node)}: np.load without allow_pickle=False")
                if name in ("system", "popen") and isinstance(f, ast.Attribute) and \
                        isinstance(f.value, ast.Name) and f.value.id == "os":
                    problems.append(f"{where(node)}: os.{name}")
                for k in node.keywords:
                    if k.arg == "shell" and not (isinstance(k.value, ast.Constant) and not k.value.value):
                        problems.append(f"{where(node)}: shell=")
                if isinstance(f, ast.Name) and f.id == "Lark" and any(k.arg == "cache" for k in node.keywords):
                    problems.append(f"{where(node)}: lark's cache is a pickle")
    assert not problems, problems
    text = "\n".join(p.read_text(encoding="utf-8") for p in _package_sources())
    assert not re.search(r"^\s*(import|from)\s+(c?pickle|marshal|shelve)\b", text, re.M)


@pytest.mark.parametrize("mode", ["static", "eager"])
def test_pickled_arrays_are_refused(tmp_path, mode, monkeypatch):
    import pickle

    called = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: called.append(a))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: called.append(a))
    obj = np.array([{"k": 1}, 2], dtype=object)
    np.save(tmp_path / "obj.npy", obj, allow_pickle=True)
    np.savez(tmp_path / "obj.npz", W=obj)
    for source in (f'sum(load("{tmp_path / "obj.npy"}"))', f'sum(load("{tmp_path / "obj.npz"}", "W"))'):
        with pytest.raises(CgraphError, match="pickled"):
            cgraph.evaluate(source, mode=mode)
    for ref in ("obj.npy", "obj.npz:W"):
        r = cli("eval", "sum(x)", f"x=@{tmp_path / ref}", "--mode", mode)
        assert r.code == 2 and "pickled" in r.stderr, r
    np.savez(tmp_path / "inputs.npz", x=obj)
    r = cli("eval", "sum(x)", "--inputs", str(tmp_path / "inputs.npz"))
    assert r.code == 2 and "pickled" in r.stderr, r
    assert not called


def test_fifo_and_devices_never_hang(tmp_path):
    """A FIFO (nobody writes to it) and /dev/zero must not block a read: refused
    at once, in a real process with a timeout."""
    fifo = tmp_path / "pipe.npy"
    os.mkfifo(fifo)
    (tmp_path / "zero.npy").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "pipe.json")
    for args in (["eval", "sum(x)", "x=@pipe.npy"], ["eval", "sum(x)", "x=@zero.npy"],
                 ["eval", 'sum(load("pipe.npy"))'], ["eval", 'sum(load("zero.npy"))'],
                 ["eval", 'sum(load("pipe.json"))', "--mode", "eager"],
                 ["eval", "sum(x)", "--inputs", "pipe.json"], ["check", 'load("pipe.json")']):
        r = _subprocess(args, cwd=tmp_path, timeout=30)
        err = r.stderr.decode()
        assert r.returncode in (1, 2), (args, err)
        assert "not a regular file" in err, (args, err)


def test_files_over_the_size_limit_are_refused_unread(tmp_path, monkeypatch):
    from cgraph import datafiles

    with open(tmp_path / "sparse.json", "wb") as f:  # 64 MiB + 1 of JSON, nothing on disk
        f.truncate(datafiles.MAX_JSON_BYTES + 1)
    with pytest.raises(CgraphError, match="limit"):
        cgraph.evaluate(f'sum(load("{tmp_path / "sparse.json"}"))')
    r = cli("eval", "sum(x)", "--inputs", str(tmp_path / "sparse.json"))
    assert r.code == 2 and "limit" in r.stderr, r
    monkeypatch.setattr(datafiles, "MAX_LOAD_BYTES", 1000)
    np.save(tmp_path / "a.npy", np.zeros(1000))
    (tmp_path / "a.csv").write_text("1,2\n" * 1000)
    for name in ("a.npy", "a.csv"):
        with pytest.raises(CgraphError, match="limit"):
            cgraph.evaluate(f'sum(load("{tmp_path / name}"))')
        r = cli("eval", "sum(x)", f"x=@{tmp_path / name}")
        assert r.code == 2 and "limit" in r.stderr, r


def test_deep_and_huge_json(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "1" + "]" * 100_000)
    deep_obj = tmp_path / "deep_obj.json"
    deep_obj.write_text('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    huge = tmp_path / "huge.json"
    with open(huge, "w") as f:  # 70 MB of real JSON text
        f.write("[" + "1.5," * (18 << 20) + "1]")
    for mode in ("static", "eager"):
        for path in (deep, huge):
            with pytest.raises(CgraphError) as info:
                cgraph.evaluate(f'sum(load("{path}"))', mode=mode)
            assert "deep" in info.value.message or "limit" in info.value.message
    for words in (["x=@" + str(deep)], ["x=@" + str(huge)], ["--inputs", str(deep_obj)]):
        r = cli("eval", "sum(x)", *words)
        assert r.code == 2 and ("deep" in r.stderr or "limit" in r.stderr), r


# ========================================================== drawings are data
def test_drawings_escape_hostile_strings():
    source = ('x = 1\nprint("</text><script>alert(1)</script>", x)\n'
              'print("\\"]; evil [label=\\"pwned\\"]; a [label=\\"", x)\n'
              'ａ = x * 2\nа = ａ + 1\n')  # fullwidth a, Cyrillic а
    for extra in ([], ["--backward"], ["--optimized"]):
        r = cli("draw", source, "-o", "-", "--format", "svg", *extra)
        assert r.code == 0, r
        assert_safe_svg(r.stdout)
        assert "<script" not in r.stdout
        titles = [el.text for el in ET.fromstring(r.stdout.encode()).iter()
                  if el.tag.endswith("title")]
        assert "evil" not in titles and "a" not in titles, titles  # no node was injected


# ============================================================== interrupts
LONG = 'print("started")\nx = 0\nwhile x < 1e12:\n    x = x + 1\nx\n'


def _interrupt(args, cwd, sig):
    """Start `cgraph ARGS` (its program prints "started" on stderr first), wait for
    that line, send `sig`; return (status, the rest of stderr)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    proc = subprocess.Popen([sys.executable, "-m", "cgraph", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with watchdog(60):
            first = proc.stderr.readline()  # the loop is running: every handler is in place
        assert first.startswith(b"started"), first + proc.stderr.read()
        time.sleep(0.2)
        proc.send_signal(sig)
        with watchdog(60):
            rest = proc.stderr.read()
            proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, rest.decode("utf-8", "replace")


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_interrupt_keeps_the_old_output_file(tmp_path, sig, status):
    (tmp_path / "long.cg").write_text(LONG)
    out = tmp_path / "graph.svg"
    old = b"<svg>the previous drawing</svg>\n"
    out.write_bytes(old)
    code, err = _interrupt(["draw", "long.cg", "--mode", "eager", "--max-iterations",
                            "1000000000", "-o", str(out)], tmp_path, sig)
    assert code == status, err
    assert "Traceback" not in err
    assert err.strip() == ("cgraph: interrupted" if status == 130 else "cgraph: terminated")
    assert out.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.svg", "long.cg"]


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_interrupted_csv_batch_keeps_the_old_results(tmp_path, sig, status):
    (tmp_path / "slow.cg").write_text('input n\nprint("started", n)\nx = 0\n'
                                      "while x < n:\n    x = x + 1\nx\n")
    (tmp_path / "rows.csv").write_text("n\n100000000000\n1\n2\n")
    out = tmp_path / "results.csv"
    out.write_text("old,results\n1,2\n")
    code, err = _interrupt(["eval", "slow.cg", "--mode", "eager", "--inputs", "rows.csv",
                            "--out", "results.csv", "--max-iterations", "1000000000000"],
                           tmp_path, sig)
    assert code == status, err
    assert "Traceback" not in err
    assert out.read_text() == "old,results\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "rows.csv", "slow.cg"]


@pytest.mark.parametrize("sig", [KeyboardInterrupt, "Terminated"])
def test_interrupted_while_writing_leaves_the_old_file(tmp_path, monkeypatch, sig):
    """Ctrl-C or SIGTERM after the data is written, before it replaces the output:
    the old file is untouched and no temporary file is left (draw -o, --out)."""
    import cgraph.atomic
    from cgraph.cli.run import Terminated

    exc = Terminated if sig == "Terminated" else KeyboardInterrupt

    def interrupted_fsync(fd):
        raise exc()

    monkeypatch.setattr(cgraph.atomic.os, "fsync", interrupted_fsync)
    monkeypatch.chdir(tmp_path)
    Path("rows.csv").write_text("a,b\n1,2\n3,4\n")
    for args, out in ((["draw", "(a+b)*(b-c)", "a=2", "b=3", "c=4", "-o", "g.svg"], "g.svg"),
                      (["eval", "a * b", "--inputs", "rows.csv", "--out", "r.csv"], "r.csv")):
        Path(out).write_bytes(b"old contents\n")
        r = cli(*args)
        assert r.code == (143 if sig == "Terminated" else 130), r
        assert Path(out).read_bytes() == b"old contents\n"
        assert sorted(os.listdir()) == sorted({"rows.csv", "g.svg", out}), os.listdir()


# ======================================================= numerical trouble
TROUBLE = [
    ("log(x)", "x=-1", "log of a negative value gives nan"),
    ("log(x)", "x=0", "log of zero gives -inf"),
    ("sqrt(x)", "x=-4", "sqrt of a negative value gives nan"),
    ("1 / x", "x=0", "division by zero gives inf"),
    ("x / x", "x=0", "zero divided by zero gives nan"),
    ("x % 0", "x=1", "remainder (%) by zero"),
    ("exp(x)", "x=1000", "overflow in exp"),
    ("x ^ 0.5", "x=-2", "a negative number to a fractional power gives nan"),
    ("asin(x)", "x=2", "asin of a value outside [-1, 1] gives nan"),
    ("x * x", "x=1e200", "overflow in mul"),
]


@pytest.mark.parametrize("mode", ["static", "eager"])
@pytest.mark.parametrize("source, value, message", TROUBLE, ids=[t[2].split(" gives")[0] for t in TROUBLE])
def test_numerical_trouble_is_one_warning(source, value, message, mode):
    script = f"input x\ny = x + 0\nz = {source}\nout = z * 1\n"
    for command in ("eval", "grad"):
        r = cli(command, script, value, "--mode", mode)
        assert r.code == 0 and not r.warned, r
        assert f"<expr>:3:5: warning: {message}" in r.stderr, r
        assert r.stderr.count("warning") == 1 and "RuntimeWarning" not in r.stderr, r
        r = cli(command, script, value, "--mode", mode, "--strict")
        assert r.code == 1 and f"value error: {message}" in r.stderr, r
    r = cli("eval", script, value, "--mode", mode, "--quiet")
    assert "warning" not in r.stderr


def test_numerical_trouble_after_fusion_and_in_gradients():
    path = HOSTILE / "fused_log_negative.cg"
    text = path.read_text()
    prog = Program(text, str(path))
    g = prog.build()
    assert any(n.op.name == "fused" for n in g.nodes)  # the optimiser did fuse it
    r = cli("grad", str(path))
    assert f"{path}:10:5: warning: log of a negative value gives nan" in r.stderr, r
    r = cli("grad", "sqrt(x)", "x=0")
    assert "in the gradient of sqrt: division by zero gives inf" in r.stderr, r
    r = cli("grad", "sqrt(x)", "x=0", "--strict")
    assert r.code == 1


def test_no_runtime_warning_in_any_path():
    """Scalar fast path, NumPy path, cached plans, both modes, the API."""
    with no_runtime_warnings():
        for mode in ("static", "eager"):
            prog = cgraph.compile("exp(x) + log(y) + 1 / z", mode=mode)
            for _ in range(2):
                prog.gradients({"x": 1000.0, "y": -1.0, "z": 0.0})
                prog.evaluate({"x": np.array([1000.0, 1]), "y": np.array([-1.0, 0]),
                               "z": np.zeros(2)})
    r = cli("grad", "exp(x) + log(y) + 1 / z", "x=1000", "y=-1", "z=0", "--explain", "--check")
    assert not r.warned and "RuntimeWarning" not in r.stderr, r
    r = cli("jacobian", "exp(x) / z", "x=[1000,1]", "z=[0,1]")
    assert not r.warned and "RuntimeWarning" not in r.stderr, r


def test_warnings_name_the_data_and_the_constants():
    r = cli("eval", f'sum(load("{HOSTILE / "data" / "nan.json"}"))')
    assert "the data loaded here holds nan" in r.stderr, r
    r = cli("eval", "x + inf", "x=1")
    assert "this value is inf" in r.stderr, r
    r = cli("eval", "sum(x)", "x=[1,nan]")
    assert "the value of 'x' holds nan" in r.stderr, r


def test_makefile_has_a_fuzz_target():
    text = (ROOT / "Makefile").read_text()
    assert re.search(r"^fuzz:", text, re.M) and "CGRAPH_FUZZ_EXAMPLES" in text


# ------------------------------------------- threads and bad bytes (issue 19)
_ELEMENTWISE = ["sin({})", "tanh({})", "exp(-abs({}))", "({} * {})", "({} + 0.5 * {})",
                "sigmoid({})", "maximum({}, 0.1)", "square({})"]


@st.composite
def elementwise_programs(draw):
    """sum(f(x)) for a random composition f of elementwise ops over one input x."""
    e = "x"
    for _ in range(draw(st.integers(1, 6))):
        form = draw(st.sampled_from(_ELEMENTWISE))
        e = form.format(*[e] * form.count("{}"))
    return f"input x\nY = sum({e})\n"


@fuzz_settings(default=6)
@given(source=elementwise_programs(), mode=st.sampled_from(["static", "eager"]))
def test_one_program_from_four_threads_with_large_inputs(source, mode):
    """A compiled program called from 4 threads at once on 100,000-element inputs
    gives each thread the numbers a lone call gives (no shared buffer leaks)."""
    prog = Program(source, mode=mode)
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=100_000) for _ in range(4)]
    alone = [prog.gradients({"x": x}) for x in xs]
    got: dict = {}

    def work(k):
        for _ in range(3):
            got.setdefault(k, []).append(prog.gradients({"x": xs[k]}))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    with watchdog():
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for k in range(4):
        assert len(got[k]) == 3
        for value, grads in got[k]:
            assert value == alone[k][0]
            np.testing.assert_array_equal(grads["x"], alone[k][1]["x"])


_GOOD_LINES = ["a+b", "a*b", "sin(a) - b", "a^2 + b", "(a+b)*(b-a)"]
_BAD_BYTES = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80abc"]


@fuzz_settings(default=12)
@given(lines=st.lists(st.one_of(st.sampled_from(_GOOD_LINES).map(str.encode),
                                st.tuples(st.sampled_from(_GOOD_LINES), st.sampled_from(_BAD_BYTES),
                                          st.integers(0, 8)).map(
                                    lambda t: (t[0][:t[2]] + "\x00").encode().replace(
                                        b"\x00", t[1]) + t[0][t[2]:].encode())),
                      min_size=1, max_size=6))
def test_batch_with_bad_bytes_gives_every_member_its_result(lines):
    """`cgraph batch - --json` over lines some of which are not UTF-8: one result or
    one error per line, in order; every good line computes."""
    r = cli("batch", "-", "a=2", "b=3", "--json", stdin=b"\n".join(lines) + b"\n")
    assert_clean(r, json_mode=True)
    results = json.loads(r.stdout)["results"]
    assert len(results) == len(lines)
    for line, res in zip(lines, results):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            assert res["error"]["kind"] == "syntax" and "UTF-8" in res["error"]["message"]
        else:
            assert "outputs" in res, res
