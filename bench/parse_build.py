"""Workload 7 — long scripts from source to their first value: 10,000 and 100,000 statements.

The scripts are generated chains over two scalar variables with a little
variety (products, sums, sin, tanh, division), one input at the top. Each
stage of the one pipeline is timed on its own: parse (`Program(source)`),
build (the static graph, no backward part), optimise, plan and run (the
first value). Statements are kept short because the parser refuses long
sources.

Targets (issue 20): time(100k) < 3 s, and time(100k) / time(10k) ≤ 12×.

    python bench/parse_build.py [--repeat N]
"""
from __future__ import annotations

import time

import timing
from timing import Row, fmt_ratio, fmt_time

from cgraph import pipeline
from cgraph.gcpause import paused
from cgraph.program import Program

SCALING_TARGET, ABSOLUTE_TARGET = 12.0, 3.0
STAGES = ("parse", "build", "optimise", "plan", "run")
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
    """Seconds for each stage from source to the first value of one fresh Program
    (the stages `Program.evaluate` runs, timed one by one), and the node counts."""
    t = [time.perf_counter()]
    prog = Program(src, "long.cg")
    t.append(time.perf_counter())
    with paused():  # as Program's own entry points do
        feed = prog.feed({"x0": 0.5})
        c = pipeline.front(prog, shapes={n: v.shape for n, v in feed.items()}, given=feed)
        built = len(c.graph.nodes)
        t.append(time.perf_counter())
        c = pipeline.optimise(c)
        t.append(time.perf_counter())
        c = pipeline.make_plan(c)
        t.append(time.perf_counter())
        values = prog.execute(c, feed)
        t.append(time.perf_counter())
    assert values[c.outputs[c.output]] is not None
    out = {k: b - a for k, a, b in zip(STAGES, t, t[1:])}
    out.update(total=t[-1] - t[0], nodes=built, planned=len(c.plan.order))
    return out


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
        return (" + ".join(f"{k} {fmt_time(r[k])}" for k in STAGES)
                + f"; {r['nodes']:,} nodes built, {r['planned']:,} planned")
    return [
        Row("source to first value, 10k statements", fmt_time(s["total"]), note=detail(s)),
        Row("source to first value, 100k statements (reference column: 10k)", fmt_time(b["total"]),
            f"{fmt_time(s['total'])} (10k)", fmt_ratio(ratio), "≤ 12× and < 3 s",
            ratio <= SCALING_TARGET and b["total"] < ABSOLUTE_TARGET,
            note=detail(b) + f"; {len(big) / 1e6:.2f} M characters"),
    ]


if __name__ == "__main__":
    timing.main(measure, __doc__.splitlines()[0])
