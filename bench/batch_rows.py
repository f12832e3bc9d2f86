"""Workload — the seed program over 1,000,000 rows of (a, b, c) (docs/batch.md).

1. Compute: `cgraph.batch.run_rows(program, table, grad=True)` — Y and its
   three gradients for every row, vectorised (the batched graph, run in
   cache-sized chunks of rows) — against the same written by hand in NumPy:
   d = a + b, e = b - c, Y = d·e, ∂Y/∂a = e, ∂Y/∂b = e + d, ∂Y/∂c = -d.
   Median of interleaved repeats in this process. Target: ≤ 1.5× NumPy.
2. End to end: `cgraph grad examples/seed_batch.cg --inputs rows.csv --out
   out.csv` in a child process (read the CSV, run, write 7 columns × 1M rows).
   Target: < 1 s wall time (issue 17); peak memory (the child's max RSS, from
   os.wait4) < 4× the CSV's size.

    python bench/batch_rows.py [--rows N] [--repeat N]

Before the child runs, the package's modules are compiled to bytecode
(`compileall`, as `pip install` does when it installs a package): with
PYTHONDONTWRITEBYTECODE set in the environment (as on the development machine)
a checkout would otherwise compile its modules again in every run (about 0.1 s).

The CSV is written to a temporary directory (shortest round-trip floats,
about 60 MB for a million rows). The result CSV's floats are formatted by
orjson (a dependency); where it is missing the writer falls back to Python's
repr (slower, the same numbers in another notation at times).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import timing  # noqa: E402
from timing import Row, fmt_bytes, fmt_ratio, fmt_time  # noqa: E402

ROWS = 1_000_000
COMPUTE_TARGET, WALL_TARGET, MEMORY_TARGET = 1.5, 1.0, 4.0
SEED_BATCH = os.path.join(ROOT, "examples", "seed_batch.cg")

# the --out path of the CLI, run directly: for a checkout whose eval/grad commands
# do not declare --out yet (the same code the command calls)
# The child reports its own peak (VmHWM of its address space after exec): the parent's
# ru_maxrss of a child counts the pages the child shared with this (large) process
# before exec — 572 MiB once torch was loaded here, for a run that peaks at 112 MiB.
WRAP = """
import atexit, sys

def _peak():
    try:
        with open("/proc/self/status") as f:
            kb = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
        sys.stderr.write(f"\\nbench-peak-kb {kb}\\n")
    except (OSError, StopIteration, ValueError):
        pass

atexit.register(_peak)
sys.argv = ["cgraph"] + sys.argv[1:]
from cgraph.cli import main
main()
"""


def make_table(rows: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(rows) for k in "abc"}


def by_hand(a, b, c):
    d = a + b
    e = b - c
    return d * e, e.copy(), e + d, -d


def measure_compute(rows: int = ROWS, repeat: int = 15):
    import cgraph
    from cgraph.batch import run_rows

    table = make_table(rows)
    program = cgraph.Program(open(SEED_BATCH, encoding="utf-8").read(), SEED_BATCH)
    t0 = time.perf_counter()
    result = run_rows(program, table, grad=True)  # the first call builds the plans
    cold = time.perf_counter() - t0
    y, ga, gb, gc = by_hand(table["a"], table["b"], table["c"])
    np.testing.assert_allclose(result.outputs["Y"], y)
    for got, want in ((result.gradients["a"], ga), (result.gradients["b"], gb),
                      (result.gradients["c"], gc)):
        np.testing.assert_allclose(got, want)
    times = timing.compare({"cgraph": lambda: run_rows(program, table, grad=True),
                            "numpy": lambda: by_hand(table["a"], table["b"], table["c"])},
                           repeat=repeat, min_sample=0.0)
    return times["cgraph"].median, times["numpy"].median, cold


def write_input_csv(path: str, rows: int) -> int:
    from cgraph.batch import write_csv

    table = make_table(rows, seed=1)
    with open(path, "wb") as fp:
        write_csv(fp, list(table.items()), rows)
    return os.path.getsize(path)


def _child(cmd):
    """(exit status, stderr, wall seconds, max RSS bytes) of one child process."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return proc.returncode, err.read().decode(errors="replace"), wall, usage.ru_maxrss * 1024


def compile_package() -> None:
    """The package's .pyc files, as `pip install` writes them (see the docstring)."""
    import compileall

    compileall.compile_dir(os.path.join(ROOT, "cgraph"), quiet=1)


def run_cli(csv_path: str, out_path: str, *extra):
    """(wall seconds, peak RSS bytes of the child, how it was run)."""
    cmd = [sys.executable, "-c", WRAP, "grad", SEED_BATCH, "--inputs", csv_path, "--out", out_path,
           *extra]
    code, err, wall, rss = _child(cmd)
    if code != 0:
        raise RuntimeError(f"the batch run failed ({code}): {err}")
    for line in err.splitlines():
        if line.startswith("bench-peak-kb "):
            rss = int(line.split()[1]) * 1024
    return wall, rss, "cgraph grad --inputs rows.csv --out out.csv"


