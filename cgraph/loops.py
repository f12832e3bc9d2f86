"""Loops as graph nodes: a static `for i in range(...)` is one `loop` node whose
body is a sub-graph (like JAX's `scan` or XLA's `While`), not n copies.

A body maps (index i, carried values x…, captured values c…) to the new
carried values. The `loop` node's value is the final carry — one tensor, or
the carried values flattened and joined when there are several (`pack`);
with `history` it is every carry, x_0 … x_n, stacked (what the backward pass
needs). Its derivative is a reverse loop, written with the same ops: a body
that recomputes one forward step from the history and applies its VJP
(`cgraph.autodiff.backward` on the body), carrying ∂/∂x and summing ∂/∂c —
so a gradient through a loop is again a loop, and can be differentiated again.
"""
from __future__ import annotations

import math

import numpy as np

from . import loop_compile
from .execute import run_scalar_steps
from .ir import Graph
from .notation import Sym
from .registry import defop


class Body:
    """A loop's sub-graph and which of its nodes are the index, the carries, the
    captures and the new carries (an id is None where the optimiser dropped an
    input nothing reads)."""

    __slots__ = ("graph", "index", "carries", "captures", "outs", "_plan", "_scalar", "twin",
                 "memo", "compiled_loops", "shared")

    def __init__(self, graph, index, carries, captures, outs):
        self.graph, self.index, self.carries = graph, index, list(carries)
        self.captures, self.outs, self._plan = list(captures), list(outs), None
        self.shared = False  # its graph is another body's too (a while's condition)
        self._scalar = False  # not worked out yet
        # twin: a backward pass also runs this loop keeping every carry; the loop
        # without history then keeps them too, and hands them over (`memo`)
        self.twin, self.memo = False, None
        self.compiled_loops = None  # cgraph.loop_compile's functions of this body

    shapes = property(lambda self: [tuple(self.graph.nodes[o].shape) for o in self.outs])

    def __repr__(self) -> str:
        return f"<loop body: {len(self.graph.nodes)} nodes>"

    def optimised(self) -> "Body":
        """The same body after the optimiser's passes (no run-time fusion)."""
        from .optimize import optimize

        remap = optimize(self.graph, self.outs, fusion=False)
        m = lambda i: None if i is None else remap.get(i)  # noqa: E731
        return Body(self.graph, m(self.index), [m(i) for i in self.carries],
                    [m(i) for i in self.captures], [m(i) for i in self.outs])

    def scalar_steps(self):
        """(size, consts, steps, columns) to run the body on Python floats, or None:
        every value a scalar with a Python-float rule, but for the reverse loop's
        reading of the history — a `take` of a row of a captured vector, or with
        several carries, a carry's column of a captured matrix (`columns`: capture
        id, column, slot; the pack/unpack of the carries around it are seen
        through: those vectors are lists of slots, never values)."""
        if self._scalar is not False:
            return self._scalar
        g = self.graph
        nodes = g.nodes
        need = g.needed(self.outs)
        inputs = {self.index, *self.carries, *self.captures} - {None}
        consts, steps, out, columns = [], [], None, []
        vec: dict = {}     # node id -> the slots of its elements (a vector seen through)
        alias: dict = {}   # node id -> the slot holding its value
        colslot: dict = {}  # (capture id, column) -> the slot of that column
        read: dict = {}     # ("cell", column slot, row slot) -> the node that read it
        size = len(nodes)
        for n in nodes:
            if not need[n.id] or n.id in inputs:
                continue
            name, shape = n.op.name, n.shape
            ins = [alias.get(j, j) for j in n.inputs]
            if name == "const":
                if np.ndim(n.attrs["value"]) or n.dtype not in ("float64", "bool"):
                    break
                v = n.attrs["value"]
                consts.append((n.id, bool(v) if n.dtype == "bool" else float(v)))
            elif name == "take" and n.inputs[0] in self.captures and nodes[ins[1]].shape == () \
                    and shape == tuple(nodes[n.inputs[0]].shape[1:]) and len(shape) <= 1:
                if not shape:
                    steps.append((loop_compile.row, ins[0], ins[1], n.id))
                    continue
                row = []
                for col in range(shape[0]):
                    if (n.inputs[0], col) not in colslot:
                        colslot[n.inputs[0], col] = size
                        columns.append((n.inputs[0], col, size))
                        size += 1
                    row.append(("cell", colslot[n.inputs[0], col], ins[1]))
                vec[n.id] = row
            elif name == "reshape" and shape == (1,) and nodes[ins[0]].shape == ():
                vec[n.id] = [ins[0]]
            elif name == "concat" and n.attrs.get("axis") == 0 and all(j in vec for j in ins):
                vec[n.id] = [e for j in ins for e in vec[j]]
            elif name == "index" and ins[0] in vec and _one_slice(n.attrs["items"], len(vec[ins[0]])):
                _, lo, hi, _ = n.attrs["items"][0]
                vec[n.id] = vec[ins[0]][lo:hi]
            elif name == "reshape" and shape == () and len(vec.get(ins[0], ())) == 1:
                e = vec[ins[0]][0]
                if isinstance(e, tuple):  # a cell of the history: read once
                    if e in read:
                        alias[n.id] = read[e]
                    else:
                        read[e] = n.id
                        steps.append((loop_compile.row, e[1], e[2], n.id))
                elif n.id in self.outs:
                    steps.append((loop_compile.same, e, -1, n.id))
                else:
                    alias[n.id] = e
            elif shape == () and n.op.scalar is not None and n.dtype in ("float64", "bool") \
                    and all(nodes[j].shape == () for j in ins) and 1 <= len(ins):
                steps.append((n.op.scalar, ins[0], ins[1], n.id) if len(ins) == 2 else
                             (n.op.scalar, ins[0], -1, n.id) if len(ins) == 1 else
                             (n.op.scalar, tuple(ins), -2, n.id))
            else:
                break
        else:
            out = (size, consts, steps, columns)
        self._scalar = out
        return out

    def plan(self):
        """The body's run plan, made at its first run: elementwise fusion joins the
        body's other passes then, as a static graph's last pass, once every
        derivative of the body has been taken (a fused node has no VJP)."""
        if self._plan is None:
            from .execute import Plan
            from .optimize import fuse

            if not self.shared:
                moved = fuse.run(self.graph, self.outs)
                if moved:
                    m = lambda i: None if i is None else moved.get(i, i)  # noqa: E731
                    self.index, self.outs = m(self.index), [m(i) for i in self.outs]
                    self.carries = [m(i) for i in self.carries]
                    self.captures = [m(i) for i in self.captures]
                    self._scalar = False
            self._plan = Plan(self.graph, self.outs)
        return self._plan

    def names(self):
        """The feed names of the index, carries and captures."""
        nodes = self.graph.nodes
        name = lambda i: None if i is None else nodes[i].name  # noqa: E731
        return name(self.index), [name(i) for i in self.carries], [name(i) for i in self.captures]


