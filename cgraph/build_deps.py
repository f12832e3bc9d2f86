"""What a node depends on, walked backwards over the graph while it is built:
the top-level leaves a condition reads, whether a size comes from a named dim
not known yet, and freezing the leaves that decide the graph's structure."""
from __future__ import annotations

import numpy as np

from . import registry as R


def leaves_only(g, v: int) -> list:
    """The names of the top-level leaves v depends on, when it depends on no input."""
    stack, seen, names = [v], set(), []
    while stack:
        i = stack.pop()
        if i in seen or not g.varies[i]:
            continue
        seen.add(i)
        node = g.nodes[i]
        if node.op.name == "leaf":
            names.append(node.name)
        elif node.op.name in ("input", "dim_of"):
            return []
        else:
            stack.extend(node.inputs)
    return sorted(set(names))

def unknown_dim(g, v) -> bool:
    """v is computed from named dims of inputs whose sizes are not known yet
    (`dim_of` nodes), and from no input's values."""
    if not isinstance(v, int) or g.eager:  # a string, None or a list value
        return False
    stack, seen, found = [v], set(), False
    while stack:
        i = stack.pop()
        if i in seen or not g.varies[i]:
            continue
        seen.add(i)
        node = g.nodes[i]
        if node.op.name == "dim_of":
            found = True
        elif node.op.name in ("input", "leaf"):
            return False
        else:
            stack.extend(node.inputs)
    return found

def freeze(g, v: int) -> bool:
    """Leaves that decide the graph's structure (a range bound, a shape, an axis)
    become constants, in both modes, with everything computed from them;
    False when v depends on an input, whose value is not known yet."""
    stack, seen, leaves, from_data = [v], set(), [], False
    while stack:
        i = stack.pop()
        if i in seen or not g.varies[i]:
            continue
        seen.add(i)
        node = g.nodes[i]
        if node.op.name == "input":
            if not g.eager:
                return False
            from_data = True  # eager knows the input's value: it stays an input
        elif node.op.name == "leaf":
            leaves.append(node)
        else:
            stack.extend(node.inputs)
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
