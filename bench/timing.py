"""The timing helper every benchmark module shares.

- `compare({name: fn, ...})` times several callables *interleaved* (one
  sample of each in turn, so a burst of load from another process hits all
  of them alike) and returns the median seconds per call of each. Each
  sample runs the callable enough times to last at least `min_sample`
  seconds (like `timeit.autorange`); warm-up calls come first. Sampling stops
  after `repeat` samples, or earlier once `budget` seconds have passed (but
  never before `min_repeat` samples).
- `peak_extra(fn)` is the tracemalloc peak during one call, above what was
  allocated before it (NumPy reports its array buffers to tracemalloc, so
  this counts every array a call creates, but not its inputs).
- `Row` is one line of the results table; `table` renders rows as Markdown.

Everything uses `time.perf_counter`. The garbage collector stays on, as it
is for a user. Never use these numbers in assertions: they are for people.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Callable, Optional


# ------------------------------------------------------------------ timing
@dataclass
class Timing:
    median: float              # seconds per call
    samples: list              # seconds per call, one per sample
    number: int                # calls per sample

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median (a noise indicator)."""
        if len(self.samples) < 4:
            return 0.0
        q = statistics.quantiles(self.samples, n=4)
        return (q[2] - q[0]) / self.median if self.median else 0.0


def _calibrate(fn: Callable, min_sample: float) -> int:
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_sample or number >= 1 << 24:
            return number
        number = max(number * 2, int(number * min_sample / max(dt, 1e-9) * 1.1))


def compare(fns: dict, repeat: int = 15, warmup: int = 1, min_sample: float = 0.02,
            budget: Optional[float] = None, min_repeat: int = 3) -> dict:
    """{name: Timing}, the callables sampled in turn."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    numbers = {k: _calibrate(fn, min_sample) if min_sample > 0 else 1 for k, fn in fns.items()}
    samples: dict = {k: [] for k in fns}
    start = time.perf_counter()
    for r in range(repeat):
        for k, fn in fns.items():
            n = numbers[k]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[k].append((time.perf_counter() - t0) / n)
        if budget is not None and r + 1 >= min_repeat and time.perf_counter() - start > budget:
            break
    return {k: Timing(statistics.median(s), s, numbers[k]) for k, s in samples.items()}


def time_one(fn: Callable, **kw) -> Timing:
    return compare({"fn": fn}, **kw)["fn"]


def peak_extra(fn: Callable) -> int:
    """Bytes: tracemalloc peak during one call of fn, above the level before it."""
    gc.collect()
    was = tracemalloc.is_tracing()
    if not was:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        if not was:
            tracemalloc.stop()
    return peak - before


def optional(name: str):
    """The module if it imports, else None (torch and jax are optional peers)."""
    try:
        return importlib.import_module(name)
    except Exception:  # not installed, or broken: the peer simply does not join
        return None


# ------------------------------------------------------------- formatting
def fmt_time(s: Optional[float]) -> str:
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.2f} µs"
    if s < 1.0:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_bytes(b: Optional[float]) -> str:
    if b is None:
        return "—"
    if b >= 1 << 20:
        return f"{b / (1 << 20):.1f} MiB"
    if b >= 1 << 10:
        return f"{b / (1 << 10):.1f} KiB"
    return f"{b:.0f} B"


def fmt_ratio(r: Optional[float]) -> str:
    return "—" if r is None else f"{r:.2f}×"


@dataclass
class Row:
    workload: str
    cgraph: str
    reference: str = "—"
    ratio: str = "—"
    target: str = "—"
    met: Optional[bool] = None          # None: no target, or not measured
    peers: dict = field(default_factory=dict)   # peer name -> text (torch, jax)
    note: str = ""                      # printed under the table

    @property
    def met_text(self) -> str:
        return {True: "yes", False: "**no**", None: "—"}[self.met]


def table(rows: list) -> str:
    peers: list = []
    for r in rows:
        for p in r.peers:
            if p not in peers:
                peers.append(p)
    head = ["workload", "cgraph", "reference", "ratio", "target", "met?"] + peers
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.workload, r.cgraph, r.reference, r.ratio, r.target, r.met_text]
        cells += [r.peers.get(p, "—") for p in peers]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    notes = [f"- {r.workload}: {r.note}" for r in rows if r.note]
    return "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "") + "\n"


def main(measure: Callable, description: str) -> None:
    """Run one benchmark module on its own: `python bench/<module>.py [--repeat N]`."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--repeat", type=int, default=None,
                    help="samples per measurement (default: the module's own)")
    args = ap.parse_args()
    rows = measure(repeat=args.repeat) if args.repeat else measure()
    sys.stdout.write("\n" + table(rows))
