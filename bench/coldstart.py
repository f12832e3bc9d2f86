"""Cold start of the calculator: `cgraph grad "(a+b)*(b-c)" a=2 b=3 c=4`.

Runs it in fresh processes (output piped, as a script would), interleaved
with `python -c "import numpy"` measured in the same run, and prints the
medians and their ratio (the target is at most 1.6x). A breakdown shows
where the time goes: Python itself, NumPy, the engine (parse + build + run
through the Python API, no CLI), and the CLI on top.

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "cgraph"), str(ROOT / "grammar")],
                   env=env, stdout=subprocess.DEVNULL, check=False)
    cases = {
        "python -c pass": [PY, "-c", "pass"],
        "python -c 'import numpy'": [PY, "-c", "import numpy"],
        "engine only (Python API)": [PY, "-c", ENGINE],
        "cgraph grad (CLI)": cgraph_command() + SEED,
    }
    for cmd in cases.values():  # warm the OS cache, the parser's table cache, .pyc files
        timed(cmd, env)
    times = {k: [] for k in cases}
    for _ in range(args.runs):
        for k, cmd in cases.items():
            times[k].append(timed(cmd, env))
    wall = {k: statistics.median(t[0] for t in v) * 1000 for k, v in times.items()}
    cpu = {k: statistics.median(t[1] for t in v) * 1000 for k, v in times.items()}
    width = max(map(len, wall))
    print(f"{'':<{width}}  {'wall':>8}  {'cpu':>8}   (medians of {args.runs} fresh processes)")
    for k in cases:
        print(f"{k:<{width}}  {wall[k]:6.1f}ms  {cpu[k]:6.1f}ms")
    eng, cli = "engine only (Python API)", "cgraph grad (CLI)"
    print(f"{'CLI over engine':<{width}}  {wall[cli] - wall[eng]:6.1f}ms  {cpu[cli] - cpu[eng]:6.1f}ms")
    base = "python -c 'import numpy'"
    ratio, cpu_ratio = wall[cli] / wall[base], cpu[cli] / cpu[base]
    print(f"ratio cgraph / numpy import: wall {ratio:.2f}, cpu {cpu_ratio:.2f} (target <= {TARGET}): "
          f"{'ok' if ratio <= TARGET else 'over target'}")


if __name__ == "__main__":
    main()
