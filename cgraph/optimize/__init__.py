"""Static-graph optimisation: a pipeline of small passes over the flat IR.

Each pass walks the node list once, front to back, and may replace a node by
an earlier one (`rewrite`); `compact` then drops what no target needs and
renumbers. Passes never touch leaves, `print` or `assert`.
"""
from __future__ import annotations

from typing import Callable, Optional

from .rewrite import compact, needed_by, rewrite  # noqa: F401
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


#: the first dead-code pass renumbers only when this share of the nodes is dead
#: or more; below it, it marks them and the passes skip them until the second
#: (the same graph in the end: live nodes never come to use a dead one)
MARK_BELOW = 1 / 8


def optimize(g, targets, report: Optional[list] = None, fusion: bool = True) -> dict:
    """Optimise g in place for computing `targets`; return old id -> new id.

    `report`, when given, receives (pass name, live node count after it):
    the nodes the targets, leaves and side effects still need.
    """
    remap: list = list(range(len(g.nodes)))   # old id -> id now (None: dropped)
    if report is not None:
        report.append(("built", len(g.nodes)))
    live = None          # the live nodes, while the dead ones are only marked
    simplified = False   # simplification ran and nothing since could give it more to do
    for k, (name, step) in enumerate(PASSES):
        if step is None:
            now = [remap[t] for t in targets]
            need = needed_by(g, now)
            dead = len(need) - sum(need)
            if k == 0 and 0 < dead < MARK_BELOW * len(need):
                live, moved = need, {}
            else:
                live, moved = None, compact(g, now, need)
            simplified = simplified and not dead
        elif name == "elementwise fusion":
            if not fusion:
                continue
            moved = step(g, [remap[t] for t in targets])
            simplified = False
        elif step is simplify.run and simplified:
            moved = {}  # a second walk would decide as the first did (see _only_constants)
        else:
            moved = step(g, live)
            if step is simplify.run:
                simplified = True
            elif step is cse.run:
                simplified = simplified and _only_constants(g, moved)
            elif moved:
                simplified = False
        if moved:
            get = moved.get
            remap = [get(new, new) for new in remap]   # get(None, None): still dropped
        if report is not None:
            report.append((name, _live(g, [remap[t] for t in targets])))
    return dict(enumerate(remap))


def _only_constants(g, merged: dict) -> bool:
    """CSE merged only constants into equal constants (same dtype, shape and
    bytes): every rule of `simplify` sees the one as it saw the other, and a
    simplified graph simplifies to itself, so simplifying again finds nothing."""
    nodes = g.nodes
    return all(nodes[i].op.name == "const" for i in merged)


def _live(g, targets) -> int:
    return sum(g.needed(list(targets) + list(g.effects) + list(g.leaves.values())))
