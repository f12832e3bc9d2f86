"""The two mechanics every pass shares: replace-by-earlier and compaction."""
from __future__ import annotations

from itertools import accumulate, compress
from typing import Callable, Optional

KEEP = ("input", "leaf", "print", "assert")


def rewrite(g, visit: Callable, live: Optional[bytearray] = None) -> dict:
    """Walk nodes in order; `visit(node)` returns an earlier node id to use
    instead of it, or None. Inputs are redirected as the walk goes, so a
    replacement made early is seen by every later node. Returns old -> new.
    `live` (from `needed_by`), when given: only its nodes are visited (the
    others are dead code, dropped later; no live node uses them)."""
    rep = list(range(len(g.nodes)))
    changed = {}
    for node in g.nodes:
        if changed and node.inputs:   # until a first replacement, rep is the identity
            node.inputs = tuple([rep[j] for j in node.inputs])
        if node.op.name in KEEP or (live is not None and not live[node.id]):
            continue
        r = visit(node)
        if r is not None and r != node.id:
            rep[node.id] = r
            changed[node.id] = r
    if changed:
        retarget(g, lambda i: rep[i])
    return changed


def needed_by(g, targets) -> bytearray:
    """1 for every node a target, leaf, input or side effect needs: what `compact` keeps."""
    return g.needed(list(targets) + list(g.effects) + list(g.leaves.values())
                    + list(g.inputs.values()))


def compact(g, targets, need: Optional[bytearray] = None) -> dict:
    """Drop the nodes no target, leaf or side effect needs (`need`: `needed_by`
    already computed); renumber densely. Returns old -> new id (None: dropped)
    for every node that moved or dropped."""
    if need is None:
        need = needed_by(g, targets)
    nodes = g.nodes
    count = len(nodes)
    kept = sum(need)
    if kept == count:
        return {}
    first = need.index(0)     # every node before the first dropped one keeps its id
    new_id: list = list(range(first))
    rest = need[first:]
    new_id.extend([a if k else None for a, k in zip(accumulate(rest, initial=first), rest)])
    g.nodes = list(compress(nodes, need))
    g.values = list(compress(g.values, need))
    g.varies = bytearray(compress(g.varies, need))
    moved: dict = {}    # old -> new id, or None: dropped
    for node in g.nodes[first:]:
        old = node.id
        new = node.id = new_id[old]
        moved[old] = new
        ins = node.inputs
        if ins:
            node.inputs = tuple([new_id[j] for j in ins])
    for old in range(first, count):
        if not need[old]:
            moved[old] = None
    retarget(g, new_id.__getitem__)
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