def describe(node) -> str:
    """A loop node in words, for drawings and --explain: its trip count and body."""
    a = node.attrs
    body = a["body"]
    bg = body.graph
    need = bg.needed(body.outs)
    ops = []
    for n in bg.nodes:
        if need[n.id] and n.op.name not in ("input", "leaf", "const"):
            sym = n.op.symbol or n.op.name
            if sym not in ops:
                ops.append(sym)
    what = "reverse loop" if is_reverse(node) else "loop"
    kept = ", keeping every carry" if a.get("history") else ""
    count = "as many iterations as its while loop ran" if a["n"] is None else \
        f"{a['n']:,} iterations"
    return (f"{what}: {count} of a {sum(need)}-node body "
            f"({' '.join(ops[:6])}{' …' if len(ops) > 6 else ''}){kept}")


def is_reverse(node) -> bool:
    """Whether a loop node is a reverse loop (a derivative's: it carries ∂x)."""
    body = node.attrs["body"]
    return node.attrs.get("step", 1) < 0 and any(
        body.graph.nodes[i].name and body.graph.nodes[i].name.startswith("#gx")
        for i in body.carries if i is not None)


def out_names(body) -> dict:
    """Body node -> the (first) name the program gives it: the carried names."""
    named: dict = {}
    for name, i in body.graph.names.items():
        named.setdefault(i, name)
    return named


