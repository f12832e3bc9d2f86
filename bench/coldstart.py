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


def timed(cmd, env) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True,
                   cwd=ROOT)
    return time.perf_counter() - t


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
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    width = max(map(len, med))
    for k, v in med.items():
        print(f"{k:<{width}}  {v:7.1f} ms")
    numpy_ms, cli_ms = med["python -c 'import numpy'"], med["cgraph grad (CLI)"]
    ratio = cli_ms / numpy_ms
    print(f"{'CLI over engine':<{width}}  {cli_ms - med['engine only (Python API)']:7.1f} ms")
    print(f"ratio cgraph / numpy import: {ratio:.2f} (target <= {TARGET}) "
          f"{'ok' if ratio <= TARGET else 'over target'}  [median of {args.runs}]")


if __name__ == "__main__":
    main()
