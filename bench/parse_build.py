"""Workload 7 — parse + build of long scripts: 10,000 and 100,000 statements.

The scripts are generated chains over two scalar variables with a little
variety (products, sums, sin, tanh, division), one input at the top. "Build"
is `Program.build(inputs)`: the static graph (no backward part), optimised,
made into a plan, not run. Statements are kept short because the parser
refuses sources over 2 million characters.

Targets: time(100k) / time(10k) ≤ 12×, and time(100k) < 30 s.

    python bench/parse_build.py [--repeat N]
"""
from __future__ import annotations

import time

import timing
from timing import Row, fmt_ratio, fmt_time

from cgraph.program import Program

SCALING_TARGET, ABSOLUTE_TARGET = 12.0, 30.0
TEMPLATES = (
    "x = x * 1.01 + 0.5",
    "y = sin(x) + y",
    "x = (x - y) / 2",
    "y = tanh(y) * x",
    "x = x * y - 0.1",
)


def script(statements: int) -> str:
    lines = ["input x0", "x = x0", "y = 1"]
    lines += [TEMPLATES[i % len(TEMPLATES)] for i in range(statements - 3)]
    return "\n".join(lines) + "\n"


def parse_build(src: str) -> dict:
    """Seconds for the parse and for the build of one fresh Program."""
    t0 = time.perf_counter()
    prog = Program(src, "long.cg")
    t1 = time.perf_counter()
    g = prog.build({"x0": 0.5})
    t2 = time.perf_counter()
    return {"parse": t1 - t0, "build": t2 - t1, "total": t2 - t0, "nodes": len(g.nodes)}


def _median_runs(src: str, repeat: int) -> dict:
    runs = [parse_build(src) for _ in range(repeat)]
    runs.sort(key=lambda r: r["total"])
    return runs[len(runs) // 2]


def measure(repeat: int = 3, big_repeat: int = 1) -> list:
    small, big = script(10_000), script(100_000)
    parse_build(script(100))  # warm the imports
    s = _median_runs(small, repeat)
    b = _median_runs(big, max(big_repeat, 1 if repeat <= 3 else repeat // 3))
    ratio = b["total"] / s["total"]

    def detail(r):
        return (f"parse {fmt_time(r['parse'])} + build {fmt_time(r['build'])}, "
                f"{r['nodes']:,} nodes")
    return [
        Row("parse+build, 10k statements", fmt_time(s["total"]), note=detail(s)),
        Row("parse+build, 100k statements (reference column: 10k)", fmt_time(b["total"]),
            f"{fmt_time(s['total'])} (10k)", fmt_ratio(ratio), "≤ 12× and < 30 s",
            ratio <= SCALING_TARGET and b["total"] < ABSOLUTE_TARGET,
            note=detail(b) + f"; {len(big) / 1e6:.2f} M characters"),
    ]


if __name__ == "__main__":
    timing.main(measure, __doc__.splitlines()[0])