# ------------------------------------------------------------------ packing
def sizes(shapes) -> list:
    return [math.prod(s) for s in shapes]


def pack(g: Graph, ids, shapes) -> int:
    """Several values as one flat vector (one value: itself)."""
    if len(ids) == 1:
        return ids[0]
    flat = [g.add("reshape", (i,), {"shape": [-1]}) for i in ids]
    return g.add("concat", flat, {"axis": 0})


def unpack(g: Graph, v: int, shapes) -> list:
    """The values `pack` joined, back in their shapes."""
    if len(shapes) == 1:
        return [v]
    out, at = [], 0
    for s, n in zip(shapes, sizes(shapes)):
        part = g.add("index", (v,), {"items": (("slice", at, at + n, None),)})
        out.append(g.add("reshape", (part,), {"shape": list(s)}))
        at += n
    return out


def inline(g: Graph, body: Body, i, xs, cs, where=None) -> list:
    """Copy one step of the body into g, on the index i, carries xs and captures
    cs (node ids of g); return the ids of the new carries (`where`, if given, is
    filled with body node -> g node)."""
    bg = body.graph
    need = bg.needed(body.outs)
    where = {} if where is None else where
    for k, b in [(body.index, i)] + list(zip(body.carries, xs)) + list(zip(body.captures, cs)):
        if k is not None:
            where[k] = b
    for n in bg.nodes:
        if not need[n.id] or n.id in where:
            continue
        if n.op.name == "const":
            where[n.id] = g.const(n.attrs["value"], n.span)
        else:
            where[n.id] = g.add(n.op, [where[j] for j in n.inputs], n.attrs, n.span)
    return [where[o] for o in body.outs]


# ------------------------------------------------------------------ running
def remembered(run):
    """A loop's forward that, when its body has a twin keeping the history, runs
    once for both: the first run keeps every carry and leaves them in body.memo for
    the twin (matched by the very input objects, so one run's values only)."""
    def forward(x0, *caps, body, history=False, **kw):
        if history:
            memo = body.memo
            if memo is not None and memo[0] is x0 and len(memo[1]) == len(caps) \
                    and all(a is b for a, b in zip(memo[1], caps)):
                body.memo = None
                return memo[2]
            return run(x0, *caps, body=body, history=True, **kw)
        if not body.twin:
            return run(x0, *caps, body=body, history=False, **kw)
        rows = run(x0, *caps, body=body, history=True, **kw)
        body.memo = (x0, caps, rows)
        return np.array(rows[-1])
    return forward


def run_loop(x0, *caps, body, n, start, step, history=False):
    """The loop node's forward: n steps of the body from x0. n None: a reverse
    loop of a while, as many steps as the history (capture 0) holds, last first."""
    if n is None:
        n = int(np.shape(caps[0])[0]) - 1
        start = float(n - 1)
    shapes = body.shapes
    if np.asarray(x0).dtype == np.float64 and all(s == () for s in shapes):
        steps = body.scalar_steps()
        if steps is not None:
            out = _scalar_loop(steps, body, x0, caps, n, start, step, history)
            if out is not None:
                return out
    plan = body.plan()
    iname, xnames, cnames = body.names()
    xs = split(x0, shapes)
    feed = {c: v for c, v in zip(cnames, caps) if c is not None}
    dtype = np.asarray(x0).dtype
    rows = [_join(xs)] if history else None
    for k in range(n):
        if iname is not None:
            feed[iname] = np.asarray(start + k * step, dtype)
        for name, v in zip(xnames, xs):
            if name is not None:
                feed[name] = v
        vals = plan.run(feed)
        xs = [np.array(vals[o], dtype=dtype) for o in body.outs]  # a copy: plans reuse buffers
        if history:
            rows.append(_join(xs))
    return np.stack(rows) if history else _join(xs)


