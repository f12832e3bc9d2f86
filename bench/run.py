"""Run every benchmark and print one table: `make bench` (or `python bench/run.py`).

Each workload is its own module in bench/ and runs alone too
(`python bench/mlp.py`). Each one times cgraph against a reference computed in
the same process — hand-written NumPy, or plain Python for scalar work — and
reports the ratio beside its target. torch and jax join as extra columns when
they are importable. The table is printed and written to bench/results.md.

    python bench/run.py [--only NAME[,NAME...]] [--repeat N] [--blas-threads N]

Numbers are medians over interleaved repeats; on a busy machine they are noisy
(the load average is recorded with the table). Nothing here is a test.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import platform
import re
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import timing  # noqa: E402
from timing import Row  # noqa: E402

# (module, label) in table order; the modules are the bench/ files of the same name
WORKLOADS = [
    ("seed_call", "seed per call"),
    ("mlp", "MLP"),
    ("elementwise", "elementwise chain"),
    ("scalar_chain", "deep scalar chain"),
    ("batch_rows", "million-row batch"),      # hook: written by another engineer; it reads the
                                              # children's max RSS, so it runs before coldstart
    ("batch_scale", "ten-million-row batch"),  # streamed, and --engine dask (issue 17)
    ("coldstart", "cold start"),              # hook: written by the CLI engineer
    ("parse_build", "parse+build"),
    ("fit", "training"),                      # last: its 60,000×784 rows would swell the
                                              # max RSS that batch_rows reads of its children
]
HOOKS = {"batch_rows", "coldstart"}


# ------------------------------------------------------------------ hooks
# A hook module is used as soon as its file exists. Preferred protocol: a
# `measure()` returning a list of timing.Row (or of dicts with the Row's field
# names, or one such dict). Failing that, its `main()` is run with its output
# captured and shown under the table; a line such as
# "ratio cgraph / numpy import: 1.23 (target <= 1.6)" becomes the table row.
def _rows_from(result, label: str) -> list:
    if result is None:
        return []
    if isinstance(result, (Row, dict)):
        result = [result]
    rows = []
    for r in result:
        if isinstance(r, Row):
            rows.append(r)
        elif isinstance(r, dict):
            fields = {k: v for k, v in r.items() if k in Row.__dataclass_fields__}
            fields.setdefault("workload", label)
            fields.setdefault("cgraph", "—")
            rows.append(Row(**{k: (v if k in ("met", "peers") else str(v)) for k, v in fields.items()}))
        else:
            rows.append(Row(label, str(r)))
    return rows


RATIO_LINE = re.compile(r"ratio\s+(?P<what>[^:]*):\s*(?P<ratio>[\d.]+)\s*\(target\s*(?P<op><=|≤|<)\s*"
                        r"(?P<target>[\d.]+)\)", re.I)


def _run_hook(name: str, label: str, extra_output: list) -> list:
    if not (HERE / f"{name}.py").exists():
        return [Row(label, "not yet available", met=None,
                    note=f"bench/{name}.py does not exist yet; run.py will call it once it does")]
    mod = importlib.import_module(name)
    if hasattr(mod, "measure"):
        return _rows_from(mod.measure(), label)
    if not hasattr(mod, "main"):
        return [Row(label, "no measure() or main() in bench/" + name + ".py")]
    buf = io.StringIO()
    argv = sys.argv
    sys.argv = [str(HERE / f"{name}.py")]
    try:
        with contextlib.redirect_stdout(buf):
            mod.main()
    finally:
        sys.argv = argv
    out = buf.getvalue()
    extra_output.append((label, out))
    m = RATIO_LINE.search(out)
    if m is None:
        return [Row(label, "see its output below the table")]
    ratio, target = float(m["ratio"]), float(m["target"])
    ms = re.findall(r"^(.*?)\s{2,}([\d.]+) ms$", out, re.M)
    times = dict((k.strip(), float(v)) for k, v in ms)
    cg = next((f"{v:.1f} ms ({k})" for k, v in times.items() if "cgraph" in k.lower()), "—")
    ref = next((f"{v:.1f} ms ({k})" for k, v in times.items() if "numpy" in k.lower()), "—")
    ok = ratio < target if m["op"] == "<" else ratio <= target
    return [Row(label + f" ({m['what'].strip()})", cg, ref, f"{ratio:.2f}×",
                f"{'<' if m['op'] == '<' else '≤'} {target:g}×", ok)]


# -------------------------------------------------------------------- main
def _environment(load_before) -> str:
    import numpy as np

    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    load = (f"; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
            if load_before and load_after else "")
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    return (f"Python {platform.python_version()}, NumPy {np.__version__}, "
            f"{platform.machine()}, {os.cpu_count()} CPUs"
            f"{f', BLAS threads {threads}' if threads else ''}{load}; "
            f"peers: " + (", ".join(p for p in ("torch", "jax") if timing.optional(p)) or "none installed"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated module names (e.g. mlp,seed_call)")
    ap.add_argument("--repeat", type=int, default=None, help="samples per measurement")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results.md")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="limit BLAS/OpenMP threads (steadier matmul timings on a busy machine; "
                         "applies to cgraph and the references alike)")
    args = ap.parse_args()
    if args.blas_threads:
        if "numpy" in sys.modules:
            ap.error("--blas-threads must be set before NumPy is imported")
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.blas_threads)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - {m for m, _ in WORKLOADS}
    if unknown:
        ap.error(f"unknown workload(s): {', '.join(sorted(unknown))}")

    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    start = time.perf_counter()
    rows: list = []
    extra_output: list = []
    for name, label in WORKLOADS:
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        print(f"-- {label} ({name}) ...", end=" ", flush=True)
        try:
            if name in HOOKS:
                got = _run_hook(name, label, extra_output)
            else:
                mod = importlib.import_module(name)
                got = mod.measure(repeat=args.repeat) if args.repeat else mod.measure()
        except Exception as exc:  # one broken workload does not hide the others
            traceback.print_exc()
            got = [Row(label, f"failed: {type(exc).__name__}: {exc}".replace("\n", " ")[:160])]
        rows += got
        print(f"{time.perf_counter() - t0:.1f} s", flush=True)
        for r in got:
            print(f"   {r.workload}: {r.cgraph} vs {r.reference} = {r.ratio} (target {r.target}) "
                  f"{r.met_text}", flush=True)

    text = timing.table(rows)
    env = _environment(load_before)
    total = time.perf_counter() - start
    print("\n" + text)
    for label, out in extra_output:
        print(f"{label}, full output:\n{out}")
    print(f"{env}; total {total:.0f} s")
    if not args.no_write and not only:
        (HERE / "results.md").write_text(
            "<!-- written by `make bench` (bench/run.py); do not edit by hand -->\n"
            "Medians of interleaved repeats, cgraph against a reference computed in the same "
            "process (hand-written NumPy, or plain Python for scalar work).\n\n"
            + text + "\n" + env + f"; {time.strftime('%Y-%m-%d')}.\n", encoding="utf-8")
        print(f"wrote {HERE / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
