"""`run_rows`: one program over the rows of a table, vectorised.

The program is written for one row: each column of the table is a scalar
leaf (an `input`, a `param` or a top-level binding), other values (`shared`)
are given once for all rows. `run_rows` builds the single-row graph (with
its backward part for `grad=True`) through `cgraph.pipeline`, batches it
with `cgraph.batch.vectorize` (every node that depends on a row gets a
leading row axis; nothing loops over rows in Python) and runs it in chunks
of rows sized to stay in cache. Gradients with respect to a column are per
row; the gradient with respect to a shared leaf is summed over the rows (the
gradient of Σ_r Y_r) and is reported separately
(`BatchResult.shared_gradients`). A program in eager mode runs row by row
(its control flow may depend on the data). When a chunk fails (an assert, a
bad index), its rows are rerun one by one to name the first failing row.
"""
from __future__ import annotations

import weakref
from typing import Mapping, Optional, Sequence

import numpy as np

from ..errors import CgraphError
from .readers import as_table
from .table import BatchResult, Table

#: elements per batched value a chunk of rows aims for (128 KiB of float64: stays in
#: cache, and below malloc's mmap threshold, so buffers are reused, not page-faulted) and
#: the most a chunk may hold (memory); chunks never have fewer rows than MIN_CHUNK_ROWS
CHUNK_ELEMENTS = 1 << 14
MAX_CHUNK_ELEMENTS = 1 << 25
MIN_CHUNK_ROWS = 1024


def run_rows(program, table, shared: Optional[Mapping] = None, grad: bool = False,
             of: Optional[str] = None, wrt: Optional[Sequence[str]] = None,
             all_names: bool = False, chunk_rows: Optional[int] = None) -> BatchResult:
    """Run `program` once per row of `table` (a `Table`, a dict of equal-length
    1-D arrays, or a CSV path), vectorised; `shared` values are the same for
    every row. `all_names` (eval only) reports every named value as an output.
    Raises `CgraphError` for every user mistake (naming the row when one row
    fails)."""
    t = as_table(table)
    shared = dict(shared or {})
    names = list(t.values)
    for name in names:
        if name in shared:
            raise CgraphError(f"'{name}' is given both as a column of the table and as a value",
                              kind="name", hint="give it once: a column (one value per row) "
                              "or NAME=VALUE (the same for every row)")
    feed_rows = program.feed({k: np.asarray(v) for k, v in t.values.items()})
    n = None
    for name, arr in feed_rows.items():
        if arr.ndim < 1:
            raise CgraphError(f"column '{name}' must have one value per row, got a single "
                              f"number", kind="value")
        if n is None:
            n = arr.shape[0]
        elif arr.shape[0] != n:
            raise CgraphError(f"column '{name}' has {arr.shape[0]} rows, the others {n}",
                              kind="value")
    if not n:
        raise CgraphError("the table has no rows" if names else "the table has no columns",
                          kind="value", hint="give at least one row of values under the header")
    feed_shared = program.feed(shared)
    feed_rows = {k: np.ascontiguousarray(v) for k, v in feed_rows.items()}
    if program.mode == "eager":
        return _run_rows_eagerly(program, t, feed_rows, feed_shared, n, grad, of, wrt, all_names)
    return _run_rows_static(program, t, feed_rows, feed_shared, n, grad, of, wrt, all_names,
                            chunk_rows)


# ------------------------------------------------------------- static runs
class _Compiled:
    """A batched plan for one chunk size, and which target is which."""

    def __init__(self, plan, entries, looped, output):
        self.plan, self.entries, self.looped, self.output = plan, entries, looped, output