def _one_scalar(fv, steps, x, xslot, islot, out, n, start, step, history):
    rows = [x] if history else None
    try:
        for k in range(n):
            if islot >= 0:
                fv[islot] = start + k * step
            if xslot >= 0:
                fv[xslot] = x
            # run_scalar_steps inlined: a call per iteration costs ~15% of this loop
            for fn, a, b, o in steps:
                if b >= 0:
                    fv[o] = fn(fv[a], fv[b])
                elif b == -1:
                    fv[o] = fn(fv[a])
                else:
                    fv[o] = fn(*[fv[j] for j in a])
            x = fv[out]
            if history:
                rows.append(x)
    except (OverflowError, ValueError, ZeroDivisionError):
        return None
    return np.array(rows, dtype=np.float64) if history else np.float64(x)


# the last history a one-carry scalar loop kept, as the array and the floats it was
# made of: the reverse loop reading that very array takes the floats (converting
# 10,001 rows back cost ~10% of a gradient call); the array is read-only, so the
# two cannot differ
_last_history: tuple = (None, None)


def _kept(rows):
    global _last_history
    arr = np.array(rows, dtype=np.float64)
    arr.flags.writeable = False
    _last_history = (arr, rows)
    return arr


def _one_slice(items, size) -> bool:
    if len(items) != 1 or items[0][0] != "slice" or items[0][3] is not None:
        return False
    _, lo, hi, _ = items[0]
    return type(lo) is int and type(hi) is int and 0 <= lo <= hi <= size


def split(x, shapes):
    x = np.asarray(x)
    if len(shapes) == 1:
        return [x]
    out, at = [], 0
    for s, size in zip(shapes, sizes(shapes)):
        out.append(x[at:at + size].reshape(s))
        at += size
    return out


def _join(xs):
    return xs[0] if len(xs) == 1 else np.concatenate([np.ravel(x) for x in xs])


def _scalar_loop(compiled, body, x0, caps, n, start, step, history):
    """All-scalar bodies run on Python floats, as the static scalar plan does (a
    reverse loop's `take` of one row of the history included)."""
    size, consts, steps, columns = compiled
    fv = [None] * size
    for i, v in consts:
        fv[i] = v
    kept_array, kept_rows = _last_history
    for c, v in zip(body.captures, caps):
        if c is not None:
            if v is kept_array:
                fv[c] = kept_rows
                continue
            v = np.asarray(v)
            fv[c] = float(v) if v.ndim == 0 else v.tolist() if v.ndim == 1 else v
    for c, col, slot in columns:
        fv[slot] = fv[c][:, col].tolist()
    xs = [float(v) for v in np.ravel(x0)]
    xslots = [-1 if c is None else c for c in body.carries]
    islot = -1 if body.index is None else body.index
    outs = body.outs
    if n >= loop_compile.MIN_ITERATIONS:
        got = loop_compile.run(body, compiled, xs, [None if c is None else fv[c] for c in
                                                    body.captures] + [fv[s] for *_, s in columns],
                               n, start, step, history)
        if got is not None:
            if history:  # one carry: rows of floats, a vector; several: a row each
                return _kept(got) if len(outs) == 1 else np.array(got, dtype=np.float64)
            return np.float64(got[0]) if len(outs) == 1 else np.array(got, dtype=np.float64)
    rows = [list(xs)] if history else None
    if len(outs) == 1:  # one carried scalar: the tightest loop Python allows
        return _one_scalar(fv, steps, xs[0], xslots[0], islot, outs[0], n, start, step, history)
    try:
        for k in range(n):
            if islot >= 0:
                fv[islot] = start + k * step
            for s, v in zip(xslots, xs):
                if s >= 0:
                    fv[s] = v
            run_scalar_steps(steps, fv)
            xs = [fv[o] for o in outs]
            if history:
                rows.append(xs)
    except (OverflowError, ValueError, ZeroDivisionError):
        return None  # NumPy's inf/nan semantics: the NumPy way
    if history:
        arr = np.array(rows, dtype=np.float64)
        return arr[:, 0] if len(outs) == 1 else arr
    return np.float64(xs[0]) if len(outs) == 1 else np.array(xs, dtype=np.float64)


