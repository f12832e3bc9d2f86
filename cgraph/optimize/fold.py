"""Constant folding: an op whose inputs are all constants becomes a constant.

The builder already folds what the program writes; this catches what the
backward pass and the other passes create (e.g. 2·1 from a derivative rule).
"""
from __future__ import annotations

from ..execute import run_op
from ..registry import get


def run(g, live=None) -> dict:
    """Fold in place; never replaces a node by another, so returns {} (as a
    `rewrite` whose visit always says None, without its bookkeeping). `live`:
    as `rewrite`'s."""
    from .rewrite import KEEP

    const = get("const")
    nodes, values = g.nodes, g.values
    for node in nodes:
        ins = node.inputs
        if not ins:
            continue
        op = node.op
        if op.name in KEEP or not op.foldable or op.forward is None:
            continue
        if live is not None and not live[node.id]:
            continue
        for j in ins:
            if nodes[j].op.name != "const":
                break
        else:
            if not _expands(g, node):
                value = run_op(node, [nodes[j].attrs["value"] for j in ins])
                node.op, node.inputs, node.attrs = const, (), {"value": value}
                values[node.id] = value
    return {}


def _expands(g, node) -> bool:
    """Folding broadcast_to(1.0, [10**6]) would turn a free view into 8 MB of constant."""
    from ..shape_math import size

    out = size(node.shape) or 0
    return out > 4096 and out > max((size(g.nodes[j].shape) or 0) for j in node.inputs)