def _single_row_graph(program, rows, feed_shared, grad, of, wrt, all_names):
    """The program built for one row (columns are scalars), checked and differentiated:
    the pipeline's front, before the batching transformation."""
    from .. import pipeline
    from ..shape_math import fmt

    shapes = dict(rows)
    shapes.update({k: v.shape for k, v in feed_shared.items()})
    c = pipeline.front(program, shapes=shapes, given=dict.fromkeys(shapes), of=of, grad=grad,
                       wrt=wrt)
    g = c.graph
    for name, shape in rows.items():
        node = g.nodes[g.leaves[name]]
        if node.shape != tuple(shape):
            what = "one number" if shape == () else f"a value of shape {fmt(shape)}"
            raise CgraphError(f"column '{name}' gives {what} per row, but '{name}' has shape "
                              f"{fmt(node.shape)}", kind="shape", span=node.span,
                              hint="a table's columns are scalar leaves; give tensors as "
                                   "NAME=VALUE (shared by every row)").with_source(program.file,
                                                                                   program.source)
    outputs = dict(c.outputs)
    if all_names and not grad:  # every named value (but the columns themselves)
        outputs = {**{k: v for k, v in c.names.items() if k not in rows}, **outputs}
    return c, outputs


def _compile(program, rows, feed_shared, n, grad, of, wrt, all_names) -> _Compiled:
    from .. import pipeline
    from .vectorize import Batcher, shared_total

    c, outputs = _single_row_graph(program, rows, feed_shared, grad, of, wrt, all_names)
    targets = list(outputs.values()) + [gr.node for gr in c.leaves.values()]
    b = Batcher(c.graph, rows, n)
    new = b.run(targets)
    gb, bat = b.gb, b.batched
    entries = []
    for name, i in outputs.items():
        entries.append(("output", name, new[i], bat[i], True))
    for leaf, gr in c.leaves.items():
        if leaf in rows:
            entries.append(("grad", leaf, new[gr.node], bat[gr.node], gr.connected))
        else:
            entries.append(("shared", leaf, shared_total(gb, new[gr.node], bat[gr.node], n), False,
                            gr.connected))
    # the batched graph goes through the rest of the pipeline: optimise, plan
    batched = pipeline.Compiled(graph=gb, extra=[e[2] for e in entries])
    if program.optimize:
        batched = pipeline.optimise(batched)
    batched = pipeline.make_plan(batched)
    entries = [(k, name, i, flag, conn) for (k, name, _, flag, conn), i in zip(entries, batched.extra)]
    return _Compiled(batched.plan, entries, sorted(set(b.looped)), c.output if grad else None)


_PLANS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # program -> {key: _Compiled}


def _compiled(program, rows, feed_shared, n, grad, of, wrt, all_names) -> _Compiled:
    """The batched plan for these rows, shared values and chunk size (cached per program)."""
    key = (tuple(rows.items()),
           tuple((k, v.shape, v.dtype.str) for k, v in sorted(feed_shared.items())), n, grad, of, tuple(wrt) if wrt is not None else None, all_names)
    cache = _PLANS.setdefault(program, {})
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = _compile(program, rows, feed_shared, n, grad, of, wrt, all_names)
        while len(cache) > 6:
            cache.pop(next(iter(cache)))
    return hit


