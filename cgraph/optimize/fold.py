"""Constant folding: an op whose inputs are all constants becomes a constant.

The builder already folds what the program writes; this catches what the
backward pass and the other passes create (e.g. 2·1 from a derivative rule).
"""
from __future__ import annotations

from ..execute import run_op
from ..registry import get


def run(g) -> dict:
    const = get("const")

    def visit(node):
        if not node.op.foldable or node.op.forward is None or not node.inputs:
            return None
        if all(g.nodes[j].op.name == "const" for j in node.inputs) and not _expands(g, node):
            value = run_op(node, [g.nodes[j].attrs["value"] for j in node.inputs])
            node.op, node.inputs, node.attrs = const, (), {"value": value}
            g.values[node.id] = value
        return None

    from .rewrite import rewrite

    return rewrite(g, visit)


def _expands(g, node) -> bool:
    """Folding broadcast_to(1.0, [10**6]) would turn a free view into 8 MB of constant."""
    from ..shape_math import size

    out = size(node.shape) or 0
    return out > 4096 and out > max((size(g.nodes[j].shape) or 0) for j in node.inputs)
