"""Batching a `loop` node: the loop runs once over all the rows, its body batched.

The body sub-graph is batched like any graph (cgraph.batch.vectorize): its
carried values get the batch axis (a carry that starts the same for every row
is broadcast first), a captured value keeps it if it has one, the index never
does. One loop node over the batched body then does in n steps what n × rows
single-row steps did — and a reverse loop is a loop node too, so gradients are
batched through it the same way.

Layout. A single-row loop packs several carries into one flat vector (P
values); the batched graph holds that as [rows, P]. The loop node itself packs
carry by carry (each carry's [rows, …] values flattened, then joined), so
the rule converts between the two with registry ops on the way in and out.
A loop's history ([n + 1, P] per row) comes out as [n + 1, rows, P] and is
transposed to [rows, n + 1, P]. A `while` loop is not batched (each row would
stop after its own count): it runs once per row.
"""
from __future__ import annotations

import math


def batch_loop(b, node, args):
    """The batching rule of the `loop` op (`OpDef.batch`): (new id, batched)."""
    body = node.attrs["body"]
    shapes = [tuple(s) for s in body.shapes]
    sizes = [math.prod(s) for s in shapes]
    cache = b.__dict__.setdefault("loop_bodies", {})
    (x0, x0_batched), caps = args[0], args[1:]
    if not x0_batched:
        x0 = b.full(x0, b.shape(node.inputs[0]), False)
    key = (id(body), tuple(f for _, f in caps))
    if key not in cache:
        cache[key] = _batched_body(b, body, shapes, [f for _, f in caps])
    new_body = cache[key]
    x = _carry_major(b, x0, sizes)
    attrs = {**node.attrs, "body": new_body}
    loop = b.add("loop", [x] + [i for i, _ in caps], attrs)
    if not attrs.get("history"):
        return _row_major(b, loop, sizes, node.shape), True
    hist = _row_major_history(b, loop, sizes, node.attrs["n"] + 1)
    rank = len(b.gb.nodes[hist].shape)
    return b.add("transpose", [hist], {"axes": [1, 0] + list(range(2, rank))}), True


def _batched_body(b, body, shapes, cap_flags):
    """The body batched over b.n rows: every carry and the batched captures are
    row inputs; a new carry that does not depend on them is broadcast."""
    from .vectorize import Batcher

    bg = body.graph
    rows = {bg.nodes[c].name for c in body.carries if c is not None}
    rows |= {bg.nodes[c].name for c, f in zip(body.captures, cap_flags) if c is not None and f}
    inner = Batcher(bg, rows, b.n)
    inner.__dict__["loop_bodies"] = {}
    new = inner.run(body.outs)
    outs = []
    for o, s in zip(body.outs, shapes):
        outs.append(new[o] if inner.batched[o] else inner.full(new[o], s, False))
    m = lambda i: None if i is None else new.get(i)  # noqa: E731
    nb = type(body)(inner.gb, m(body.index), [m(c) for c in body.carries],
              [m(c) for c in body.captures], outs)
    nb.twin = body.twin
    return nb


def _carry_major(b, x, sizes) -> int:
    """[rows, P] (several carries packed per row) as the loop packs them: carry by
    carry, each one's [rows, …] values flattened."""
    if len(sizes) == 1:
        return x
    parts, at = [], 0
    for size in sizes:
        part = b.add("index", [x], {"items": (("slice", None, None, None),
                                              ("slice", at, at + size, None))})
        parts.append(b.add("reshape", [part], {"shape": [-1]}))
        at += size
    return b.add("concat", parts, {"axis": 0})


def _row_major(b, v, sizes, shape) -> int:
    """The loop's carry-major value back as [rows] + the single-row shape."""
    if len(sizes) == 1:
        return v
    parts, at = [], 0
    for size in sizes:
        part = b.add("index", [v], {"items": (("slice", at * b.n, (at + size) * b.n, None),)})
        parts.append(b.add("reshape", [part], {"shape": [b.n, size]}))
        at += size
    return b.reshape(b.add("concat", parts, {"axis": 1}), (b.n,) + tuple(shape))


def _row_major_history(b, v, sizes, steps: int) -> int:
    """A history [n + 1, carry-major] as [n + 1, rows, P]."""
    if len(sizes) == 1:
        return v
    parts, at = [], 0
    for size in sizes:
        part = b.add("index", [v], {"items": (("slice", None, None, None),
                                              ("slice", at * b.n, (at + size) * b.n, None))})
        parts.append(b.add("reshape", [part], {"shape": [steps, b.n, size]}))
        at += size
    return b.add("concat", parts, {"axis": 2})
