"""Scripted batch runs: one program over the rows of a table, and many programs.

One program, many rows (`cgraph eval|grad PROGRAM --inputs rows.csv`):

    table = read_table("rows.csv")                  # Table: columns, values, first_row
    result = run_rows(program, table, shared={"W": W}, grad=True)
    write_results(result, "results.csv")           # or .jsonl, .npz (atomically)

The program is written for one row: each column of the table is a scalar
leaf (an `input`, a `param` or a top-level binding), other values (`shared`)
are given once for all rows. `run_rows` builds the single-row graph (with
its backward part for `grad=True`), batches it with `cgraph.batching` (every
node that depends on a row gets a leading row axis; nothing loops over rows
in Python) and runs it in chunks of rows sized to stay in cache. Gradients
with respect to a column are per row; the gradient with respect to a shared
leaf is summed over the rows (the gradient of Σ_r Y_r) and is reported
separately (`BatchResult.shared_gradients`). A program in eager mode runs
row by row (its control flow may depend on the data). When a chunk fails
(an assert, a bad index), its rows are rerun one by one to name the first
failing row.

Many programs (`cgraph batch FILE... | -`): `run_programs(tasks, values,
jobs=, timeout=)` runs each program isolated, in this process or in worker
processes (`jobs > 1` or a `timeout`: a worker that runs past the timeout is
killed and replaced), and returns one result dict per program, in order.

Output files are written atomically (`cgraph.atomic.atomic_open`): to a temporary file in
the target's directory, then `os.replace`d over it, so an interrupted run
leaves the previous file as it was and no temporary file behind.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from .atomic import atomic_open
from .numfmt import fmt_float
from .errors import CgraphError, Diagnostic

#: elements per batched value a chunk of rows aims for (128 KiB of float64: stays in
#: cache, and below malloc's mmap threshold, so buffers are reused, not page-faulted) and
#: the most a chunk may hold (memory); chunks never have fewer rows than MIN_CHUNK_ROWS
CHUNK_ELEMENTS = 1 << 14
MAX_CHUNK_ELEMENTS = 1 << 25
MIN_CHUNK_ROWS = 1024
#: rows formatted at a time when writing files
WRITE_ROWS = 1 << 16
SUFFIXES = (".csv", ".jsonl", ".npz")


# ==================================================================== tables
@dataclass
class Table:
    """The columns of a CSV file: names, one 1-D float64 array each, and the
    spreadsheet row number of the first data row (2 under a header)."""

    columns: list
    values: dict
    first_row: int = 2
    path: Optional[str] = None

    @property
    def rows(self) -> int:
        return len(next(iter(self.values.values()))) if self.values else 0


def read_table(path) -> Table:
    """A CSV file whose header names the columns. Raises `datafiles.DataFileError`
    (a ValueError) naming the row and column of a bad cell or a ragged row."""
    from .datafiles import DataFileError, read_csv_table

    path = os.fspath(path)
    header, values = read_csv_table(path)
    if header is None:
        raise DataFileError(f"{path} has no header row: the first row must name the columns",
                            hint="e.g. a,b,c — one input of the program per column")
    seen = set()
    for j, name in enumerate(header):
        if not name:
            raise DataFileError(f"{path}: row 1, column {j + 1}: the column has no name",
                                hint="the header names one input per column")
        if name in seen:
            raise DataFileError(f"{path}: row 1, column {j + 1}: the column '{name}' appears twice")
        seen.add(name)
    cols = np.ascontiguousarray(values.T)  # one contiguous row of memory per column
    return Table(list(header), {name: cols[j] for j, name in enumerate(header)}, 2, path)


# ==================================================================== results
@dataclass
class BatchResult:
    """What a run over rows produced; arrays have the rows first."""

    rows: int
    columns: list                                   # the input columns, in order
    inputs: dict                                    # column -> (rows,) array
    outputs: dict                                   # output name -> (rows, ...) array
    output: Optional[str] = None                    # the differentiated output (grad)
    gradients: dict = field(default_factory=dict)   # column leaf -> (rows, ...) array
    shared_gradients: dict = field(default_factory=dict)  # shared leaf -> Σ over rows
    connected: dict = field(default_factory=dict)   # leaf -> does the output depend on it
    looped: list = field(default_factory=list)      # ops that ran once per row

    @property
    def grad(self) -> bool:
        return self.output is not None

    def gradient_name(self, leaf: str) -> str:
        return f"d{self.output}/d{leaf}"

    def columns_out(self, input_columns: Optional[Sequence[str]] = None) -> list:
        """(name, (rows, ...) array) in file order: the inputs, the outputs, then
        the per-row gradients named dY/da."""
        cols = [(c, self.inputs[c]) for c in (self.columns if input_columns is None else input_columns)]
        cols += list(self.outputs.items())
        cols += [(self.gradient_name(n), g) for n, g in self.gradients.items()]
        return cols


def _as_table(table) -> Table:
    if isinstance(table, Table):
        return table
    if isinstance(table, (str, os.PathLike)):
        from .datafiles import DataFileError

        try:
            return read_table(table)
        except DataFileError as exc:
            raise CgraphError(exc.message, kind="value", hint=exc.hint) from None
    values = {str(k): v for k, v in dict(table).items()}
    return Table(list(values), values, 1)


def run_rows(program, table, shared: Optional[Mapping] = None, grad: bool = False,
             of: Optional[str] = None, wrt: Optional[Sequence[str]] = None,
             all_names: bool = False, chunk_rows: Optional[int] = None) -> BatchResult:
    """Run `program` once per row of `table` (a `Table`, a dict of equal-length
    1-D arrays, or a CSV path), vectorised; `shared` values are the same for
    every row. `all_names` (eval only) reports every named value as an output.
    Raises `CgraphError` for every user mistake (naming the row when one row
    fails)."""
    t = _as_table(table)
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
        if arr.ndim != 1:
            raise CgraphError(f"column '{name}' must be 1-D (one value per row), got shape "
                              f"{list(arr.shape)}", kind="value")
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
    from . import pipeline
    from .shapes import fmt

    shapes = {name: () for name in rows}
    shapes.update({k: v.shape for k, v in feed_shared.items()})
    c = pipeline.front(program, shapes=shapes, given=dict.fromkeys(shapes), of=of, grad=grad,
                       wrt=wrt)
    g = c.graph
    for name in rows:
        node = g.nodes[g.leaves[name]]
        if node.shape != ():
            raise CgraphError(f"column '{name}' gives one number per row, but '{name}' has shape "
                              f"{fmt(node.shape)}", kind="shape", span=node.span,
                              hint="a table's columns are scalar leaves; give tensors as "
                                   "NAME=VALUE (shared by every row)").with_source(program.file,
                                                                                   program.source)
    outputs = dict(c.outputs)
    if all_names and not grad:  # every named value (but the columns themselves)
        outputs = {**{k: v for k, v in c.names.items() if k not in rows}, **outputs}
    return c, outputs


def _compile(program, rows, feed_shared, n, grad, of, wrt, all_names) -> _Compiled:
    from . import pipeline
    from .batching import Batcher, shared_total

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
    key = (tuple(rows), tuple((k, v.shape, v.dtype.str) for k, v in sorted(feed_shared.items())),
           n, grad, of, tuple(wrt) if wrt is not None else None, all_names)
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
    per_row = 1
    for node in g.nodes:
        s = node.shape
        if s and s[0] == 1 and all(d is not None for d in s):
            per_row = max(per_row, int(np.prod(s[1:], dtype=np.int64)))
    size = max(MIN_CHUNK_ROWS, CHUNK_ELEMENTS // per_row)
    size = min(size, max(1, MAX_CHUNK_ELEMENTS // per_row))
    if size >= n:
        return n
    k = -(-n // size)                     # as many chunks as needed, of even size
    return -(-n // k)


def _run_rows_static(program, t, feed_rows, feed_shared, n, grad, of, wrt, all_names,
                     chunk_rows) -> BatchResult:
    rows = list(feed_rows)
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
    where = f"row {t.first_row + r}" + (f" of {t.path}" if t.path else "")
    errors = [d.replace(message=f"{where}: {d.message}") for d in exc.errors]
    return CgraphError(errors)


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


# ================================================================= writing
def write_results(result: BatchResult, out_path, input_columns: Optional[Sequence[str]] = None) -> None:
    """Write the rows to a .csv, .jsonl or .npz file (by its suffix), atomically.
    Columns: the input columns, the outputs, then the gradients named dY/da.
    A non-scalar value per row takes several CSV columns (`W[0,1]`)."""
    path = os.fspath(out_path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in SUFFIXES:
        raise ValueError(f"cannot write {path}: the file name must end in .csv, .jsonl or .npz")
    cols = result.columns_out(input_columns)
    with atomic_open(path, "wb") as fp:
        if ext == ".csv":
            write_csv(fp, cols, result.rows)
        elif ext == ".jsonl":
            write_jsonl(fp, cols, result.rows)
        else:
            arrays = {name: np.asarray(v) for name, v in cols}
            arrays.update({result.gradient_name(n): np.asarray(g)
                           for n, g in result.shared_gradients.items()})
            np.savez(fp, **arrays)


def csv_columns(cols) -> list:
    """(header, (rows, k) array) per CSV column group: a value of shape s per row
    becomes prod(s) columns named NAME[i,j] (row-major)."""
    out = []
    for name, v in cols:
        v = np.asarray(v)
        n = v.shape[0]
        flat = v.reshape(n, -1)
        if v.ndim == 1:
            out.append(([name], flat))
        else:
            idx = np.ndindex(*v.shape[1:])
            out.append(([f"{name}[{','.join(map(str, i))}]" for i in idx], flat))
    return out


def _csv_cell(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_csv(fp, cols, rows: int, digits: Optional[int] = None) -> None:
    """The CSV text of the columns, to a binary file, in blocks of rows."""
    groups = csv_columns(cols)
    header = [h for names, _ in groups for h in names]
    fp.write((",".join(_csv_cell(h) for h in header) + "\n").encode("utf-8"))
    arrays = [a for _, a in groups]
    for start in range(0, rows, WRITE_ROWS):
        stop = min(rows, start + WRITE_ROWS)
        fp.write(format_rows([a[start:stop] for a in arrays], digits))


def _orjson():
    try:
        import orjson
    except ImportError:  # the optional fast writer (pip install cgraph[fast])
        return None
    return orjson


def format_rows(blocks: list, digits: Optional[int] = None):
    """CSV lines (bytes, or a memoryview of them) of row blocks [(rows, k)
    arrays]: floats in their shortest round-trip form (or `digits` significant
    digits), booleans as true/false, integers as they are."""
    if not blocks or blocks[0].shape[0] == 0:
        return b""
    kinds = {b.dtype.kind for b in blocks}
    oj = _orjson()
    if oj is not None and digits is None and kinds == {"f"}:
        dtype = np.result_type(*blocks)
        mat = np.concatenate([b.astype(dtype, copy=False) for b in blocks], axis=1)
        if dtype in (np.float64, np.float32) and np.isfinite(mat).all():
            # "[x,x,x,x,...]": every k-th comma becomes a line end (no Python per value)
            buf = bytearray(oj.dumps(mat.reshape(-1), option=oj.OPT_SERIALIZE_NUMPY))
            u = np.frombuffer(buf, np.uint8)
            k = mat.shape[1]
            u[np.flatnonzero(u == 44)[k - 1::k]] = 10
            u[-1] = 10
            return memoryview(buf)[1:]
    if digits is None and all(b.dtype == np.float64 for b in blocks):
        mat = np.concatenate(blocks, axis=1)  # one %-format over the block: repr of each float
        line = ",".join(["%r"] * mat.shape[1]) + "\n"
        return ((line * mat.shape[0]) % tuple(mat.reshape(-1).tolist())).encode("ascii")
    cells = []
    for b in blocks:
        for j in range(b.shape[1]):
            cells.append(_cells(b[:, j], digits))
    return ("\n".join(map(",".join, zip(*cells))) + "\n").encode("utf-8")


def _cells(col: np.ndarray, digits: Optional[int] = None) -> list:
    kind = col.dtype.kind
    if kind == "b":
        return ["true" if v else "false" for v in col.tolist()]
    if kind in "iu":
        return [str(v) for v in col.tolist()]
    if digits is not None:
        return [fmt_float(v, digits) for v in col.tolist()]
    if col.dtype == np.float64:
        return list(map(float.__repr__, col.tolist()))
    return [str(v) for v in col.astype(str).tolist()]  # float32: its own shortest form


_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def json_value(v):
    """A value (array or scalar) as JSON-ready data; NaN and infinities as the
    strings "NaN", "Infinity", "-Infinity" (strict JSON has no numbers for them)."""
    arr = np.asarray(v)
    if arr.dtype == np.float32:
        data = arr.astype(str).astype(np.float64).tolist() if arr.size else arr.tolist()
    else:
        data = arr.tolist()
    if arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
        data = _clean(data)
    return data


def _clean(x):
    if isinstance(x, list):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return _NONFINITE["nan" if math.isnan(x) else "inf" if x > 0 else "-inf"]
    return x


def write_jsonl(fp, cols, rows: int) -> None:
    """One JSON object per row: {"a": 1.0, ..., "Y": ..., "dY/da": ...}."""
    names = [name for name, _ in cols]
    arrays = [np.asarray(v) for _, v in cols]
    oj = _orjson()
    for start in range(0, rows, WRITE_ROWS):
        stop = min(rows, start + WRITE_ROWS)
        parts = [json_value(a[start:stop]) for a in arrays]
        if oj is not None:
            lines = [oj.dumps(dict(zip(names, row))) for row in zip(*parts)]
            fp.write(b"\n".join(lines) + b"\n")
        else:
            text = "\n".join(json.dumps(dict(zip(names, row)), ensure_ascii=False, allow_nan=False)
                             for row in zip(*parts))
            fp.write((text + "\n").encode("utf-8"))


def result_json(result: BatchResult, entry: Optional[Callable] = None) -> dict:
    """{"rows": N, "outputs": {NAME: {"value": [...], "shape": [N, ...]}}}, with
    "output" and "gradients" (per row) for a gradient run, and
    "shared_gradients" (summed over rows) when shared leaves have gradients."""
    entry = entry or (lambda v: {"value": json_value(v), "shape": list(np.shape(v))})
    doc: dict = {"rows": result.rows}
    if result.grad:
        doc["output"] = result.output
    doc["outputs"] = {n: entry(v) for n, v in result.outputs.items()}
    if result.grad:
        doc["gradients"] = {n: entry(g) for n, g in result.gradients.items()}
        if result.shared_gradients:
            doc["shared_gradients"] = {n: entry(g) for n, g in result.shared_gradients.items()}
    return doc


def table_rows(result: BatchResult, input_columns: Optional[Sequence[str]] = None,
               show: Optional[Callable] = None, limit: Optional[int] = None):
    """(headers, rows) for a table on a terminal: one row per input row, each
    cell a string (`show(value)`; default: repr of the number), at most `limit` rows."""
    show = show or (lambda v: repr(v.item()) if v.ndim == 0 else json.dumps(json_value(v)))
    cols = result.columns_out(input_columns)
    headers = [name for name, _ in cols]
    n = result.rows if limit is None else min(limit, result.rows)
    rows = [[show(np.asarray(v)[r]) for _, v in cols] for r in range(n)]
    return headers, rows


# ============================================================ many programs
@dataclass
class Task:
    """One program of a `cgraph batch` run: where it came from and its text
    (or the error met while reading it)."""

    source: str                       # what results show: the path, or the program text
    text: Optional[str] = None
    file: str = "<expr>"
    error: Optional[dict] = None      # a read error, already as a result's "error"


def run_one(task: Task, values: Optional[dict] = None, config: Optional[dict] = None) -> dict:
    """Run one program; its result dict (never raises for the program's own errors).

    {"source", "outputs": {name: array}} for eval; {"source", "output", "value",
    "gradients", "connected"} for grad; {"source", "error": {kind, message,
    line, column, ...}, "diagnostics": [...]} when it fails. "used" lists the
    given values the program took (values it has no leaf for are left out)."""
    from .program import Program

    config = dict(config or {})
    out: dict = {"source": task.source}
    if task.error is not None:
        out["error"] = task.error
        return out
    try:
        program = Program(task.text, task.file, mode=config.get("mode", "static"),
                          dtype=config.get("dtype", "float64"), seed=config.get("seed", 0),
                          max_iterations=config.get("max_iterations", 100_000))
        given = dict(values or {})
        if given:  # each program takes the values it has leaves for
            try:
                leaves = set(program.check().leaves)
            except CgraphError:
                leaves = set(given)  # let the run report what is wrong
            given = {k: v for k, v in given.items() if k in leaves}
        out["used"] = sorted(given)
        if config.get("grad"):
            r = program.run(given, grad=True, of=config.get("of"), wrt=config.get("wrt"))
            out.update(output=r.output, value=r.outputs[r.output], gradients=dict(r.gradients),
                       connected=dict(r.connected))
        else:
            r = program.run(given)
            out["outputs"] = dict(r.outputs)
    except CgraphError as exc:
        exc = exc.with_source(task.file, task.text or "")
        out["error"] = error_entry(exc.errors[0])
        out["diagnostics"] = list(exc.errors)
        out.pop("used", None)
    except RecursionError:
        out["error"] = {"kind": "runtime", "message": "the program nests too deeply to run",
                        "line": None, "column": None}
    except MemoryError:
        out["error"] = {"kind": "runtime", "message": "out of memory", "line": None, "column": None}
    except Exception as exc:  # an internal error: reported in this program's result only
        out["error"] = {"kind": "internal", "message": f"internal error: {type(exc).__name__}: {exc}",
                        "line": None, "column": None}
    return out


def error_entry(d: Diagnostic) -> dict:
    e = d.to_json()
    e.setdefault("line", None)
    e.setdefault("column", None)
    return e


def run_programs(tasks: Sequence[Task], values: Optional[dict] = None, config: Optional[dict] = None,
                 jobs: int = 1, timeout: Optional[float] = None,
                 on_done: Optional[Callable[[int, dict], None]] = None) -> list:
    """Run every task; one result dict each (see `run_one`), in the order given.

    jobs > 1 runs them in that many worker processes; a timeout (seconds, per
    program) also runs them in workers, and a worker whose program runs past
    it is killed (the program's result is a runtime error) and replaced."""
    tasks = list(tasks)
    if (jobs or 1) <= 1 and timeout is None:
        results = []
        for k, t in enumerate(tasks):
            results.append(run_one(t, values, config))
            if on_done:
                on_done(k, results[-1])
        return results
    return _Pool(values, config, max(1, int(jobs or 1)), timeout).run(tasks, on_done)


def _worker_main(conn, values, config) -> None:
    """A worker process: run the tasks it is sent until it is sent None."""
    if config and config.get("print_to_stderr"):
        from .ops.internal import PRINT

        PRINT["stream"] = sys.stderr
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if msg is None:
            return
        k, task = msg
        try:
            result = run_one(task, values, config)
        except KeyboardInterrupt:
            return
        try:
            conn.send((k, result))
        except Exception as exc:  # e.g. a value that cannot be pickled
            conn.send((k, {"source": task.source,
                           "error": {"kind": "internal", "message": f"cannot return the result: {exc}",
                                     "line": None, "column": None}}))


def _mp_context():
    import multiprocessing as mp

    try:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["cgraph.batchrun", "cgraph.program", "cgraph.build",
                                    "cgraph.parse", "cgraph.ops"])
        return ctx
    except ValueError:  # pragma: no cover - no forkserver on this platform
        return mp.get_context("spawn")


class _Worker:
    def __init__(self, ctx, values, config):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, values, config), daemon=True)
        self.proc.start()
        child.close()
        self.task: Optional[int] = None
        self.started = 0.0

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                self.proc.kill()
        self.proc.join(timeout=5)
        if self.proc.is_alive():  # pragma: no cover
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class _Pool:
    def __init__(self, values, config, jobs, timeout):
        self.values, self.config, self.jobs, self.timeout = values, config, jobs, timeout

    def run(self, tasks, on_done) -> list:
        from collections import deque
        from multiprocessing.connection import wait

        ctx = _mp_context()
        results: list = [None] * len(tasks)
        pending = deque(range(len(tasks)))
        workers = [_Worker(ctx, self.values, self.config)
                   for _ in range(min(self.jobs, len(tasks)))]

        def finish(w, result):
            k = w.task
            results[k] = result
            w.task = None
            if on_done:
                on_done(k, result)

        try:
            while pending or any(w.task is not None for w in workers):
                for w in workers:
                    if w.task is None and pending:
                        k = pending.popleft()
                        w.task, w.started = k, time.monotonic()
                        w.conn.send((k, tasks[k]))
                busy = [w for w in workers if w.task is not None]
                wait_for = None
                if self.timeout is not None:
                    wait_for = max(0.0, min(w.started for w in busy) + self.timeout - time.monotonic())
                ready = wait([w.conn for w in busy], timeout=wait_for)
                for idx, w in enumerate(workers):
                    if w.task is None or w.conn not in ready:
                        continue
                    try:
                        _, result = w.conn.recv()
                    except (EOFError, OSError):
                        code = w.proc.exitcode
                        result = _failure(tasks[w.task], "the program's process died"
                                          + (f" (exit code {code})" if code is not None else ""))
                        w.stop(kill=True)
                        workers[idx] = _Worker(ctx, self.values, self.config)
                        workers[idx].task = w.task
                        w = workers[idx]
                    finish(w, result)
                if self.timeout is not None:
                    now = time.monotonic()
                    for idx, w in enumerate(workers):
                        if w.task is not None and now - w.started >= self.timeout:
                            w.stop(kill=True)
                            fresh = _Worker(ctx, self.values, self.config) if pending else None
                            result = _failure(tasks[w.task], f"timed out after {self.timeout:g} s",
                                              hint="raise --timeout, or make the program faster")
                            finish(w, result)
                            if fresh is not None:
                                workers[idx] = fresh
                            else:
                                workers[idx] = _Idle()
        finally:
            for w in workers:
                if not isinstance(w, _Idle):
                    w.stop(kill=any(r is None for r in results))
        return results


class _Idle:
    """The slot of a worker killed at the end of a run (nothing left to give it)."""

    task = None
    conn = None


def _failure(task: Task, message: str, hint: Optional[str] = None) -> dict:
    e = {"kind": "runtime", "message": message, "line": None, "column": None}
    if hint:
        e["hint"] = hint
    return {"source": task.source, "error": e}
