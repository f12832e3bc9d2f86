"""Issue 17: the inputs of a batch run — a whole CSV file read by pyarrow a block
at a time (the same numbers and diagnostics as the exact reader, whatever the
blocks), and .jsonl inputs (one JSON object per line)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from cli_runner import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED_BATCH = os.path.join(ROOT, "examples", "seed_batch.cg")


def _values(n, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=n) * 10.0 ** rng.integers(-8, 9, n) for k in "abc"}


def _csv(path, cols, end="\n", last=True):
    names = list(cols)
    lines = [",".join(names)] + [",".join(repr(float(cols[k][r])) for k in names)
                                 for r in range(len(cols[names[0]]))]
    path.write_text(end.join(lines) + (end if last else ""))
    return path


# ------------------------------------------------------------ CSV, in blocks
@pytest.mark.parametrize("end,last", [("\n", True), ("\r\n", True), ("\n", False)])
def test_a_csv_read_in_small_blocks_gives_every_number(tmp_path, monkeypatch, end, last):
    from cgraph.batch import readers

    cols = _values(500)
    f = _csv(tmp_path / "r.csv", cols, end, last)
    whole = readers.read_table(f)
    monkeypatch.setattr(readers, "PARSE_BYTES", 64)  # dozens of blocks, some of one line
    t = readers.read_table(f)
    for k in "abc":
        np.testing.assert_array_equal(t.values[k], cols[k])
        np.testing.assert_array_equal(whole.values[k], cols[k])
    assert t.first_row == 2 and t.row_numbers is None


def test_a_bad_cell_in_a_late_block_is_named_as_the_exact_reader_names_it(tmp_path,
                                                                          monkeypatch):
    from cgraph.batch import readers
    from cgraph.datafiles import DataFileError

    cols = _values(300)
    f = _csv(tmp_path / "r.csv", cols)
    lines = f.read_text().splitlines()
    lines[250] = lines[250].split(",")[0] + ",oops," + lines[250].split(",")[2]
    lines.insert(100, "")  # a blank line: left out, the numbering kept
    f.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(readers, "PARSE_BYTES", 256)
    with pytest.raises(DataFileError, match=r"row 252, column 2 \(b\): 'oops' is not a number"):
        readers.read_table(f)
    t = readers.read_table(f, skip_bad=True)
    assert t.rows == 299 and [r for r, _ in t.bad] == [252]
    assert t.row_number(98) == 100 and t.row_number(99) == 102


# --------------------------------------------------------------------- JSONL
def _jsonl(path, cols, blank_at=()):
    import json

    names = list(cols)
    lines = [json.dumps({k: float(cols[k][r]) for k in names})
             for r in range(len(cols[names[0]]))]
    for at in sorted(blank_at, reverse=True):
        lines.insert(at, "")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("extra", [(), ("--chunk-rows", "7")])
def test_a_jsonl_input_gives_the_csv_inputs_results(tmp_path, extra):
    cols = _values(40, seed=3)
    f_csv = _csv(tmp_path / "r.csv", cols)
    f_jsonl = _jsonl(tmp_path / "r.jsonl", cols, blank_at=(5, 20))
    out_csv, out_jsonl = tmp_path / "a.csv", tmp_path / "b.csv"
    r = cli("grad", SEED_BATCH, "--inputs", f_csv, "--out", out_csv)
    assert r.code == 0, r
    r = cli("grad", SEED_BATCH, "--inputs", f_jsonl, "--out", out_jsonl, *extra)
    assert r.code == 0, r
    assert out_jsonl.read_bytes() == out_csv.read_bytes()
    r1 = cli("grad", SEED_BATCH, "--inputs", f_csv, "--json").json
    r2 = cli("grad", SEED_BATCH, "--inputs", f_jsonl, "--json").json
    assert r1 == r2


def test_a_jsonl_output_reads_back_as_an_input(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text('{"a": 2, "b": 3, "c": 4}\n{"a": 1e300, "b": 1e300, "c": -1e300}\n'
                 '{"a": "NaN", "b": 1, "c": 0}\n')
    out = tmp_path / "o.jsonl"
    assert cli("eval", SEED_BATCH, "--inputs", f, "--out", out).code == 0
    back = tmp_path / "o2.jsonl"
    prog = tmp_path / "m.cg"
    prog.write_text("input a\ninput b\ninput c\ninput Y\nZ = Y + 0 * (a + b + c)\n")
    r = cli("eval", prog, "--inputs", out, "--out", back)
    assert r.code == 0, r
    lines = back.read_text().splitlines()
    assert lines[0] == '{"a":2.0,"b":3.0,"c":4.0,"Y":-5.0,"Z":-5.0}'
    assert '"Y":"Infinity"' in lines[1] and '"Z":"Infinity"' in lines[1]
    assert '"a":"NaN"' in lines[2] and '"Z":"NaN"' in lines[2]


def test_a_jsonl_column_may_hold_a_vector_per_row(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text('{"x": [1, 2, 3], "w": 2}\n{"x": [0.5, -1, 4], "w": -1}\n')
    prog = tmp_path / "m.cg"
    prog.write_text("input x: [3]\ninput w\nY = sum(x * x) * w\n")
    r = cli("grad", prog, "--inputs", f, "--json")
    assert r.code == 0, r
    doc = r.json
    assert doc["outputs"]["Y"]["value"] == [28.0, -17.25]
    assert doc["gradients"]["x"]["value"] == [[4.0, 8.0, 12.0], [-1.0, 2.0, -8.0]]


@pytest.mark.parametrize("line,message", [
    ('{"a": 1, "b": "x", "c": 1}', r"line 4 \(b\): 'x' is not a number"),
    ('{"a": 1, "b": null, "c": 1}', r"line 4 \(b\): null is not a number"),
    ('{"a": 1, "b": 2 "c": 1}', r"line 4, column \d+: not valid JSON"),
    ('{"a": 1, "c": 1}', r"line 4: no value for 'b'"),
    ('{"a": 1, "b": 2, "c": 1, "d": 0}', r"line 4: 'd' is not a column"),
    ('[1, 2, 3]', r"line 4 holds an array, not an object"),
    ('{"a": 1, "b": [2, 3], "c": 1}', r"line 4 \(b\): a value of shape \[2\], where the first "
                                      r"line gives \[\]"),
])
@pytest.mark.parametrize("extra", [(), ("--chunk-rows", "2", "--out", "OUT")])
def test_a_bad_jsonl_line_is_named_by_its_line_number(tmp_path, line, message, extra):
    f = tmp_path / "r.jsonl"
    f.write_text('{"a": 2, "b": 3, "c": 4}\n\n{"a": 1, "b": 1, "c": 1}\n' + line + "\n"
                 '{"a": 0.5, "b": -2, "c": 3}\n')
    out = tmp_path / "o.csv"
    extra = [str(out) if e == "OUT" else e for e in extra]
    r = cli("grad", SEED_BATCH, "--inputs", f, *extra)
    assert r.code != 0 and "Traceback" not in r.stderr, r
    assert "r.jsonl: line 4" in r.stderr, r.stderr
    import re

    assert re.search(message, r.stderr), r.stderr
    assert not out.exists()
    r = cli("grad", SEED_BATCH, "--inputs", f, "--skip-bad-rows", "--json")
    assert r.code == 0, r
    doc = r.json
    assert doc["rows"] == 3 and [s["row"] for s in doc["skipped"]] == [4]


def test_a_failing_row_of_a_jsonl_input_is_named_by_its_line(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text('{"a": 2}\n\n{"a": -1}\n')
    prog = tmp_path / "m.cg"
    prog.write_text('input a\nassert a > 0, "a must be positive"\nY = a\n')
    r = cli("eval", prog, "--inputs", f)
    assert r.code == 1 and "row 3 of" in r.stderr and "a must be positive" in r.stderr, r


def test_an_empty_or_headless_jsonl_is_refused(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text("\n\n")
    r = cli("eval", SEED_BATCH, "--inputs", f)
    assert r.code == 2 and "is empty" in r.stderr, r
    f.write_text('{}\n')
    r = cli("eval", SEED_BATCH, "--inputs", f)
    assert r.code == 2 and "names no column" in r.stderr, r