# ------------------------------------------------------------------ derivative
def _loop_vjp(g, out, x0, *caps, body, n, start, step, history=False):
    """The reverse loop: from the last step back to the first, one VJP of the
    body a step, on the forward carries the history holds."""
    graph = g.g
    attrs = {"body": body, "n": n, "start": start, "step": step}
    hist = out.id if history else graph.add("loop", [x0.id] + [c.id for c in caps],
                                            {**attrs, "history": True})
    body.twin = True
    return reverse(g, x0, caps, body, hist, n, start, step, history)


def row_captures(body, caps, n) -> dict:
    """{capture position: [body take nodes]} for the captures a body reads only one
    row at a time (`take(c, i)`, i a scalar) and that hold about a row per step or
    more: what a reverse loop reads of the forward history and of its cotangent."""
    g = body.graph
    need = g.needed(body.outs)
    where = {c: j for j, c in enumerate(body.captures) if c is not None}
    out = {j: [] for j in where.values() if caps[j].shape and (
        caps[j].shape[0] is None or (n is not None and caps[j].shape[0] >= n))}
    for nd in g.nodes:
        if not need[nd.id] or nd.op.name == "dim_of":
            continue
        for slot, i in enumerate(nd.inputs):
            j = where.get(i)
            if j in out:
                if nd.op.name == "take" and slot == 0 and g.nodes[nd.inputs[1]].shape == ():
                    out[j].append(nd.id)
                else:
                    del out[j]
    return out


