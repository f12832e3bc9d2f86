"""Cold start of the calculator: `cgraph grad "(a+b)*(b-c)" a=2 b=3 c=4`.

Runs it in fresh processes (output piped, as a script would), interleaved
with `python -c "import numpy"` measured in the same run, and prints the
medians and their ratio (the target is at most 1.6x). A breakdown shows
where the time goes: Python itself, NumPy, the parser (shipped tables; and
lark building it, the route not taken), the engine
(parse + build + run through the Python API, no CLI), and the CLI on top.
Wall times swing with the machine's load; the CPU times (user + sys of the
child) are steadier.

    python bench/coldstart.py [--runs 21]

Byte-code is compiled first (an installed package has it; a checkout run
with PYTHONDONTWRITEBYTECODE would otherwise compile every module each time).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SEED = ["grad", "(a+b)*(b-c)", "a=2", "b=3", "c=4"]
ENGINE = ("from cgraph.program import Program; "
          "Program('(a+b)*(b-c)').run({'a': 2.0, 'b': 3.0, 'c': 4.0}, grad=True)")
TARGET = 1.6


def cgraph_command() -> list[str]:
    script = shutil.which("cgraph", path=str(Path(PY).parent))
    return [script] if script else [PY, "-m", "cgraph"]


def timed(cmd, env) -> tuple[float, float]:
    """(wall time, CPU time user+sys) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True,
                   cwd=ROOT)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(runs: int = 21) -> dict:
    """Medians, in ms: {case: (wall, cpu)}."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "cgraph"), str(ROOT / "grammar")],
                   env=env, stdout=subprocess.DEVNULL, check=False)
    cases = {
        "python -c pass": [PY, "-c", "pass"],
        NUMPY: [PY, "-c", "import numpy"],
        "numpy + parse only": [PY, "-c", "import numpy, cgraph.parse; cgraph.parse.parse('(a+b)*(b-c)')"],
        LARK_CASE: [PY, "-c", "import numpy, lark; lark.Lark(open('grammar/cgraph.lark').read(), "
                    "parser='lalr', lexer='basic', maybe_placeholders=True).parse('1+2\\n')"],
        ENGINE_CASE: [PY, "-c", ENGINE],
        CLI_CASE: cgraph_command() + SEED,
    }
    for cmd in cases.values():  # warm the OS cache and .pyc files
        timed(cmd, env)
    times = {k: [] for k in cases}
    for _ in range(runs):
        for k, cmd in cases.items():
            times[k].append(timed(cmd, env))
    return {k: (statistics.median(t[0] for t in v) * 1000, statistics.median(t[1] for t in v) * 1000)
            for k, v in times.items()}


NUMPY = "python -c 'import numpy'"
LARK_CASE = "numpy + lark building the parser (the route not taken)"
ENGINE_CASE = "engine only (Python API)"
CLI_CASE = "cgraph grad (CLI)"


def measure(runs: int = 21) -> list:
    """The bench/run.py hook: one table row (wall-time ratio), the breakdown as its note."""
    med = run(runs)
    ratio = med[CLI_CASE][0] / med[NUMPY][0]
    cpu_ratio = med[CLI_CASE][1] / med[NUMPY][1]
    note = "; ".join(f"{k} {w:.1f} ms wall / {c:.1f} ms cpu" for k, (w, c) in med.items())
    return [{"workload": "cold start: cgraph grad (a+b)*(b-c) / python -c 'import numpy'",
             "cgraph": f"{med[CLI_CASE][0]:.1f} ms", "reference": f"{med[NUMPY][0]:.1f} ms (numpy)",
             "ratio": f"{ratio:.2f}× (cpu {cpu_ratio:.2f}×)", "target": f"≤ {TARGET}×",
             "met": ratio <= TARGET, "note": f"cold start, medians of {runs}: {note}"}]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    med = run(args.runs)
    width = max(map(len, med))
    print(f"{'':<{width}}  {'wall':>8}  {'cpu':>8}   (medians of {args.runs} fresh processes)")
    for k, (w, c) in med.items():
        print(f"{k:<{width}}  {w:6.1f}ms  {c:6.1f}ms")
    (wc, cc), (we, ce), (wn, cn) = med[CLI_CASE], med[ENGINE_CASE], med[NUMPY]
    print(f"{'CLI over engine':<{width}}  {wc - we:6.1f}ms  {cc - ce:6.1f}ms")
    print(f"cpu ratio: {cc / cn:.2f}")
    print(f"ratio cgraph / numpy import: {wc / wn:.2f} (target <= {TARGET}) "
          f"{'ok' if wc / wn <= TARGET else 'over target'}")


if __name__ == "__main__":
    main()
