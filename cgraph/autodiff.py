"""Reverse mode as a graph transformation.

`backward` walks the node list once, from the output back, and appends the
gradient nodes to the same graph using registry ops. The result is an
ordinary graph: it can be drawn, optimised, run in either mode, and
differentiated again (grad of grad). Broadcasting is undone in one place
(`_fit`); fan-out is summed as contributions arrive.
"""
from __future__ import annotations

from typing import Optional, Sequence

from . import shapes as S
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
            outs = node.op.vjp(Sym(g, ct), Sym(g, i), *(Sym(g, j) for j in ins), **node.attrs)
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
            c = _fit(g, c, nodes[j].shape)
            grads[j] = c if j not in grads else g.add("add", (grads[j], c))
    for w in wrt:
        if w not in grads:
            grads[w] = g.add("zeros_like", (w,))
    return grads


def _fit(g: Graph, c, shape) -> int:
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