def reverse(g, x0, caps, body, hist, n, start, step, history):
    """The cotangents of a loop's inputs (x0, captures) from g, the cotangent of its
    value (of every carry, `history`), by a reverse loop over the history `hist`.
    n None: a while loop's, whose trip count the history tells when it runs.

    A capture the body reads one row a step (`row_captures`: the history, when the
    loop is itself a reverse loop differentiated again) gets its cotangent one row
    a step too: the reverse loop carries the row's cotangent and index and keeps
    their history, and a scatter-add of the rows makes the capture's cotangent —
    not a capture-sized sum carried through every step (n² work, and of a size
    known only when a while has run)."""
    from .autodiff import backward
    from .errors import CgraphError

    graph = g.g
    shapes = body.shapes
    by_row = row_captures(body, caps, n)
    cap_shapes = [tuple(c.shape) for c in caps]
    if any(j not in by_row and None in s for j, s in enumerate(cap_shapes)):
        raise CgraphError("this derivative through a while loop needs eager mode (a static "
                          "graph cannot carry a value whose size the loop decides)",
                          kind="value", hint="run it with --mode eager")
    # the reverse body: carries ∂x (one per carried value) and Σ∂c (one per capture
    # not read by rows), then per take of a row capture that row's cotangent and index
    rb = Graph(dtype=graph.float_dtype.name, max_bytes=graph.max_bytes)
    k = rb.leaf("#k", "input", shape=())
    gxs = [rb.leaf(f"#gx{j}", "input", shape=s) for j, s in enumerate(shapes)]
    summed = [j for j in range(len(caps)) if j not in by_row]
    gcs = [rb.leaf(f"#gc{j}", "input", shape=cap_shapes[j]) for j in summed]
    takes = [(j, t) for j in sorted(by_row) for t in by_row[j]]
    row_shapes = [cap_shapes[j][1:] for j, _ in takes]
    rows_in = [rb.leaf(f"#gr{m}", "input", shape=s) for m, s in enumerate(row_shapes)]
    idx_in = [rb.leaf(f"#gi{m}", "input", shape=()) for m in range(len(takes))]
    rows = None if n is None else n + 1
    h = rb.leaf("#h", "input", shape=(rows, sum(sizes(shapes))) if len(shapes) > 1
                else (rows,) + shapes[0])
    cs = [rb.leaf(f"#c{j}", "input", shape=s) for j, s in enumerate(cap_shapes)]
    gh = rb.leaf("#gh", "input", shape=tuple(g.shape)) if history else None
    xk = unpack(rb, rb.add("take", (h, k)), shapes)
    if body.index is None:
        ik = None
    else:  # the forward index of step k (a dynamic start: the history's rows tell it)
        first = rb.const(float(start)) if start is not None else rb.add(
            "sub", (rb.add("dim_of", (h,), {"axis": 0}), rb.const(2.0)))
        ik = rb.add("add", (first, rb.add("mul", (k, rb.const(float(step))))))
    where: dict = {}
    ys = inline(rb, body, ik, xk, cs, where)
    copies = [where[t] for _, t in takes]
    y = pack(rb, ys, shapes)
    seed = pack(rb, gxs, shapes)
    grads = backward(rb, y, xk + cs + copies, seed=seed)
    new_gx = [grads[x] for x in xk]
    if history:  # every carry of the history was an output: its cotangent joins here
        row = unpack(rb, rb.add("take", (gh, k)), shapes)
        new_gx = [rb.add("add", (a, b)) for a, b in zip(new_gx, row)]
    new_gc = [rb.add("add", (a, grads[cs[j]])) for a, j in zip(gcs, summed)]
    new_rows = [grads[t] for t in copies]
    new_idx = [rb.add("mul", (rb.nodes[t].inputs[1], rb.const(1.0))) for t in copies]
    rbody = Body(rb, k, gxs + gcs + rows_in + idx_in, [h] + cs + ([gh] if history else []),
                 new_gx + new_gc + new_rows + new_idx).optimised()
    # in the outer graph: seed the carries, run the reverse loop, split the result
    last = graph.add("take", (g.id, graph.const(float(n) if n is not None else -1.0))) \
        if history else g.id
    zeros = lambda s: graph.const(np.zeros(s, graph.float_dtype))  # noqa: E731
    init = unpack(graph, last, shapes) + [graph.add("zeros_like", (caps[j].id,)) for j in summed] \
        + [zeros(s) for s in row_shapes] + [zeros(()) for _ in takes]
    all_shapes = shapes + [cap_shapes[j] for j in summed] + row_shapes + [()] * len(takes)
    rev = graph.add("loop", [pack(graph, init, all_shapes), hist] + [c.id for c in caps]
                    + ([g.id] if history else []),
                    {"body": rbody, "n": n, "start": None if n is None else float(n - 1),
                     "step": -1.0, "history": bool(takes)})
    parts = unpack(graph, graph.add("take", (rev, graph.const(-1.0))) if takes else rev,
                   all_shapes)
    gcap = dict(zip(summed, parts[len(shapes):len(shapes) + len(summed)]))
    offsets = np.cumsum([0] + sizes(all_shapes)).tolist()
    first_row = len(shapes) + len(summed)
    for m, (j, _) in enumerate(takes):
        # rows 1… of the history: each step's row cotangent and the row it was read at
        a, b = offsets[first_row + m], offsets[first_row + m + 1]
        i = offsets[first_row + len(takes) + m]
        got = graph.add("index", (rev,), {"items": (("slice", 1, None, None), ("slice", a, b, None))})
        got = graph.add("reshape", (got,), {"shape": [-1] + list(row_shapes[m])})
        at = graph.add("index", (rev,), {"items": (("slice", 1, None, None), ("int", i))})
        part = graph.add("scatter_add_like", (got, at, caps[j].id))
        gcap[j] = part if j not in gcap else graph.add("add", (gcap[j], part))
    gx0 = pack(graph, parts[:len(shapes)], shapes)
    return (Sym(graph, gx0),) + tuple(Sym(graph, gcap[j]) for j in range(len(caps)))


def run_while(x0, *caps, body, cond, limit, history=False):
    """The while node's forward: the body's steps from x0 while cond holds."""
    from .errors import CgraphError

    shapes = body.shapes
    dtype = np.asarray(x0).dtype
    xs = split(x0, shapes)
    tplan, plan = cond.plan(), body.plan()
    _, xnames, cnames = body.names()
    feed = {c: v for c, v in zip(cnames, caps) if c is not None}
    rows = [_join(xs)] if history else None
    k = 0
    while True:
        for name, v in zip(xnames, xs):
            if name is not None:
                feed[name] = v
        if not np.all(tplan.run(feed)[cond.outs[0]]):
            break
        k += 1
        if k > limit:
            raise CgraphError(f"the while loop did not end after {limit:,} iterations",
                              kind="runtime",
                              hint="check its condition, or raise the limit (--max-iterations; "
                                   "max_iterations= in Python)")
        vals = plan.run(feed)
        xs = [np.array(vals[o], dtype=dtype) for o in body.outs]
        if history:
            rows.append(_join(xs))
    return np.stack(rows) if history else _join(xs)


