"""Reverse and forward mode as graph transformations.

`forward(g, y, x, v)` is forward mode: a tangent pass from x to y adding each
op's JVP (`tangent`: the registry's `jvp` entry, else derived from the VJP).

`backward` walks the node list once, from the output back, and appends the
gradient nodes to the same graph using registry ops. The result is an
ordinary graph: it can be drawn, optimised, run in either mode, and
differentiated again (grad of grad). Broadcasting is undone in one place
(`fit`); fan-out is summed as contributions arrive.
"""
from __future__ import annotations

from typing import Optional, Sequence

from . import shape_math as S
from .ir import Graph
from .notation import F, Sym


def backward(g: Graph, y: int, wrt: Sequence[int], seed: Optional[int] = None) -> dict[int, int]:
    """Node ids of ∂y/∂w for each w in wrt (zeros where y does not depend on w).

    `seed` is the cotangent of y (default: ones of y's shape).
    Also records every visited node's gradient in the returned dict.
    """
    nodes = g.nodes
    lo = min(wrt, default=y)
    # nodes that depend on some w (only their cotangents matter)
    live = bytearray(y + 1)
    for w in wrt:
        if w <= y:
            live[w] = 1
    for i in range(lo, y + 1):
        if not live[i]:
            for j in nodes[i].inputs:
                if live[j]:
                    live[i] = 1
                    break
    # constants the rules make stay nodes here (broadcast_to(1.0) must not become
    # a dense array); the optimiser folds what is worth folding
    saved, g.fold = g.fold, False
    try:
        return _backward(g, y, wrt, seed, live, lo)
    finally:
        g.fold = saved


def _backward(g: Graph, y: int, wrt, seed, live, lo) -> dict[int, int]:
    nodes = g.nodes
    grads: dict[int, int] = {}
    if live[y]:
        grads[y] = seed if seed is not None else g.add("ones_like", (y,)) if nodes[y].shape != () \
            else g.const(1.0)
    for i in range(y, lo - 1, -1):
        ct = grads.get(i)
        node = nodes[i]
        if ct is None or not node.inputs or node.op.vjp is None:
            continue
        ins = node.inputs
        if not any(live[j] for j in ins):
            continue
        g.span = node.span  # gradient nodes point at the source of what they differentiate
        try:
            if len(ins) == 1:
                outs = node.op.vjp(Sym(g, ct), Sym(g, i), Sym(g, ins[0]), **node.attrs)
            elif len(ins) == 2:
                outs = node.op.vjp(Sym(g, ct), Sym(g, i), Sym(g, ins[0]), Sym(g, ins[1]),
                                   **node.attrs)
            else:
                outs = node.op.vjp(Sym(g, ct), Sym(g, i), *[Sym(g, j) for j in ins], **node.attrs)
        except (TypeError, ValueError, S.ShapeError):
            if S.known(node.shape) and all(S.known(nodes[j].shape) for j in ins):
                raise
            # the rule needs a shape this graph does not know: it was built without its
            # inputs' values (`cgraph check`, a drawing of the structure) and never runs;
            # stand-ins of the right (unknown) shape keep the build going
            outs = [g.add("zeros_like", (j,)) for j in ins]
        for j, c in zip(ins, outs):
            if c is None or not live[j]:
                continue
            if c.__class__ is Sym and c.g is g and nodes[c.id].shape == nodes[j].shape:
                c = c.id  # nothing to fit (fit's first case, without its checks)
            else:
                c = fit(g, c, nodes[j].shape)
            grads[j] = c if j not in grads else g.add("add", (grads[j], c))
    for w in wrt:
        if w not in grads:
            grads[w] = g.add("zeros_like", (w,))
    return grads


def forward(g: Graph, y: int, x: int, v: int) -> int:
    """∂y/∂x · v (a node of y's shape): forward mode as a graph transformation. One
    walk from x to y, in node order, adds each node's tangent (`tangent`) with
    registry ops; the result is a graph like any other — drawn, optimised, run in
    either mode, differentiated again (hvp is jvp of grad)."""
    nodes = g.nodes
    tangents: dict[int, int] = {x: v}
    saved, g.fold = g.fold, False
    try:
        for i in range(x + 1, y + 1):
            node = nodes[i]
            if node.op.vjp is None or not any(j in tangents for j in node.inputs):
                continue  # not differentiable here (comparisons, argmax): a zero tangent
            g.span = node.span
            t = tangent(g, node, [tangents.get(j) for j in node.inputs])
            if t is not None:
                tangents[i] = t
        return tangents[y] if y in tangents else g.add("zeros_like", (y,))
    finally:
        g.fold = saved