STREAM_CHUNK = 50_000


LOOP_ROWS, LOOP_STEPS = 100_000, 100
LOOP_SOURCE = f"input x\nfor i in range({LOOP_STEPS}):\n    x = sin(x) * 0.99 + 0.01\nY = x\n"


def loop_by_hand(x):
    """The loop over every row at once in NumPy: forward keeping each step, then back."""
    xs = []
    for _ in range(LOOP_STEPS):
        xs.append(x)
        x = np.sin(x) * 0.99 + 0.01
    g = np.ones_like(x)
    for xi in reversed(xs):
        g = g * (np.cos(xi) * 0.99)
    return x, g


def measure_loop(repeat: int = 7, rows: int = LOOP_ROWS) -> Row:
    """A 100-step loop node over 100,000 rows, Y and ∂Y/∂x: one loop over the rows'
    batched body (issue 20), against the same loop written in NumPy."""
    import cgraph
    from cgraph.batch import run_rows

    x = np.random.default_rng(1).uniform(-1, 1, rows)
    program = cgraph.Program(LOOP_SOURCE, "loop.cg")
    result = run_rows(program, {"x": x}, grad=True)
    y, g = loop_by_hand(x)
    np.testing.assert_allclose(result.outputs["Y"], y, rtol=1e-12)
    np.testing.assert_allclose(result.gradients["x"], g, rtol=1e-10)
    assert "loop" not in result.looped
    times = timing.compare({"cgraph": lambda: run_rows(program, {"x": x}, grad=True),
                            "numpy": lambda: loop_by_hand(x)}, repeat=repeat, min_sample=0.0)
    ours, ref = times["cgraph"].median, times["numpy"].median
    return Row(f"{rows:,} rows through a {LOOP_STEPS}-step loop node: Y and ∂Y/∂x",
               fmt_time(ours), f"{fmt_time(ref)} (NumPy)", fmt_ratio(ours / ref),
               f"≤ {COMPUTE_TARGET}×", ours / ref <= COMPUTE_TARGET,
               note="the loop node batched through its body (one loop over every row)")


def measure(repeat: int = 15, rows: int = ROWS) -> list:
    from cgraph.batch.writers import fast_json

    ours, numpy_time, cold = measure_compute(rows, repeat)
    ratio = ours / numpy_time
    out = [Row(f"{rows:,} rows: Y and 3 gradients", fmt_time(ours), fmt_time(numpy_time),
               fmt_ratio(ratio), f"≤ {COMPUTE_TARGET}×", ratio <= COMPUTE_TARGET,
               note=f"first call (builds the batched plans) {fmt_time(cold)}"),
           measure_loop()]
    with tempfile.TemporaryDirectory() as tmp:
        csv_path, out_path = os.path.join(tmp, "rows.csv"), os.path.join(tmp, "out.csv")
        size = write_input_csv(csv_path, rows)
        compile_package()
        walls, rss = [], 0
        for _ in range(3):
            wall, peak, how = run_cli(csv_path, out_path)
            walls.append(wall)
            rss = max(rss, peak)
        wall = sorted(walls)[1]
        out_size = os.path.getsize(out_path)
        s_wall, s_rss, _ = run_cli(csv_path, os.path.join(tmp, "streamed.csv"), "--chunk-rows",
                                   str(STREAM_CHUNK))
    writer = "orjson" if fast_json() is not None else "repr (orjson missing)"
    out.append(Row(f"{rows:,}-row CSV end to end", fmt_time(wall), "—", "—", f"< {WALL_TARGET:g} s",
                   wall < WALL_TARGET,
                   note=f"{how}; median of 3; input {fmt_bytes(size)}, output "
                        f"{fmt_bytes(out_size)}; CSV writer: {writer}; modules compiled as pip "
                        "install does"))
    mem = rss / size
    out.append(Row(f"{rows:,}-row CSV peak memory", fmt_bytes(rss), f"CSV {fmt_bytes(size)}",
                   fmt_ratio(mem), f"< {MEMORY_TARGET:g}× CSV", mem < MEMORY_TARGET,
                   note="peak RSS of the child process (its VmHWM)"))
    out.append(Row(f"{rows:,}-row CSV streamed (--chunk-rows {STREAM_CHUNK:,}): peak memory",
                   fmt_bytes(s_rss), f"whole {fmt_bytes(rss)}", fmt_ratio(s_rss / rss), "—", None,
                   note=f"the same run, read and written a chunk at a time; wall {fmt_time(s_wall)}"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=ROWS)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = measure(args.repeat, args.rows)
    sys.stdout.write("\n" + timing.table(rows))


if __name__ == "__main__":
    main()