def _while_vjp(g, out, x0, *caps, body, cond, limit, history=False):
    graph = g.g
    hist = out.id if history else graph.add("while", [x0.id] + [c.id for c in caps],
                                            {"body": body, "cond": cond, "limit": limit,
                                             "history": True})
    body.twin = True
    return reverse(g, x0, caps, body, hist, None, 0.0, 1.0, history)


def _while_shape(shapes, body=None, cond=None, limit=0, history=False):
    x = tuple(shapes[0]) if shapes[0] is not None else None
    if x is None:
        return None
    return (None,) + x if history else x


def _loop_shape(shapes, body=None, n=0, start=0.0, step=1.0, history=False):
    x = tuple(shapes[0]) if shapes[0] is not None else None
    if x is None:
        return None
    return ((None if n is None else n + 1),) + x if history else x


def _test_body(history: bool) -> list:
    """The generated derivative tests' cases: x ← x·tanh(c)·0.7 + sin(x + 0.1·i)·0.2."""
    bg = Graph()
    i = bg.leaf("#i", "input", shape=())
    x = bg.leaf("#x0", "input", shape=(2,))
    c = bg.leaf("#c0", "input", shape=(2,))
    t = bg.add("tanh", [c])
    a = bg.add("mul", [bg.add("mul", [x, t]), bg.const(0.7)])
    s = bg.add("sin", [bg.add("add", [x, bg.add("mul", [i, bg.const(0.1)])])])
    out = bg.add("add", [a, bg.add("mul", [s, bg.const(0.2)])])
    body = Body(bg, i, [x], [c], [out])
    return [{"shapes": [(2,), (2,)], "attrs": {"body": body, "n": 5, "start": 0.0, "step": 1.0,
                                              "history": history}}]


def _test_while() -> list:
    """x ← x·0.5 + sin(c·x)·0.01 while x > 0.2 (it ends: the steps shrink x below 0.2)."""
    bg = Graph()
    x = bg.leaf("#x0", "input", shape=())
    c = bg.leaf("#c0", "input", shape=())
    wobble = bg.add("mul", [bg.add("sin", [bg.add("mul", [c, x])]), bg.const(0.01)])
    out = bg.add("add", [bg.add("mul", [x, bg.const(0.5)]), wobble])
    test = bg.add("gt", [x, bg.const(0.2)])
    body, cond = Body(bg, None, [x], [c], [out]), Body(bg, None, [x], [c], [test])
    body.shared = cond.shared = True
    return [{"shapes": [(), ()], "attrs": {"body": body, "cond": cond, "limit": 1000}}]


def _batch_loop(b, node, args):
    """Batch runs: one loop over every row, its body batched (cgraph.batch.loop_rule)."""
    from .batch.loop_rule import batch_loop

    return batch_loop(b, node, args)


defop("loop", sig="x, captures:tensors, body:any, n:int, start:float, step:float, "
      "history:bool=false",
      forward=remembered(run_loop), shape=_loop_shape, vjp=_loop_vjp, batch=_batch_loop,
      doc="n steps of a body sub-graph from x (a static for loop: one node, not n copies)",
      deriv="a reverse loop of the body's VJP over the forward carries",
      family="internal", symbol="loop", dtype="same", foldable=True,
      test={"cases": _test_body(False) + _test_body(True)})

defop("while", sig="x, captures:tensors, body:any, cond:any, limit:int, history:bool=false",
      forward=remembered(run_while), shape=_while_shape, vjp=_while_vjp,
      doc="the steps of a body sub-graph from x while a condition sub-graph holds (a static "
          "while loop: one node)",
      deriv="a reverse loop of the body's VJP over the forward carries, as many steps as ran",
      family="internal", symbol="while", dtype="same", foldable=True, partial_shapes=True,
      test={"cases": _test_while()})

