"""What a node depends on, walked backwards over the graph while it is built:
the top-level leaves a condition reads, whether a size comes from a named dim
not known yet, and freezing the leaves that decide the graph's structure."""
from __future__ import annotations

import numpy as np

from . import registry as R


SOURCES = ("leaf", "input", "dim_of")


def _sources(g, v: int):
    """(every varying node v is computed from, the leaves, inputs and named dims
    among them); the walk stops at those and at constants."""
    stack, seen, found = [v], set(), []
    while stack:
        i = stack.pop()
        if i in seen or not g.varies[i]:
            continue
        seen.add(i)
        node = g.nodes[i]
        if node.op.name in SOURCES:
            found.append(node)
        else:
            stack.extend(node.inputs)
    return seen, found


def leaves_only(g, v: int) -> list:
    """The names of the top-level leaves v depends on, when it depends on no input."""
    _, found = _sources(g, v)
    if any(n.op.name != "leaf" for n in found):
        return []
    return sorted({n.name for n in found})


def unknown_dim(g, v) -> bool:
    """v is computed from named dims of inputs whose sizes are not known yet
    (`dim_of` nodes), and from no input's values."""
    if not isinstance(v, int) or g.eager:  # a string, None or a list value
        return False
    kinds = {n.op.name for n in _sources(g, v)[1]}
    return kinds == {"dim_of"}


def freeze(g, v: int) -> bool:
    """Leaves that decide the graph's structure (a range bound, a shape, an axis)
    become constants, in both modes, with everything computed from them;
    False when v depends on an input, whose value is not known yet."""
    seen, found = _sources(g, v)
    leaves = [n for n in found if n.op.name == "leaf"]
    from_data = len(leaves) < len(found)  # an input's value (or size)
    if from_data and not g.eager:
        return False
    for node in leaves:
        if g.leaves.get(node.name) == node.id:
            del g.leaves[node.name]
        g.frozen.add(node.name)
        if not g.eager:
            value = np.asarray(node.attrs.get("default"))
            node.op, node.attrs = R.get("const"), {"value": value}
            g.values[node.id] = value
    if not from_data:
        for i in seen:
            g.varies[i] = 0
    return True
