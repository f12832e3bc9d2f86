"""Workload — batch runs at scale (issue 17): the seed program, Y and its three
gradients, over 10,000,000 rows of (a, b, c) read from a CSV file (about 590 MB)
and written to one (about 1.3 GB), each run a child process
`cgraph grad examples/seed_batch.cg --inputs rows.csv --out out.csv`:

1. streamed (an input over 256 MiB is streamed, 100,000 rows at a time): its peak
   memory (the child's VmHWM; target < 400 MB, whatever the row count) and its
   time per row against the in-memory run of 1,000,000 rows (target ≤ 1.3×);
2. `--engine dask` on a LocalCluster of 2 worker processes (the default on this
   2-core machine; the cluster's start is counted): its time beside the streamed
   run's, and its output compared byte for byte with the streamed run's.

    python bench/batch_scale.py [--rows N]

The files are written to a temporary directory (removed at the end).
"""
from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import timing  # noqa: E402
from batch_rows import run_cli, write_input_csv  # noqa: E402
from timing import Row, fmt_bytes, fmt_ratio, fmt_time  # noqa: E402

ROWS, SMALL = 10_000_000, 1_000_000
RSS_TARGET, THROUGHPUT_TARGET = 400 << 20, 1.3


def measure(repeat: int = 3, rows: int = ROWS) -> list:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        small, big = os.path.join(tmp, "small.csv"), os.path.join(tmp, "big.csv")
        write_input_csv(small, SMALL)
        size = write_input_csv(big, rows)
        walls = sorted(run_cli(small, os.path.join(tmp, "small_out.csv"))[0]
                       for _ in range(max(1, min(repeat, 3))))
        whole = walls[len(walls) // 2]
        streamed_out = os.path.join(tmp, "streamed.csv")
        s_wall, s_rss, _ = run_cli(big, streamed_out)
        ratio = (s_wall / rows) / (whole / SMALL)
        out.append(Row(f"{rows:,}-row CSV streamed: peak memory", fmt_bytes(s_rss),
                       f"CSV {fmt_bytes(size)}", fmt_ratio(s_rss / size),
                       f"< {fmt_bytes(RSS_TARGET)}", s_rss < RSS_TARGET,
                       note="peak RSS (VmHWM) of the child; streamed 100,000 rows at a time "
                            "(an input over 256 MiB is streamed without being asked)"))
        out.append(Row(f"{rows:,}-row CSV streamed: time per row", fmt_time(s_wall),
                       f"{SMALL:,} in memory {fmt_time(whole)}", fmt_ratio(ratio),
                       f"≤ {THROUGHPUT_TARGET}×", ratio <= THROUGHPUT_TARGET,
                       note="ratio: (streamed wall / its rows) / (in-memory wall / its rows); "
                            f"output {fmt_bytes(os.path.getsize(streamed_out))}"))
        try:
            import distributed  # noqa: F401
        except ImportError:
            out.append(Row(f"{rows:,}-row CSV, --engine dask", "not run: pip install "
                           "'cgraph[dask]'"))
            return out
        dask_out = os.path.join(tmp, "dask.csv")
        d_wall, _, _ = run_cli(big, dask_out, "--engine", "dask")
        same = filecmp.cmp(streamed_out, dask_out, shallow=False)
        out.append(Row(f"{rows:,}-row CSV, --engine dask (LocalCluster, 2 workers)",
                       fmt_time(d_wall), f"streamed {fmt_time(s_wall)}",
                       fmt_ratio(d_wall / s_wall), "same output", same,
                       note="the output equals the streamed run's byte for byte" if same else
                            "the output DIFFERS from the streamed run's"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=ROWS)
    args = ap.parse_args()
    sys.stdout.write(timing.table(measure(rows=args.rows)))


if __name__ == "__main__":
    main()
