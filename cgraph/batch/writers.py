"""Writing a batch run's results: CSV, JSONL and NPZ files (atomically: to a
temporary file in the target's directory, then `os.replace`d over it, so an
interrupted run leaves the previous file as it was), JSON documents, and
rows for a table on a terminal."""
from __future__ import annotations

import json
import math
import os
from typing import Callable, Optional, Sequence

import numpy as np

from ..atomic import atomic_open
from ..numfmt import fmt_float
from .table import BatchResult

#: rows formatted at a time when writing files
WRITE_ROWS = 1 << 14
SUFFIXES = (".csv", ".jsonl", ".npz", ".parquet")


def write_results(result: BatchResult, out_path, input_columns: Optional[Sequence[str]] = None) -> None:
    """Write the rows to a .csv, .jsonl, .npz or .parquet file (by its suffix), atomically.
    Columns: the input columns, the outputs, then the gradients named dY/da.
    A non-scalar value per row takes several CSV columns (`W[0,1]`)."""
    path = os.fspath(out_path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in SUFFIXES:
        raise ValueError(f"cannot write {path}: the file name must end in .csv, .jsonl, .npz "
                         "or .parquet")
    cols = result.columns_out(input_columns)
    with atomic_open(path, "wb") as fp:
        if ext == ".csv":
            write_csv(fp, cols, result.rows)
        elif ext == ".jsonl":
            write_jsonl(fp, cols, result.rows)
        elif ext == ".parquet":
            write_parquet(fp, cols)
        else:
            arrays = {name: np.asarray(v) for name, v in cols}
            arrays.update({result.gradient_name(n): np.asarray(g)
                           for n, g in result.shared_gradients.items()})
            np.savez(fp, **arrays)


def write_parquet(fp, cols) -> None:
    """The columns as one Parquet table (pyarrow, imported only here); a value of
    shape s per row takes prod(s) columns named as in CSV (`W[0,1]`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = {}
    for names, block in csv_columns(cols):
        for j, name in enumerate(names):
            flat[name] = np.ascontiguousarray(block[:, j])
    pq.write_table(pa.table(flat), fp)


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


def write_csv(fp, cols, rows: int, digits: Optional[int] = None, header: bool = True) -> None:
    """The CSV text of the columns, to a binary file, in blocks of rows (`header`:
    the header line first; a streamed run writes it with its first chunk only)."""
    groups = csv_columns(cols)
    if header:
        names = [h for names, _ in groups for h in names]
        fp.write((",".join(_csv_cell(h) for h in names) + "\n").encode("utf-8"))
    arrays = [a for _, a in groups]
    with Background(fp) as out:  # the file written while the next block is formatted
        for start in range(0, rows, WRITE_ROWS):
            stop = min(rows, start + WRITE_ROWS)
            out.write(format_rows([a[start:stop] for a in arrays], digits))


class Background:
    """Writes to `fp` in a thread of its own, in order, at most a few blocks behind:
    formatting (which holds the GIL) and the system's copy of the bytes (which does
    not) overlap. An error of a write is raised by the next `write` or at the end."""

    def __init__(self, fp, depth: int = 2):
        self.fp, self.depth = fp, depth
        self.queue = self.thread = self.error = None

    def __enter__(self):
        return self

    def write(self, data) -> None:
        if self.error is not None:
            raise self.error
        if len(data) < (1 << 16):  # small: not worth a thread
            if self.thread is None:
                self.fp.write(data)
                return
        if self.thread is None:
            import queue
            import threading

            self.queue = queue.Queue(self.depth)
            self.thread = threading.Thread(target=self._run, name="cgraph-writer", daemon=True)
            self.thread.start()
        self.queue.put(data)

    def _run(self) -> None:
        while True:
            data = self.queue.get()
            if data is None:
                return
            if self.error is None:
                try:
                    self.fp.write(data)
                except BaseException as exc:  # raised in the caller's thread
                    self.error = exc

    def __exit__(self, *exc):
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
            self.thread = None
        if self.error is not None and exc[0] is None:
            raise self.error
        return False


def fast_json():
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
    oj = fast_json()
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
    oj = fast_json()
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