def _chunk_size(program, rows, feed_shared, n, grad, of, wrt, all_names) -> int:
    """Rows per chunk: the largest batched value near CHUNK_ELEMENTS elements."""
    probe = _compiled(program, rows, feed_shared, 1, grad, of, wrt, all_names)
    g = probe.plan.graph
    per_row = hot = 1
    for node in g.nodes:
        s = node.shape
        if s and s[0] == 1 and all(d is not None for d in s):
            size = int(np.prod(s[1:], dtype=np.int64))
            per_row = max(per_row, size)
            # a loop's history is written a step at a time, not worked on whole: the
            # chunk is sized by what a step touches (fewer chunks: fewer loop runs)
            if node.op.name != "loop" and not (node.op.name == "transpose" and
                                               g.nodes[node.inputs[0]].op.name == "loop"):
                hot = max(hot, size)
    size = max(MIN_CHUNK_ROWS, CHUNK_ELEMENTS // hot)
    size = min(size, max(1, MAX_CHUNK_ELEMENTS // per_row))
    if size >= n:
        return n
    k = -(-n // size)                     # as many chunks as needed, of even size
    return -(-n // k)


def _run_rows_static(program, t, feed_rows, feed_shared, n, grad, of, wrt, all_names,
                     chunk_rows) -> BatchResult:
    rows = {k: v.shape[1:] for k, v in feed_rows.items()}  # name -> the shape of one row
    size = int(chunk_rows) if chunk_rows else _chunk_size(program, rows, feed_shared, n, grad, of,
                                                          wrt, all_names)
    size = max(1, min(size, n))
    result = None
    for start in range(0, n, size):
        stop = min(n, start + size)
        comp = _compiled(program, rows, feed_shared, stop - start, grad, of, wrt, all_names)
        feed = dict(feed_shared)
        for k, v in feed_rows.items():
            feed[k] = v[start:stop]
        try:
            values = comp.plan.run(feed)
        except CgraphError as exc:
            raise _locate(program, t, feed_rows, feed_shared, start, stop, grad, of, wrt, exc) \
                from None
        if result is None:
            result = _empty_result(comp, values, t, feed_rows, n)
        for kind, name, i, batched, conn in comp.entries:
            v = np.asarray(values[i])
            if kind == "shared":
                result.shared_gradients[name] = result.shared_gradients[name] + v
                continue
            dest = result.outputs[name] if kind == "output" else result.gradients[name]
            dest[start:stop] = v if batched else np.broadcast_to(v, (stop - start,) + v.shape)
    return result


def _empty_result(comp, values, t, feed_rows, n) -> BatchResult:
    r = BatchResult(rows=n, columns=list(t.columns), inputs=feed_rows, outputs={},
                    output=comp.output, looped=list(comp.looped))
    for kind, name, i, batched, conn in comp.entries:
        v = np.asarray(values[i])
        shape = v.shape[1:] if batched else v.shape
        if kind == "shared":
            r.shared_gradients[name] = np.zeros(shape, v.dtype)
            r.connected[name] = conn
        elif kind == "output":
            r.outputs[name] = np.empty((n,) + shape, v.dtype)
        else:
            r.gradients[name] = np.empty((n,) + shape, v.dtype)
            r.connected[name] = conn
    return r


def _locate(program, t, feed_rows, feed_shared, start, stop, grad, of, wrt, exc) -> CgraphError:
    """The first row of [start, stop) that fails on its own, named in the error."""
    for r in range(start, stop):
        feed = dict(feed_shared)
        feed.update({k: v[r] for k, v in feed_rows.items()})
        try:
            program.run(feed, grad=grad, of=of, wrt=wrt)
        except CgraphError as row_exc:
            return _with_row(row_exc, t, r)
    return exc


def _with_row(exc: CgraphError, t: Table, r: int) -> CgraphError:
    where = f"row {t.row_number(r)}" + (f" of {t.path}" if t.path else "")
    errors = [d.replace(message=f"{where}: {d.message}") for d in exc.errors]
    err = CgraphError(errors)
    err.row_index = r  # which row of the table (--skip-bad-rows leaves it out)
    return err


# -------------------------------------------------------------- eager runs
def _run_rows_eagerly(program, t, feed_rows, feed_shared, n, grad, of, wrt, all_names):
    """Eager programs may branch on data: one run per row, stacked."""
    result = None
    for r in range(n):
        feed = dict(feed_shared)
        feed.update({k: v[r] for k, v in feed_rows.items()})
        try:
            res = program.run(feed, grad=grad, of=of, wrt=wrt, all_names=all_names and not grad)
        except CgraphError as exc:
            raise _with_row(exc, t, r) from None
        outs = res.named() if (all_names and not grad) else {}
        outs.update(res.outputs)
        if result is None:
            result = BatchResult(rows=n, columns=list(t.columns), inputs=feed_rows, outputs={},
                                 output=res.output if grad else None)
            for name, v in outs.items():
                result.outputs[name] = np.empty((n,) + np.shape(v), np.asarray(v).dtype)
            for leaf, gv in res.gradients.items():
                result.connected[leaf] = res.connected.get(leaf, True)
                if leaf in feed_rows:
                    result.gradients[leaf] = np.empty((n,) + np.shape(gv), np.asarray(gv).dtype)
                else:
                    result.shared_gradients[leaf] = np.zeros(np.shape(gv), np.asarray(gv).dtype)
        for name, v in outs.items():
            if name in result.outputs:
                result.outputs[name][r] = v
        for leaf, gv in res.gradients.items():
            if leaf in result.gradients:
                result.gradients[leaf][r] = gv
            else:
                result.shared_gradients[leaf] = result.shared_gradients[leaf] + gv
    return result

