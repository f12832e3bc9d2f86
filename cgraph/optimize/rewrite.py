"""The two mechanics every pass shares: replace-by-earlier and compaction."""
from __future__ import annotations

from typing import Callable, Optional

KEEP = ("input", "leaf", "print", "assert")


def rewrite(g, visit: Callable) -> dict:
    """Walk nodes in order; `visit(node)` returns an earlier node id to use
    instead of it, or None. Inputs are redirected as the walk goes, so a
    replacement made early is seen by every later node. Returns old -> new."""
    rep = list(range(len(g.nodes)))
    changed = {}
    for node in g.nodes:
        if changed and node.inputs:   # until a first replacement, rep is the identity
            node.inputs = tuple([rep[j] for j in node.inputs])
        if node.op.name in KEEP:
            continue
        r = visit(node)
        if r is not None and r != node.id:
            rep[node.id] = r
            changed[node.id] = r
    if changed:
        retarget(g, lambda i: rep[i])
    return changed


def compact(g, targets) -> dict:
    """Drop the nodes no target, leaf or side effect needs; renumber densely."""
    need = g.needed(list(targets) + list(g.effects) + list(g.leaves.values())
                    + list(g.inputs.values()))
    new_id: list = [None] * len(g.nodes)
    moved: dict = {}    # old -> new id, or None: dropped
    nodes, values, varies = [], [], bytearray()
    old_values, old_varies = g.values, g.varies
    for node in g.nodes:
        old = node.id
        if need[old]:
            new = new_id[old] = len(nodes)
            values.append(old_values[old])
            varies.append(old_varies[old])
            if new != old:
                node.id = new
                moved[old] = new
            if moved and node.inputs:   # until a first move, every id is its own
                node.inputs = tuple([new_id[j] for j in node.inputs])
            nodes.append(node)
        else:
            moved[old] = None
    g.nodes, g.values, g.varies = nodes, values, varies
    if moved:
        retarget(g, lambda i: new_id[i])
    return moved


def retarget(g, f: Callable[[int], Optional[int]]) -> None:
    for table in ("names", "leaves", "inputs", "outputs"):
        d = getattr(g, table)
        setattr(g, table, {k: f(v) for k, v in d.items() if f(v) is not None})
    g.effects = [f(i) for i in g.effects if f(i) is not None]


def topo_sort(g, key: Callable[[int], tuple]) -> dict:
    """Reorder the nodes topologically, earliest `key` first among the ready ones
    (Kahn's algorithm, no recursion), and renumber them. Returns old -> new."""
    import heapq

    n = len(g.nodes)
    waiting = [len(set(node.inputs)) for node in g.nodes]
    users: list[list] = [[] for _ in range(n)]
    for node in g.nodes:
        for j in set(node.inputs):
            users[j].append(node.id)
    ready = [(key(i), i) for i in range(n) if waiting[i] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, (key(u), u))
    if len(order) != n:  # pragma: no cover - a pass made a cycle: a bug, not a user error
        raise RuntimeError("the graph has a cycle")
    new_id = {old: new for new, old in enumerate(order)}
    nodes = [g.nodes[i] for i in order]
    g.values = [g.values[i] for i in order]
    g.varies = bytearray(g.varies[i] for i in order)
    for node in nodes:
        node.id = new_id[node.id]
        node.inputs = tuple(new_id[j] for j in node.inputs)
    g.nodes = nodes
    retarget(g, lambda i: new_id.get(i))
    return new_id
