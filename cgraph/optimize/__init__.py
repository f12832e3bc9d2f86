"""Static-graph optimisation: a pipeline of small passes over the flat IR.

Each pass walks the node list once, front to back, and may replace a node by
an earlier one (`rewrite`); `compact` then drops what no target needs and
renumbers. Passes never touch leaves, `print` or `assert`.
"""
from __future__ import annotations

from typing import Callable, Optional

from .rewrite import compact, rewrite  # noqa: F401
from . import cse, fold, fuse, simplify

#: (name, pass) in the order they run; each pass takes (graph, targets)
PASSES: list[tuple[str, Callable]] = [
    ("dead code", None),          # first too: later passes then walk only what matters
    ("constant folding", fold.run),
    ("algebraic simplification", simplify.run),
    ("common subexpressions", cse.run),
    ("algebraic simplification", simplify.run),
    ("dead code", None),          # compact() below
    ("elementwise fusion", fuse.run),
]


def optimize(g, targets, report: Optional[list] = None, fusion: bool = True) -> dict:
    """Optimise g in place for computing `targets`; return old id -> new id.

    `report`, when given, receives (pass name, live node count after it):
    the nodes the targets, leaves and side effects still need.
    """
    remap: list = list(range(len(g.nodes)))   # old id -> id now (None: dropped)
    if report is not None:
        report.append(("built", len(g.nodes)))
    for name, step in PASSES:
        if step is None:
            moved = compact(g, [remap[t] for t in targets])
        elif name == "elementwise fusion":
            if not fusion:
                continue
            moved = step(g, [remap[t] for t in targets])
        else:
            moved = step(g)
        if moved:
            get = moved.get
            remap = [get(new, new) for new in remap]   # get(None, None): still dropped
        if report is not None:
            report.append((name, _live(g, [remap[t] for t in targets])))
    return dict(enumerate(remap))


def _live(g, targets) -> int:
    return sum(g.needed(list(targets) + list(g.effects) + list(g.leaves.values())))
