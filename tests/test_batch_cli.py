"""Batch runs on the command line (CLI.md "Batch runs", "More JSON shapes",
"Exit status"): `eval|grad PROGRAM --inputs rows.csv [--out FILE]` and
`cgraph batch FILE... | -`."""
from __future__ import annotations

import io
import json
import os
import sys
import time

import numpy as np

from cgraph.cli.spec import Options

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED_BATCH = os.path.join(ROOT, "examples", "seed_batch.cg")
SEED_ROWS = os.path.join(ROOT, "examples", "batch", "seed_rows.csv")


from cli_runner import Out, cli  # noqa: E402


def csv_batch(command, source, inputs, *values, **flags) -> Out:
    """The --inputs rows.csv runner, called as the eval/grad commands call it
    (with --out, which the eval and grad commands declare)."""
    from cgraph.cli.cmd_batch import csv_batch as runner
    from cgraph.cli.run import run_command
    from cgraph.cli.spec import Command

    opts = Options(source=str(source), values=[str(v) for v in values], inputs=str(inputs),
                   mode="static", dtype="float64", seed=0, max_iterations=100_000,
                   json=False, precision=None, quiet=False, of=None, wrt=None, all=False,
                   explain=False, check=False)
    for k, v in flags.items():
        setattr(opts, k, v)
    out, err = io.BytesIO(), io.BytesIO()
    saved = sys.stdout, sys.stderr
    streams = (io.TextIOWrapper(out, encoding="utf-8", write_through=True),
               io.TextIOWrapper(err, encoding="utf-8", write_through=True))
    sys.stdout, sys.stderr = streams
    try:
        code = run_command(Command(command, lambda o: runner(command, o), ()), opts)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = saved
    return Out(code, out.getvalue().decode(), err.getvalue().decode())


# ----------------------------------------------------------- one program, rows
def test_grad_rows_json_shape():
    r = cli("grad", SEED_BATCH, "--inputs", SEED_ROWS, "--json")
    assert r.code == 0, r.stderr
    doc = r.json
    assert doc["rows"] == 5 and doc["output"] == "Y"
    assert doc["outputs"] == {"Y": {"value": [-5.0, 0.0, 7.5, 2.5, 0.0], "shape": [5]}}
    assert doc["gradients"]["a"] == {"value": [-1.0, 0.0, -5.0, 2.5, 0.0], "shape": [5]}
    assert doc["gradients"]["b"]["value"][0] == 4.0 and doc["gradients"]["c"]["value"][0] == -5.0
    assert r.stdout.count("\n") == 1


def test_eval_rows_json_shape_and_piped_csv():
    r = cli("eval", SEED_BATCH, "--inputs", SEED_ROWS, "--json")
    assert r.code == 0, r.stderr
    assert r.json == {"rows": 5, "outputs": {"Y": {"value": [-5.0, 0.0, 7.5, 2.5, 0.0],
                                                   "shape": [5]}}}
    r = cli("grad", SEED_BATCH, "--inputs", SEED_ROWS)
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "a,b,c,Y,dY/da,dY/db,dY/dc"
    assert lines[1] == "2.0,3.0,4.0,-5.0,-1.0,4.0,-5.0" and len(lines) == 6


def test_shared_values_and_their_summed_gradient(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("x\n1\n2\n3\n")
    r = cli("grad", "input w: [2]\nY = sum(w * x)", "w=[1,2]", "--inputs", rows, "--json")
    assert r.code == 0, r.stderr
    assert r.json["outputs"]["Y"]["value"] == [3.0, 6.0, 9.0]
    assert r.json["gradients"] == {"x": {"value": [3.0, 3.0, 3.0], "shape": [3]}}
    assert r.json["shared_gradients"] == {"w": {"value": [6.0, 6.0], "shape": [2]}}


def test_bad_rows_name_the_row_and_column(tmp_path):
    out = tmp_path / "out.csv"
    for text, where in [("a,b,c\n1,2,3\n4,five,6\n", "row 3, column 2"),
                        ("a,b,c\n1,2,3\n4,5\n", "row 3, column 3 is missing"),
                        ("a,b,c\n1,2,3,4\n", "row 2, column 4 is extra")]:
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        r = cli("grad", SEED_BATCH, "--inputs", bad)
        assert r.code == 2 and where in r.stderr and r.stdout == ""
        r = csv_batch("grad", SEED_BATCH, bad, out=str(out))
        assert r.code == 2 and where in r.stderr and not out.exists()
    missing = tmp_path / "missing.csv"
    missing.write_text("a,b\n1,2\n")
    r = cli("eval", SEED_BATCH, "--inputs", missing)
    assert r.code == 1 and "no value for input 'c'" in r.stderr and "Traceback" not in r.stderr


def test_a_failing_row_is_named(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("a\n1\n2\n-3\n")
    r = cli("eval", "assert a > 0, \"a must be positive\"\nY = sqrt(a)", "--inputs", rows)
    assert r.code == 1 and "row 4" in r.stderr and "a must be positive" in r.stderr


def test_out_files(tmp_path):
    for ext in ("csv", "jsonl", "npz"):
        out = tmp_path / f"results.{ext}"
        r = csv_batch("grad", SEED_BATCH, SEED_ROWS, out=str(out))
        assert r.code == 0, r.stderr
        assert r.stdout == "" and f"wrote 5 rows to {out}" in r.stderr
    assert (tmp_path / "results.csv").read_text().splitlines()[:2] == [
        "a,b,c,Y,dY/da,dY/db,dY/dc", "2.0,3.0,4.0,-5.0,-1.0,4.0,-5.0"]
    first = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])
    assert first == {"a": 2.0, "b": 3.0, "c": 4.0, "Y": -5.0, "dY/da": -1.0, "dY/db": 4.0,
                     "dY/dc": -5.0}
    with np.load(tmp_path / "results.npz", allow_pickle=False) as z:
        assert z["dY/db"].tolist() == [4.0, 2.0, -6.5, 3.5, 6.0]
    assert sorted(os.listdir(tmp_path)) == ["results.csv", "results.jsonl", "results.npz"]
    r = csv_batch("eval", SEED_BATCH, SEED_ROWS, out=str(tmp_path / "r.txt"))
    assert r.code == 2 and ".csv" in r.stderr
    r = csv_batch("eval", SEED_BATCH, SEED_ROWS, out=str(tmp_path / "no" / "r.csv"))
    assert r.code == 2 and "no such directory" in r.stderr
    r = csv_batch("eval", SEED_BATCH, SEED_ROWS, out=str(tmp_path / "r.csv"), json=True)
    assert json.loads(r.stdout)["rows"] == 5


