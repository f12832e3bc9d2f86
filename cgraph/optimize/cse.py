"""Common-subexpression elimination: one node per (op, inputs, attributes)."""
from __future__ import annotations

import numpy as np

from .rewrite import KEEP, retarget


def _key(node):
    if node.op.name == "const":
        v = node.attrs["value"]
        if v.size > 64:  # big constants are compared by identity only
            return ("const-id", id(v))
        return ("const", _dtype_str(v.dtype), v.shape, v.tobytes())
    if not node.attrs:
        return (node.op.name, node.inputs, ())
    try:
        attrs = tuple(sorted((k, _freeze(v)) for k, v in node.attrs.items()))
        hash(attrs)
    except TypeError:
        return None
    return (node.op.name, node.inputs, attrs)


_DTYPE_STR: dict = {}


def _dtype_str(dt) -> str:
    """dt.str, looked up once per dtype (it is computed afresh on every read)."""
    s = _DTYPE_STR.get(dt)
    if s is None:
        s = _DTYPE_STR[dt] = dt.str
    return s


def _freeze(v):
    if isinstance(v, list):
        return ("list", tuple(_freeze(x) for x in v))
    if isinstance(v, np.ndarray):
        return ("array", v.dtype.str, v.shape, v.tobytes())
    return v


def run(g, live=None) -> dict:
    """`rewrite` with the visit inlined: one key per node, the first node of
    each key stands for the later ones. Returns old -> new. `live`: as
    `rewrite`'s (a dead node stands for no live one)."""
    nodes = g.nodes
    rep = list(range(len(nodes)))
    changed: dict = {}
    seen: dict = {}
    setdefault = seen.setdefault
    dtype_str = _DTYPE_STR
    for node in nodes:
        ins = node.inputs
        if changed and ins:   # until a first replacement, rep is the identity
            ins = node.inputs = tuple([rep[j] for j in ins])
        if live is not None and not live[node.id]:
            continue
        op = node.op
        name = op.name
        if name == "const":
            v = node.attrs["value"]
            if v.size > 64:  # big constants are compared by identity only
                key = ("const-id", id(v))
            else:
                dt = v.dtype
                s = dtype_str.get(dt)
                if s is None:
                    s = _dtype_str(dt)
                key = ("const", s, v.shape, v.tobytes())
        elif name in KEEP or not op.foldable:
            continue
        elif not node.attrs:
            key = (name, ins, ())
        else:
            key = _key(node)
            if key is None:
                continue
        i = node.id
        first = setdefault(key, i)
        if first != i:
            rep[i] = first
            changed[i] = first
    if changed:
        retarget(g, rep.__getitem__)
    return changed
