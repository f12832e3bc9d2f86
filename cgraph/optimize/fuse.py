"""Elementwise fusion: a region of elementwise ops becomes one `fused` node.

A region is a connected set of elementwise nodes of one shape that no path
leaves and re-enters through another op (so it can run as one step): a
forward chain and the backward chain that reuses its values fuse together.
The fused node (its runtime is the op `fused`, cgraph/ops/fused.py) runs the region block by block (BLOCK elements at a time,
about half a megabyte): intermediates live only in block-sized scratch
buffers and are never materialised as whole arrays, and each value the
forward and the backward share is computed once per block. Values used
outside the region are its outputs (one output: the node's value; several:
a tuple that `fused_out` nodes pick from). Each op still runs through its own
NumPy forward from the registry, so results are bit-for-bit those of the
unfused graph. (numexpr was measured as an alternative backend and lost: NumPy's
vectorised exp/log/tanh beat numexpr's by 3-13x here, see bench/.)
"""
from __future__ import annotations

import numpy as np

from .. import shape_math as S
from ..registry import get
from ..ops.fused import BLOCK
from .rewrite import compact, retarget, topo_sort

MIN_SIZE = 4 * BLOCK  # smaller chains gain nothing from blocking


def _fusible(n) -> bool:
    return (n.op.elementwise and n.op.forward is not None and S.known(n.shape)
            and n.dtype in ("float64", "float32", "bool") and (S.size(n.shape) or 0) >= MIN_SIZE)


def _regions(g) -> list[list[int]]:
    """Connected elementwise nodes of one shape and one epoch. A node's epoch
    counts the non-elementwise ops between it and the region's start, so two
    nodes joined through such an op (x -> sum -> y) never share a region."""
    nodes = g.nodes
    fus = [_fusible(n) for n in nodes]
    if not any(fus):  # scalar programs: nothing to group
        return []
    epoch = [-1] * len(nodes)  # elementwise: its epoch; others: the latest epoch they follow
    parent = list(range(len(nodes)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for n in nodes:
        i = n.id
        if fus[i]:
            epoch[i] = max([0] + [epoch[j] if fus[j] else epoch[j] + 1 for j in n.inputs])
            for j in n.inputs:
                if fus[j] and epoch[j] == epoch[i] and nodes[j].shape == n.shape:
                    parent[find(j)] = find(i)
        else:
            epoch[i] = max([-1] + [epoch[j] for j in n.inputs])
    groups: dict[int, list] = {}
    for i in range(len(nodes)):
        if fus[i]:
            groups.setdefault(find(i), []).append(i)
    return [sorted(m) for m in groups.values() if len(m) >= 2]


def run(g, targets) -> dict:
    nodes, count = g.nodes, len(g.nodes)
    regions = _regions(g)
    if not regions:
        return compact(g, list(targets)) if any(n.op.name == "fused" for n in nodes) else {}
    keep = set(targets)
    users: dict[int, set] = {}
    for n in nodes:
        for j in n.inputs:
            users.setdefault(j, set()).add(n.id)
    redirect: dict[int, int] = {}   # an output member -> the node that now gives its value
    placed: dict[int, int] = {}     # a new node -> the position it takes in the order
    for members in regions:
        inside = set(members)
        outs = [m for m in members if m in keep or users.get(m, set()) - inside]
        ext: list[int] = []
        local: dict[int, int] = {}
        program = []
        for i in members:
            refs = []
            for j in nodes[i].inputs:
                if j in inside:
                    refs.append(-local[j] - 1)
                else:
                    if j not in ext:
                        ext.append(j)
                    refs.append(ext.index(j))
            local[i] = len(program)
            program.append((nodes[i].op.name, tuple(refs), tuple(sorted(nodes[i].attrs.items()))))
        last = nodes[members[-1]]
        attrs = {"program": tuple(program), "outputs": tuple((local[m], nodes[m].dtype) for m in outs),
                 "shape": list(last.shape), "dtype": last.dtype}
        if len(outs) == 1:  # the region's value is its last node's: replace it in place
            last.op, last.inputs, last.attrs = get("fused"), tuple(ext), attrs
            continue
        with_span(g, last)
        f = g.add("fused", ext, attrs)
        placed[f] = members[-1]
        for k, m in enumerate(outs):
            o = g.add("fused_out", (f,), {"index": k})
            on = g.nodes[o]
            on.shape, on.dtype, on.name, on.span, on.scope = (nodes[m].shape, nodes[m].dtype,
                                                              nodes[m].name, nodes[m].span,
                                                              nodes[m].scope)
            redirect[m] = o
            placed[o] = members[-1]
    if not redirect:
        return compact(g, list(targets)) if any(n.op.name == "fused" for n in nodes) else {}
    for n in g.nodes:
        if n.op.name != "fused_out":
            n.inputs = tuple(redirect.get(j, j) for j in n.inputs)
    retarget(g, lambda i: redirect.get(i, i))
    moved = topo_sort(g, lambda i: (placed.get(i, i), i))
    targets = [moved[redirect.get(t, t)] for t in targets]
    dropped = compact(g, targets)
    final = {}
    for old in range(count):
        new = dropped.get(moved[redirect.get(old, old)], moved[redirect.get(old, old)])
        if new != old:
            final[old] = new
    return final


def with_span(g, node) -> None:
    """New nodes take the span and scope of the node they stand for."""
    g.span, g.scope = node.span, node.scope