def test_csv_batch_refuses_what_does_not_apply(tmp_path):
    r = cli("grad", SEED_BATCH, "--inputs", SEED_ROWS, "--check")
    assert r.code == 2 and "--check" in r.stderr
    r = cli("jacobian", SEED_BATCH, "--inputs", SEED_ROWS)
    assert r.code == 2


# --------------------------------------------------------------- many programs
def _programs(tmp_path):
    good1 = tmp_path / "good1.cg"
    good1.write_text("Y = (a + b) * (b - c)\n")
    bad = tmp_path / "bad.cg"
    bad.write_text("x = 1\nY = x + sinn(2)\n")
    good2 = tmp_path / "good2.cg"
    good2.write_text("input v: [2]\nZ = sum(v * a)\n")
    return good1, bad, good2


def test_batch_one_broken_program(tmp_path):
    good1, bad, good2 = _programs(tmp_path)
    r = cli("batch", good1, bad, good2, "a=2", "b=3", "c=4", "v=[1,2]", "--json")
    assert r.code == 1
    doc = r.json
    assert doc["failed"] == 1 and [x["source"] for x in doc["results"]] == [str(good1), str(bad),
                                                                           str(good2)]
    assert doc["results"][0] == {"source": str(good1), "outputs": {"Y": {"value": -5.0, "shape": []}}}
    err = doc["results"][1]["error"]
    assert err["kind"] == "name" and "sinn" in err["message"]
    assert (err["line"], err["column"]) == (2, 9)
    assert doc["results"][2]["outputs"]["Z"]["value"] == 6.0
    assert "sinn" in r.stderr  # the diagnostic, on stderr


def test_batch_jobs_and_plain_output(tmp_path):
    good1, bad, good2 = _programs(tmp_path)
    args = ("batch", good1, bad, good2, good1, "a=2", "b=3", "c=4", "v=[1,2]", "--json")
    serial = cli(*args)
    parallel = cli(*args, "--jobs", "2")
    assert parallel.code == serial.code == 1
    assert parallel.json == serial.json
    r = cli("batch", good1, good2, "a=2", "b=3", "c=4", "v=[1,2]")
    assert r.code == 0 and "Y = -5" in r.stdout and "Z = 6" in r.stdout
    assert "2 programs: 2 ok, 0 failed" in r.stderr


def test_batch_stdin_lines_and_grad():
    r = cli("batch", "-", "a=2", "b=3", "--grad", "--json",
            stdin="a + b\n\n# a comment\na * b\nsqrt(a) * \n")
    assert r.code == 1
    results = r.json["results"]
    assert [x["source"] for x in results] == ["a + b", "a * b", "sqrt(a) *"]
    assert results[1] == {"source": "a * b", "output": "Y", "value": 6.0, "shape": [],
                          "gradients": {"a": {"value": 3.0, "shape": []},
                                        "b": {"value": 2.0, "shape": []}}}
    assert results[2]["error"]["kind"] == "syntax"


