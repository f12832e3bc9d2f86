"""Algebraic simplification, only where IEEE arithmetic agrees.

x·1, 1·x, x/1, x^1, x^2 → square(x), x+0, 0+x, x−0, −(−x), not(not x), transpose of a
transpose, and the identity reshapes/broadcasts/sums the backward pass makes
when shapes already match. Not x·0 → 0 (inf·0 is nan) nor x − x → 0
(inf − inf is nan): those would change results.
"""
from __future__ import annotations

import numpy as np

from ..registry import get
from .rewrite import rewrite


def _const_is(g, i, value) -> bool:
    n = g.nodes[i]
    if n.op.name == "ones_like":
        return value == 1.0
    if n.op.name == "zeros_like":
        return value == 0.0
    if n.op.name != "const":
        return False
    v = n.attrs["value"]
    if v.dtype.kind not in "fiu":
        return False
    return float(v) == value if v.ndim == 0 else bool(np.all(v == value))


def run(g, live=None) -> dict:
    nodes = g.nodes

    def same(node, i):
        """i can stand for node: same shape and dtype."""
        return i if nodes[i].shape == node.shape and nodes[i].dtype == node.dtype \
            and node.shape is not None else None

    def visit(node):
        name, ins = node.op.name, node.inputs
        if name == "pow" and _const_is(g, ins[1], 2.0) and same(node, ins[0]) is not None:
            node.op, node.inputs = get("square"), (ins[0],)  # x^2 -> x·x: same bits, 2x faster
            return None
        if name in ("add", "sub", "mul", "div", "pow"):
            x, y = ins
            unit = 0.0 if name in ("add", "sub") else 1.0
            if _const_is(g, y, unit):
                return same(node, x)
            if name in ("add", "mul") and _const_is(g, x, unit):
                return same(node, y)
            return None
        if name in ("neg", "logical_not", "matrix_transpose"):
            inner = nodes[ins[0]]
            if inner.op.name == name:
                return same(node, inner.inputs[0])
            return None
        if name == "transpose":
            inner = nodes[ins[0]]
            if node.attrs.get("axes") is None and inner.op.name == "transpose" \
                    and inner.attrs.get("axes") is None:
                return same(node, inner.inputs[0])
            if node.shape is not None and len(node.shape) < 2:
                return same(node, ins[0])
            return None
        if name in ("sum_to", "broadcast_to", "reshape"):
            return same(node, ins[0])
        return None

    return rewrite(g, visit, live)
