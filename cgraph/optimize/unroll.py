"""Loop unrolling: whether a static `for` stays one loop node or becomes n copies
of its body — the optimiser's choice, asked as the loop is built and listed
with its reason by `cgraph check --passes` (`Graph.loops`).

A short loop (at most UNROLL_MAX iterations) is unrolled: folding, CSE and
fusion then see across its iterations, its gradient is the plain chain rule,
and n copies of a small body cost less than a loop node's per-iteration
dispatch. The builder does the copying, with i known in each copy (so x[i]
is checked as it is built). A longer loop stays one loop node, and its
gradient a reverse loop — unless its body is one a loop node cannot hold
(print, assert, random draws, a body that needs i's value while building),
which the builder unrolls as well and records why.
"""
from __future__ import annotations

UNROLL_MAX = 16   # iterations


def keep_as_loop(n: int) -> bool:
    """A for loop of n iterations (its body one fixed step) stays a loop node."""
    return n > UNROLL_MAX


def record(g, span, kind: str, n, choice: str, why: str, body_nodes=None) -> None:
    """One loop's fate, for `check --passes` (nested loops: the outer graph's list
    takes its body's when the outer loop is made)."""
    entry = {"line": span.line, "loop": kind, "iterations": n, "choice": choice, "why": why,
             "body_nodes": body_nodes}
    if entry not in g.loops:  # a loop inside an unrolled one is built once per iteration
        g.loops.append(entry)


def describe(entry: dict) -> str:
    """One recorded decision as a line of `check --passes`."""
    n = entry["iterations"]
    what = entry["loop"] if n is None else \
        f"{entry['loop']}, {n:,} iteration{'' if n == 1 else 's'}"
    if entry.get("body_nodes"):
        what += f" of a {entry['body_nodes']}-node body"
    return f"line {entry['line']}: {what}: {entry['choice']} ({entry['why']})"