def test_batch_timeout(tmp_path):
    slow = tmp_path / "slow.cg"
    slow.write_text("x = 0\nwhile x < 1e12:\n    x = x + 1\n")
    fast = tmp_path / "fast.cg"
    fast.write_text("Y = 2 * 3\n")
    start = time.monotonic()
    r = cli("batch", fast, slow, fast, "--mode", "eager", "--max-iterations", "1000000000000",
            "--timeout", "1", "--json")
    assert time.monotonic() - start < 20
    assert r.code == 1
    results = r.json["results"]
    assert results[1]["error"]["kind"] == "runtime" and "timed out" in results[1]["error"]["message"]
    assert results[0]["outputs"]["Y"]["value"] == 6.0 == results[2]["outputs"]["Y"]["value"]
    r = cli("batch", fast, "--timeout", "soon")
    assert r.code == 2


def test_batch_usage_errors_and_warnings(tmp_path):
    assert cli("batch", "a=2").code == 2
    r = cli("batch", "a + 1", "a=2", "q=3", "--json")
    assert r.code == 0 and r.json["results"][0]["outputs"]["Y"]["value"] == 3.0
    assert "'q'" in r.stderr
    r = cli("batch", tmp_path / "missing.cg", "1 + 1", "--json")
    assert r.code == 1 and r.json["failed"] == 1
    assert r.json["results"][1]["outputs"]["Y"]["value"] == 2.0


def test_batch_help_lists_the_flags():
    from cgraph.cli.app import build_app
    from typer.testing import CliRunner

    result = CliRunner().invoke(build_app(), ["batch", "--help"])
    assert result.exit_code == 0 and "--jobs" in result.output and "--timeout" in result.output


# ------------------------------------------------------------ --chunk-rows (streamed)
def test_a_streamed_batch_equals_the_whole_one(tmp_path):
    from cgraph.batch.stream import stream_rows
    from cgraph.batch import run_rows
    from cgraph.program import Program

    rng = np.random.default_rng(4)
    a, b = rng.normal(size=1000), rng.normal(size=1000)
    csv = tmp_path / "rows.csv"
    csv.write_text("a,b\n" + "".join(f"{float(x)!r},{float(y)!r}\n" for x, y in zip(a, b)))
    src = "input a\ninput b\nparam w = 0.5\nY = sin(a * w) + b * w^2\n"
    whole = run_rows(Program(src), str(csv), grad=True)
    streamed = stream_rows(Program(src), str(csv), str(tmp_path / "s.csv"), grad=True,
                           chunk_rows=128)
    assert streamed.rows == 1000
    np.testing.assert_allclose(streamed.shared_gradients["w"], whole.shared_gradients["w"],
                               rtol=1e-12)
    for ext in ("csv", "jsonl"):
        out1, out2 = tmp_path / f"one.{ext}", tmp_path / f"many.{ext}"
        assert cli("grad", _src(tmp_path, src), "--inputs", csv, "--out", out1).code == 0
        r = cli("grad", _src(tmp_path, src), "--inputs", csv, "--out", out2, "--chunk-rows", "77")
        assert r.code == 0, r
        assert out1.read_bytes() == out2.read_bytes()


def _src(tmp_path, text):
    p = tmp_path / "m.cg"
    p.write_text(text)
    return p


def test_a_streamed_batch_names_the_bad_row_and_keeps_the_old_output(tmp_path):
    csv = tmp_path / "rows.csv"
    csv.write_text("a,b\n" + "1,2\n" * 10 + "1,oops\n" + "1,2\n" * 5)
    out = tmp_path / "out.csv"
    out.write_text("previous results\n")
    r = cli("eval", "a + b", "--inputs", csv, "--out", out, "--chunk-rows", "4")
    assert r.code == 1 and "row 12, column 2 (b): 'oops' is not a number" in r.stderr, r
    assert out.read_text() == "previous results\n"
    r = cli("eval", "sqrt(a) + b", "--inputs", csv, "--out", out, "--chunk-rows", "4")
    assert r.code == 1
    r = cli("eval", "a + b", "--inputs", csv, "--out", tmp_path / "o.npz", "--chunk-rows", "4")
    assert r.code == 2 and ".csv, .jsonl or .parquet" in r.stderr
    r = cli("eval", "a + b", "a=1", "b=2", "--chunk-rows", "4")
    assert r.code == 2 and "--inputs rows.csv" in r.stderr


def test_a_big_input_is_streamed_without_being_asked(tmp_path, monkeypatch):
    from cgraph.batch import stream

    csv = tmp_path / "rows.csv"
    csv.write_text("a,b\n" + "".join(f"{k},{k + 1}\n" for k in range(300)))
    whole = cli("grad", "a * b", "--inputs", csv, "--out", tmp_path / "w.csv", "--json")
    monkeypatch.setattr(stream, "STREAM_BYTES", 100)
    monkeypatch.setattr(stream, "DEFAULT_CHUNK_ROWS", 64)
    streamed = cli("grad", "a * b", "--inputs", csv, "--out", tmp_path / "s.csv", "--json")
    assert streamed.code == 0 and streamed.json == {**whole.json, "out": str(tmp_path / "s.csv")}
    assert (tmp_path / "w.csv").read_bytes() == (tmp_path / "s.csv").read_bytes()
    r = cli("grad", "a * b", "--inputs", csv, "--out", tmp_path / "s.csv")
    assert "streamed, 64 rows at a time" in r.stderr
