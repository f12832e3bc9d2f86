"""Issue 17: batch runs at any size — pyarrow's CSV reader (same numbers and the
same diagnostics as the exact reader), .parquet in and out, --skip-bad-rows, and
--engine dask on a real dask.distributed LocalCluster of 2 worker processes: the
same output as the local streamed run, byte for byte, with a worker killed mid-run
and with a bad row in one partition."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from cli_runner import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED_BATCH = os.path.join(ROOT, "examples", "seed_batch.cg")
SHARED = "input a\ninput b\nparam w = 0.5\nY = sin(a * w) + b * w^2\n"


def _rows_csv(path, n, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    path.write_text("a,b\n" + "".join(f"{float(x)!r},{float(y)!r}\n" for x, y in zip(a, b)))
    return a, b


def _src(tmp_path, text=SHARED):
    p = tmp_path / "m.cg"
    p.write_text(text)
    return p


# ----------------------------------------------------------------- cold start
def test_eval_imports_neither_pyarrow_nor_dask():
    code = ("import sys\nfrom cgraph.cli import run\nimport io, contextlib\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    run(['eval', '1+2'])\n"
            "bad = [m for m in ('pyarrow', 'dask', 'distributed', 'pandas') if m in sys.modules]\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------- readers
def test_the_arrow_reader_gives_the_exact_readers_numbers(tmp_path):
    from cgraph.batch.readers import iter_chunks, read_table
    from cgraph.datafiles import csv_cells

    f = tmp_path / "r.csv"
    cells = ["1", "-0.0", "1e-7", "nan", "inf", "-Infinity", "+2.5", ".5", "1e400", '"3"',
             "0.1", "123456789.123456789"]
    f.write_text("x,y\n" + "".join(f"{c},{c}\n" for c in cells))
    t = read_table(f)
    plain = [c.strip('"') for c in cells]  # as the csv module reads them
    want = csv_cells([(k, [c, c]) for k, c in enumerate(plain)], 2, ["x", "y"], "f")[:, 0]
    np.testing.assert_array_equal(t.values["x"], want)
    assert [c.first_row for c in iter_chunks(f, 5)] == [2, 7, 12]
    assert np.array_equal(np.concatenate([c.values["y"] for c in iter_chunks(f, 5)]), want,
                          equal_nan=True)


def test_blank_lines_and_bad_cells_keep_their_row_numbers(tmp_path):
    from cgraph.batch.readers import iter_chunks, read_table
    from cgraph.datafiles import DataFileError

    f = tmp_path / "r.csv"
    f.write_text("a,b\r\n1,2\r\n\r\n 3 , 4\r\n5,x\r\n6,7")
    with pytest.raises(DataFileError, match=r"row 5, column 2 \(b\): 'x' is not a number"):
        read_table(f)
    t = read_table(f, skip_bad=True)
    assert t.values["a"].tolist() == [1, 3, 6] and [r for r, _ in t.bad] == [5]
    assert [t.row_number(k) for k in range(3)] == [2, 4, 6]
    chunks = list(iter_chunks(f, 2, skip_bad=True))
    assert [c.row_number(0) for c in chunks] == [2, 4, 6]
    m = tmp_path / "m.cg"
    m.write_text('input a\ninput b\nassert a > 4, "a must be over 4"\nY = a + b\n')
    r = cli("eval", m, "--inputs", f, "--skip-bad-rows", "--json")
    assert r.code == 0, r
    assert [s["row"] for s in r.json["skipped"]] == [2, 4, 5]  # the assert fails on rows 2, 4
    assert "row 2 of" in r.json["skipped"][0]["message"] and r.json["outputs"]["Y"]["value"] == [13.0]
    r2 = cli("eval", m, "--inputs", f, "--skip-bad-rows", "--out", tmp_path / "o.csv",
             "--chunk-rows", "2", "--json")
    assert r2.code == 0 and r2.json["skipped"] == r.json["skipped"], r2


def test_parquet_in_and_out_streamed_or_whole(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv = tmp_path / "rows.csv"
    a, b = _rows_csv(csv, 500)
    pq.write_table(pa.table({"a": a, "b": b}), tmp_path / "rows.parquet", row_group_size=70)
    m = _src(tmp_path)
    outs = []
    for inp, extra in (("rows.csv", ()), ("rows.parquet", ()), ("rows.parquet", ("--chunk-rows", "64"))):
        out = tmp_path / f"o{len(outs)}.parquet"
        r = cli("grad", m, "--inputs", tmp_path / inp, "--out", out, *extra)
        assert r.code == 0, r
        outs.append(pq.read_table(out))
    assert outs[0].column_names == ["a", "b", "Y", "dY/da", "dY/db"]
    assert outs[0].equals(outs[1]) and outs[1].equals(outs[2])
    pq.write_table(pa.table({"a": pa.array([1.0, None]), "b": [1.0, 2.0]}), tmp_path / "n.parquet")
    r = cli("eval", m, "--inputs", tmp_path / "n.parquet")
    assert r.code == 2 and "row 2, column 1 (a): the cell is empty" in r.stderr


# ---------------------------------------------------------------------- dask
try:
    import distributed
except ImportError:  # the dask extra is not installed (make test installs it)
    distributed = None


@pytest.fixture(scope="module")
def cluster():
    import logging

    if distributed is None:
        pytest.skip("dask.distributed is not installed: pip install 'cgraph[dask]'")

    cl = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cl)
    yield cl, client
    client.close()
    cl.close()


def _runs(tmp_path, n=6000, chunk=500, **kw):
    from cgraph.batch.stream import stream_rows
    from cgraph.program import Program

    csv = tmp_path / "rows.csv"
    if not csv.exists():
        _rows_csv(csv, n)
    local = stream_rows(Program(SHARED), str(csv), str(tmp_path / "local.csv"), grad=True,
                        chunk_rows=chunk, **kw)
    return csv, local


def test_dask_equals_the_local_streamed_run_bit_for_bit(tmp_path, cluster):
    from cgraph.batch.dask_engine import run_dask

    csv, local = _runs(tmp_path)
    out = tmp_path / "dask.csv"
    res = run_dask(SHARED, "<expr>", {}, str(csv), str(out), grad=True, chunk_rows=500,
                   client=cluster[1])
    assert res.rows == local.rows == 6000 and res.tasks == 12
    assert out.read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert res.shared_gradients["w"].tobytes() == local.shared_gradients["w"].tobytes()


def test_a_worker_killed_mid_run_and_the_run_still_completes(tmp_path, cluster):
    from cgraph.batch.dask_engine import run_dask

    cl, client = cluster
    csv, local = _runs(tmp_path, n=40000, chunk=1000)
    pids = list(client.run(os.getpid).values())
    killed = []

    def on_chunk(k):
        if k == 3 and not killed:
            os.kill(pids[0], signal.SIGKILL)  # a worker dies with tasks in flight
            killed.append(pids[0])

    out = tmp_path / "dask.csv"
    res = run_dask(SHARED, "<expr>", {}, str(csv), str(out), grad=True, chunk_rows=1000,
                   client=client, on_chunk=on_chunk)
    assert killed and res.rows == 40000 and res.tasks == 40
    assert out.read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert res.shared_gradients["w"].tobytes() == local.shared_gradients["w"].tobytes()
    client.wait_for_workers(2, timeout=30)  # the nanny restarts it for the next tests


def test_a_bad_row_in_one_partition_is_named_or_skipped(tmp_path, cluster):
    csv = tmp_path / "rows.csv"
    lines = ["a,b"] + [f"{k},{k % 7}" for k in range(3000)]
    lines[2345] = "1,oops"  # row 2346 of the file (the header is row 1)
    csv.write_text("\n".join(lines) + "\n")
    addr = cluster[1].scheduler.address
    out = tmp_path / "out.csv"
    out.write_text("previous\n")
    base = ("grad", "a * b", "--inputs", csv, "--out", out, "--chunk-rows", "400",
            "--engine", "dask", "--scheduler", addr)
    r = cli(*base)
    assert r.code == 1 and "row 2346, column 2 (b): 'oops' is not a number" in r.stderr, r
    assert out.read_text() == "previous\n"
    r = cli(*base, "--skip-bad-rows", "--json")
    assert r.code == 0, r
    assert r.json["rows"] == 2999 and [s["row"] for s in r.json["skipped"]] == [2346]
    local = tmp_path / "local.csv"
    assert cli("grad", "a * b", "--inputs", csv, "--out", local, "--chunk-rows", "400",
               "--skip-bad-rows").code == 0
    assert out.read_bytes() == local.read_bytes()


def test_cgraph_batch_sends_programs_as_dask_tasks(cluster):
    addr = cluster[1].scheduler.address
    r = cli("batch", "-", "a=2", "b=3", "--engine", "dask", "--scheduler", addr, "--json",
            stdin="a + b\na * b\nsinn(a)\n")
    assert r.code == 1
    res = r.json["results"]
    assert [x.get("outputs", {}).get("Y", {}).get("value") for x in res] == [5.0, 6.0, None]
    assert res[2]["error"]["kind"] == "name" and r.json["failed"] == 1


def test_engine_flags_are_checked(tmp_path, monkeypatch):
    csv = tmp_path / "rows.csv"
    _rows_csv(csv, 10)
    r = cli("eval", "a + b", "--inputs", csv, "--engine", "dask")
    assert r.code == 2 and "--out" in r.stderr
    r = cli("eval", "a + b", "--inputs", csv, "--scheduler", "tcp://x:1", "--out", tmp_path / "o.csv")
    assert r.code == 2 and "--engine dask" in r.stderr
    r = cli("eval", "a + b", "a=1", "b=2", "--engine", "dask")
    assert r.code == 2 and "--inputs" in r.stderr
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    r = cli("eval", "a + b", "--inputs", csv, "--engine", "dask", "--out", tmp_path / "o.csv")
    assert r.code == 2 and "pip install 'cgraph[dask]'" in r.stderr, r
    r = cli("batch", "a + b", "a=1", "b=2", "--engine", "dask")
    assert r.code == 2 and "pip install 'cgraph[dask]'" in r.stderr, r
