"""Hostile input, round two (issue 19): outputs that would replace an input,
empty and odd output paths, crafted .npy headers, a full standard output.
Each test failed before its fix."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from cli_runner import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = os.path.join(ROOT, "examples", "seed.cg")
SEED_BATCH = os.path.join(ROOT, "examples", "seed_batch.cg")


def crafted_npy(path, shape_text: str) -> str:
    """A .npy file whose header claims `shape_text` (e.g. "(18446744073709551616,)")."""
    buf = path.parent / "ok.npy"
    np.save(buf, np.zeros(3))
    raw = buf.read_bytes()
    n = int.from_bytes(raw[8:10], "little")
    head = raw[10:10 + n].decode("latin1").replace("(3,)", shape_text).rstrip()
    head += " " * ((64 - (10 + len(head) + 1) % 64) % 64) + "\n"
    path.write_bytes(raw[:8] + len(head).to_bytes(2, "little") + head.encode("latin1") + raw[10 + n:])
    return str(path)


# ------------------------------------------------- outputs and inputs
def test_draw_refuses_to_replace_its_source(tmp_path):
    src = tmp_path / "src.cg"
    src.write_text("Y = 1 + 2\n")
    out = cli("draw", str(src), "-o", str(src), "--format", "dot")
    assert out.code == 2 and "is the input" in out.stderr
    assert src.read_text() == "Y = 1 + 2\n"


def test_a_batch_refuses_to_replace_its_rows(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c\n1,2,3\n")
    link = tmp_path / "link.csv"
    link.symlink_to(rows)
    for target in (rows, link):
        out = cli("eval", SEED_BATCH, "--inputs", str(rows), "--out", str(target))
        assert out.code == 2 and "is the input" in out.stderr
    assert rows.read_text() == "a,b,c\n1,2,3\n"


@pytest.mark.parametrize("args", [("draw", SEED, "-o", ""),
                                  ("eval", SEED_BATCH, "--inputs", "ROWS", "--out", "")])
def test_an_empty_output_name_is_a_usage_error(tmp_path, args):
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c\n1,2,3\n")
    out = cli(*[str(rows) if a == "ROWS" else a for a in args])
    assert out.code == 2 and "output file name is empty" in out.stderr


def test_output_through_a_symlink_replaces_the_target(tmp_path):
    real = tmp_path / "real.dot"
    real.write_text("old")
    link = tmp_path / "link.dot"
    link.symlink_to(real)
    assert cli("draw", SEED, "-o", str(link)).code == 0
    assert link.is_symlink() and "digraph" in real.read_text()


def test_odd_output_paths_are_diagnostics(tmp_path):
    out = cli("draw", SEED, "-o", "/proc/cgraph-test.svg")
    assert out.code in (1, 2) and "Traceback" not in out.stderr
    long = tmp_path / ("a" * 245 + ".dot")  # legal: 249 characters
    assert cli("draw", SEED, "-o", str(long)).code == 0 and long.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ------------------------------------------------- crafted .npy headers
@pytest.mark.parametrize("shape", ["(18446744073709551616,)", "(9223372036854775808,)",
                                   "(True,)", "(3000000000, 3000000000, 3000000000)"])
def test_a_crafted_npy_shape_is_a_clean_error(tmp_path, shape):
    path = crafted_npy(tmp_path / "bad.npy", shape)
    for args in (("eval", "sum(x)", f"x=@{path}"), ("eval", f'Y = sum(load("{path}"))'),
                 ("check", f'Y = sum(load("{path}"))'), ("draw", "sum(x)", f"x=@{path}", "-o", "-")):
        out = cli(*args)
        assert out.code in (1, 2), (args, out)
        assert "not a valid .npy file" in out.stderr and "Traceback" not in out.stderr


# ------------------------------------------------- a full standard output
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [("eval", "x", "x=[1,2]"), ("--help",), ("ops",),
                                  ("grad", SEED), ("batch", SEED, "--json")])
def test_a_full_standard_output_is_a_clean_error(args):
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "cgraph", *args], stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 1
    assert "cannot write to standard output" in p.stderr and "Traceback" not in p.stderr


# ------------------------------------------------- one bad member
def test_a_batch_member_that_is_not_utf8_loses_no_other(tmp_path):
    good, bad = tmp_path / "good.cg", tmp_path / "bad.cg"
    good.write_text("Y = 1 + 2\n")
    bad.write_bytes(b"Y = \xff\n")
    out = cli("batch", str(good), str(bad), str(good), "--json")
    assert out.code == 1
    results = out.json["results"]
    assert [("error" in r) for r in results] == [False, True, False]
    assert results[1]["error"]["kind"] == "syntax" and results[2]["outputs"]["Y"]["value"] == 3.0
    text = cli("batch", str(good), str(bad), str(good))
    assert text.stdout.count("Y = 3") == 2


def test_a_stdin_line_that_is_not_utf8_is_that_lines_error():
    out = cli("batch", "-", "--json", "a=1", "b=2", stdin=b"a+b\n\xff\na*b\n")
    results = out.json["results"]
    assert [("error" in r) for r in results] == [False, True, False]
    assert results[2]["outputs"]["Y"]["value"] == 2.0


def test_check_goes_on_after_a_binary_file(tmp_path):
    good, binary = tmp_path / "a.cg", tmp_path / "bin.npy"
    good.write_text("Y = 1\n")
    np.save(binary, np.zeros(3))
    out = cli("check", str(good), str(binary), str(good))
    assert out.code == 1 and out.stdout.count(": ok:") == 2


# ------------------------------------------------- bounded caches
def test_a_program_keeps_a_bounded_number_of_plans():
    from cgraph.program import Program

    p = Program("Y = sum(x * 2)")
    for n in range(1, 201):
        assert p.evaluate({"x": np.ones(n)})["Y"] == 2.0 * n
    assert len(p._plans) <= p._plans.size == 64
    assert p.evaluate({"x": np.ones(3)})["Y"] == 6.0  # an evicted signature compiles again


# ------------------------------------------------- the API speaks CgraphError
@pytest.mark.parametrize("call", [
    lambda c: c.evaluate("sum(a)", [1, 2]), lambda c: c.gradients("sum(a)", [1, 2]),
    lambda c: c.evaluate(None, {}), lambda c: c.evaluate("a * 2", {1: 2}),
    lambda c: c.evaluate("a * 2", {None: 1}), lambda c: c.gradients("a * 2", {"a": 1}, of=1),
    lambda c: c.gradients("a * 2", {"a": 1}, of=["Y"]),
    lambda c: c.gradients("a * b", {"a": 1, "b": 2}, wrt=[1]),
    lambda c: c.evaluate("a * 2", {"a": 1}, seed="x"),
    lambda c: c.gradients("a * b", {"a": 1, "b": 2}, wrt=[]),
    lambda c: c.gradients("a * b", {"a": 1, "b": 2}, wrt="ab"),
])
def test_api_mistakes_are_usage_errors(call):
    import cgraph

    with pytest.raises(cgraph.CgraphError) as e:
        call(cgraph)
    assert "--" not in e.value.message + (e.value.hint or "")  # no CLI flags in the API


def test_api_names_are_normalised_like_the_source():
    import cgraph

    assert cgraph.evaluate("ﬁ * 2", {"ﬁ": 3}) == {"Y": 6.0}
    assert list(cgraph.gradients("a * b", {"a": 1, "b": 2}, wrt="a")[1]) == ["a"]


# ------------------------------------------------- text that is not what it seems
def test_print_on_a_terminal_neutralises_control_characters(monkeypatch):
    import io

    from cgraph.ops import internal

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    monkeypatch.setitem(internal.PRINT, "stream", tty)
    from cgraph.program import Program

    Program('print("\x1b[2J", 1)\nY = 1').evaluate()  # a raw ESC inside the string
    assert "\x1b" not in tty.getvalue() and "␛[2J" in tty.getvalue()


@pytest.mark.parametrize("word", ["x=1_000", "x=１", "x=٣"])
def test_cli_numbers_use_the_language_syntax(word):
    out = cli("eval", "x * 2", word)
    assert out.code == 2 and "is not a number" in out.stderr


def test_einsum_with_a_non_ascii_index_is_a_diagnostic():
    out = cli("eval", 'einsum("θ,θ->", [1, 2], [3, 4])')
    assert out.code == 1 and "ASCII letters" in out.stderr and "codec" not in out.stderr


# ------------------------------------------------- limits for the whole run
@pytest.mark.parametrize("mode", ["static", "eager"])
def test_nested_loops_count_against_one_limit(mode):
    from cgraph import CgraphError
    from cgraph.program import Program

    src = "x = 0\nfor i in range(40):\n    for j in range(40):\n        x = x + 1\nY = x\n"
    with pytest.raises(CgraphError, match="iterations in all"):
        Program(src, mode=mode, max_iterations=1000).evaluate()  # each loop alone is within it
    assert Program(src, mode=mode, max_iterations=2000).evaluate()["Y"] == 1600


def test_diagnostics_are_bounded(tmp_path):
    wide = tmp_path / "wide.csv"
    n = 20_000
    wide.write_text(",".join(f"c{i}" for i in range(n)) + "\n" + ",".join("1" for _ in range(n)) + "\n")
    out = cli("eval", "a + 1", "--inputs", str(wide))
    assert out.code == 1 and len(out.stderr) < 10_000
    assert f"… and values for {n - 20:,} more names" in out.stderr
    long = "Y = " + "+".join(["1"] * 50_000) + " + zz\n"
    out = cli("eval", long)
    assert out.code == 1 and len(out.stderr) < 2_000 and "^^" in out.stderr
    many = "".join(f"y{i} = nosuch{i}(1)\n" for i in range(80))
    out = cli("check", many)
    assert "stopped after 50 errors" in out.stderr


def test_an_npz_with_many_members_is_opened_once(tmp_path, monkeypatch):
    """20,000 tiny members took minutes: the archive was reopened for each one."""
    import zipfile

    from cgraph import datafiles

    path = tmp_path / "many.npz"
    np.savez(path, **{f"k{i}": np.float64(i) for i in range(500)})
    opened = []
    real = zipfile.ZipFile

    def counting(*args, **kw):
        opened.append(args[0])
        return real(*args, **kw)

    monkeypatch.setattr(datafiles.zipfile, "ZipFile", counting)
    values = datafiles.read_npz_values(path)
    assert len(values) == 500 and values["k499"] == 499.0
    assert len(opened) == 1


@pytest.mark.parametrize("mode", ["static", "eager"])
def test_a_huge_jacobian_is_refused_before_it_is_built(mode):
    from cgraph import CgraphError
    from cgraph.program import Program

    with pytest.raises(CgraphError, match="more than the memory limit"):
        Program("input x: [100000]\nY = jacobian(x ^ 2, x)\n", mode=mode).evaluate(
            {"x": np.ones(100000)})


def test_an_nfd_name_in_source_is_the_nfc_name():
    import unicodedata

    from cgraph.program import Program

    nfd, nfc = unicodedata.normalize("NFD", "é"), "é"
    assert Program(f"{nfd} = 3\nY = {nfd} * 2\n").evaluate() == {"Y": 6.0}
    assert Program(f"input {nfd}\nY = {nfd} * 2\n").evaluate({nfc: 3}) == {"Y": 6.0}
    assert Program(f"input {nfc}\nY = {nfc} * 2\n").evaluate({nfd: 3}) == {"Y": 6.0}


def test_the_default_memory_limit_follows_the_process_limit():
    import subprocess

    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.RLIM_INFINITY))\n"
            "from cgraph.ir import default_max_bytes; print(default_max_bytes())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) <= (3 << 30) // 2


def test_a_long_run_of_bad_characters_is_quoted_in_part():
    out = cli("eval", "Y = 1 " + "$" * 100_000)
    assert out.code == 1 and "(100,000 characters)" in out.stderr and len(out.stderr) < 2_000


# ------------------------------------------------ limits of the whole run (§4)
MEM_LOOP = "x = zeros([1000000])\nfor i in range(16):\n    x = x + ones([1000000]) * i\noutput x\n"


@pytest.mark.parametrize("mode", ["static", "eager"])
def test_max_memory_holds_for_the_whole_run(tmp_path, mode):
    """16 tensors of 8 MB each under --max-memory 100M: refused once, located,
    not one message per iteration (static: the constants folded while building a
    short loop, which is unrolled; eager: the values kept for the backward pass).
    A long loop is one loop node in static mode: it holds one carry, and fits."""
    src = tmp_path / "mem.cg"
    src.write_text(MEM_LOOP)
    out = cli("eval", src, "--mode", mode, "--max-memory", "100M")
    assert out.code == 1, out
    assert out.stderr.count("more than the memory limit") == 1, out.stderr
    assert "mem.cg:3:" in out.stderr and "Traceback" not in out.stderr
    if mode == "static":
        src.write_text(MEM_LOOP.replace("range(16)", "range(200)"))
        assert cli("eval", src, "--max-memory", "100M", "--json").code == 0


def test_a_static_plan_over_the_limit_is_refused_before_it_runs():
    import cgraph

    src = "input x: [n]\nA = outer(x, x)\nB = outer(x, x * 2)\ny = sum(A @ B)\n"
    # each tensor (32 MB) is under the limit; the plan holds several at once
    with pytest.raises(cgraph.CgraphError) as e:
        cgraph.compile(src, max_memory=60_000_000).gradients({"x": np.ones(2000)})
    assert "at its peak" in e.value.message and e.value.kind == "value"
    assert cgraph.compile(src, max_memory=60_000_000).gradients({"x": np.ones(100)})[0] > 0


def test_an_npz_member_over_the_limit_is_refused_from_its_header(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros(2_000_000), y=np.ones(3))
    out = cli("eval", "sum(x)", "--inputs", tmp_path / "d.npz", "--max-memory", "1M")
    assert out.code == 1 and "memory limit" in out.stderr and "'x'" in out.stderr, out


def test_only_the_npz_members_the_program_names_are_read(tmp_path):
    """A member the program has no name for is never read: a damaged one does not
    matter, and it is still an unknown name."""
    import zipfile

    path = tmp_path / "d.npz"
    np.savez(path, y=np.ones(3))
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("junk.npy", b"\x93NUMPY not an array at all")
    out = cli("eval", "sum(y)", "--inputs", path)
    assert out.code == 1 and "which the program does not have" in out.stderr, out
    assert "junk" in out.stderr and "not a valid .npy" not in out.stderr
    out = cli("eval", "sum(y) + junk", "--inputs", path)
    assert out.code == 2 and "not a valid .npy" in out.stderr, out


def test_csv_batch_column_names_are_nfkc_normalised(tmp_path):
    import unicodedata

    csv = tmp_path / "rows.csv"
    csv.write_text("ﬁ," + unicodedata.normalize("NFD", "é") + "\n1,2\n3,4\n", encoding="utf-8")
    out = cli("eval", "Y = fi * 2 + é", "--inputs", csv, "--json")
    assert out.code == 0, out
    assert out.json["outputs"]["Y"]["value"] == [4.0, 10.0]


def test_an_output_may_not_replace_a_file_the_program_loads(tmp_path, monkeypatch):
    """load() paths are relative to the program's directory, as the builder reads them."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    np.save("m/w.npy", np.ones(3))
    (tmp_path / "m" / "ld.cg").write_text('W = load("w.npy")\nY = sum(W * x)\n')
    (tmp_path / "rows.csv").write_text("x\n1\n2\n")
    before = (tmp_path / "m" / "w.npy").read_bytes()
    for args in (["draw", "m/ld.cg", "x=2", "-o", "m/w.npy", "--format", "dot"],
                 ["eval", "m/ld.cg", "--inputs", "rows.csv", "--out", "m/w.npy"]):
        out = cli(*args)
        assert out.code == 2 and "is the input" in out.stderr and "w.npy" in out.stderr, out
    assert (tmp_path / "m" / "w.npy").read_bytes() == before
    assert cli("draw", "m/ld.cg", "x=2", "-o", "w.npy", "--format", "dot").code == 0


def test_drawing_the_backward_pass_of_a_10000_step_chain_collapses_it(tmp_path):
    """It used to collapse to 200 nodes and then spend minutes in the renderer."""
    src = tmp_path / "chain.cg"
    src.write_text("input x\nfor i in range(10000):\n    x = sin(x)*0.999 + 0.1\noutput x\n")
    out = cli("draw", src, "x=0.5", "--backward", "-o", tmp_path / "c.svg", "--json")
    assert out.code == 0, out
    assert out.json["nodes"] <= 50 and (tmp_path / "c.svg").read_text().startswith("<?xml")