def tangent(g: Graph, node, ts: list) -> Optional[int]:
    """The tangent of one node from its inputs' tangents (None: no tangent), by the
    op's `jvp` entry: "linear" (the op itself, applied to the tangents), a written-out
    rule, or — without one — derived from its VJP, exactly: for an elementwise op the
    VJP of a ones cotangent is its elementwise partial (∂out/∂in_k · t_k); otherwise the
    VJP's transpose, ∂/∂c ⟨vjp_k(c), t_k⟩ summed over k."""
    op, ins = node.op, node.inputs
    rule = op.jvp
    if rule == "linear":
        args = [t if t is not None else g.add("zeros_like", (j,)) for j, t in zip(ins, ts)]
        return g.add(op, args, dict(node.attrs))
    if callable(rule):
        out = rule([Sym(g, t) if t is not None else None for t in ts], Sym(g, node.id),
                   *(Sym(g, j) for j in ins), **node.attrs)
        return None if out is None else (out.id if isinstance(out, Sym) else g.const(out))
    if op.elementwise:
        ones = g.add("ones_like", (node.id,))
        parts = op.vjp(Sym(g, ones), Sym(g, node.id), *(Sym(g, j) for j in ins), **node.attrs)
        total = None
        for p, t in zip(parts, ts):
            if p is None or t is None:
                continue
            term = g.add("mul", (p.id if isinstance(p, Sym) else g.const(p), t))
            total = term if total is None else g.add("add", (total, term))
        return None if total is None else fit(g, Sym(g, total), node.shape)
    c = g.add("zeros_like", (node.id,))
    cts = op.vjp(Sym(g, c), Sym(g, node.id), *(Sym(g, j) for j in ins), **node.attrs)
    s = None
    for j, ct, t in zip(ins, cts, ts):
        if ct is None or t is None:
            continue
        ct = fit(g, ct, g.nodes[j].shape)
        term = g.add("sum", (g.add("mul", (ct, t)),), {"axis": None, "keepdims": False})
        s = term if s is None else g.add("add", (s, term))
    if s is None:
        return None
    return backward(g, s, [c])[c]


def jacobian_rows(g: Graph, y: int, wrt: Sequence[int], span=None) -> list[list[int]]:
    """Row k of the Jacobian of y (one list of node ids, one per w in wrt): one
    backward pass from y seeded with the one-hot cotangent of element k.

    Seeding y itself, not y[k], keeps the cost linear in y's size (a pass from
    y[k] would walk every earlier row's nodes again). The seeds stay unfolded
    nodes computed when the graph runs: m dense one-hot constants would take m²
    floats (1.5 GB for 10,000 rows)."""
    import numpy as np

    shape = g.nodes[y].shape
    rows: list[list[int]] = []
    saved_span, saved_fold = g.span, g.fold
    g.span, g.fold = span if span is not None else g.nodes[y].span, False
    try:
        one = g.const(1.0, g.span)  # the graph's float dtype: the seeds keep it
        for k in range(S.size(shape)):
            at = tuple(("int", int(i)) for i in np.unravel_index(k, shape))
            seed = g.add("index_grad", (one,), {"shape": list(shape), "items": at})
            grads = backward(g, y, list(wrt), seed=seed)
            rows.append([grads[w] for w in wrt])
    finally:
        g.span, g.fold = saved_span, saved_fold
    return rows


def fit(g: Graph, c, shape) -> int:
    """Sum a cotangent back to its operand's shape (undo broadcasting)."""
    cid = c.id if isinstance(c, Sym) else g.const(c)
    cs = g.nodes[cid].shape
    if cs == shape or shape is None or cs is None or not S.known(shape):
        if cs != shape and S.known(shape) and cs is not None and len(cs) < len(shape):
            return F.broadcast_to(Sym(g, cid), shape=list(shape)).id
        return cid
    if len(cs) < len(shape) or any(a != b and b != 1 for a, b in zip(cs[len(cs) - len(shape):], shape)):
        # a constant or scalar cotangent (e.g. d(x+1)/dx = 1): spread it
        return F.broadcast_to(Sym(g, cid), shape=list(shape)).id
    return g.add("sum_to", (cid,), {"shape": list(shape)})
