"""A batch run streamed: the input (.csv, .jsonl or .parquet) is read a chunk of rows at a
time (`readers.row_spans`), each chunk runs through the vectorised plan
(`run_chunk`), its rows are encoded for the output (`encode_chunk`) and appended
to it (`ChunkSink`), and the shared gradients are summed over the chunks in
their order. Memory is one chunk's, whatever the input's size. The output (.csv,
.jsonl or .parquet) is written to a temporary file beside it and renamed only when
the run completes: an interrupted or failed run leaves the previous output in place.

The Dask engine (`dask_engine`) runs the very same three steps for each chunk in
a worker, so both engines cut the same chunks and compute the same numbers.
"""
from __future__ import annotations

import io
import os
from typing import Mapping, Optional, Sequence

import numpy as np

from ..errors import CgraphError
from .table import BatchResult, Table

STREAM_SUFFIXES = (".csv", ".jsonl", ".parquet")
#: an input larger than this is streamed even without --chunk-rows (same output),
#: DEFAULT_CHUNK_ROWS rows at a time, so memory stays bounded whatever the file's size
STREAM_BYTES = 256 << 20
DEFAULT_CHUNK_ROWS = 100_000


def check_stream_out(out_path: str) -> str:
    ext = os.path.splitext(out_path)[1].lower()
    if ext not in STREAM_SUFFIXES:
        raise CgraphError(f"a streamed run writes .csv, .jsonl or .parquet, not {out_path}",
                          kind="usage",
                          hint="an .npz holds every row at once: leave out --chunk-rows for it")
    return ext


def stream_rows(program, path: str, out_path: str, shared: Optional[Mapping] = None,
                grad: bool = False, of: Optional[str] = None,
                wrt: Optional[Sequence[str]] = None, all_names: bool = False,
                chunk_rows: int = DEFAULT_CHUNK_ROWS, skip_bad: bool = False) -> BatchResult:
    """Run `program` over every row of the file `path` (.csv, .parquet), `chunk_rows`
    at a time, writing the rows' results to `out_path` (.csv, .jsonl, .parquet).
    Returns a BatchResult with no per-row arrays (rows: how many; shared_gradients:
    the sums; skipped: the rows left out with `skip_bad`)."""
    from ..datafiles import DataFileError
    from .readers import iter_chunks

    ext = check_stream_out(out_path)
    total = None
    try:
        with ChunkSink(out_path, ext) as sink:
            for table in iter_chunks(path, int(chunk_rows), skip_bad):
                part, bad = run_chunk(program, table, shared, grad, of, wrt, all_names, skip_bad)
                if part is not None:
                    sink.add(*encode_chunk(part, ext))
                total = add_chunk(total, part, bad)
            if total is None or total.rows == 0 and not total.skipped:
                raise CgraphError(f"{path} has no rows under its header", kind="value")
            if total.rows == 0:
                raise CgraphError(f"every row of {path} is bad ({len(total.skipped)} left out)",
                                  kind="value", hint=total.skipped[0][1])
            total.written = sink.names
    except DataFileError as exc:
        raise CgraphError(exc.message, kind="value", hint=exc.hint) from None
    return total


def run_chunk(program, table: Table, shared, grad, of, wrt, all_names, skip_bad):
    """(BatchResult of the chunk's rows or None if none is left, the bad rows: (row
    number, message)). With `skip_bad` a row whose computation fails is left out and
    the chunk run again without it; else the error is raised, naming the row."""
    from .rows import run_rows

    bad = list(table.bad)
    while True:
        if table.rows == 0:
            return None, sorted(bad)
        try:
            part = run_rows(program, table, shared, grad=grad, of=of, wrt=wrt,
                            all_names=all_names)
        except CgraphError as exc:
            r = getattr(exc, "row_index", None)
            if not skip_bad or r is None:
                raise
            bad.append((table.row_number(r), exc.message))
            keep = np.ones(table.rows, bool)
            keep[r] = False
            numbers = np.array([table.row_number(k) for k in range(table.rows)])[keep]
            table = Table(list(table.columns), {k: v[keep] for k, v in table.values.items()},
                          table.first_row, table.path, row_numbers=numbers)
            continue
        return part, sorted(bad)


def encode_chunk(part: BatchResult, ext: str):
    """(column names, the chunk's rows for the output, the CSV header line or None):
    CSV or JSONL bytes, or a dict of flat columns (`Z[0]`, as CSV names them) for
    Parquet."""
    from .writers import csv_columns, write_csv, write_jsonl

    cols = part.columns_out()
    names = [name for name, _ in cols]
    if ext == ".parquet":
        flat = {}
        for group, block in csv_columns(cols):
            for j, name in enumerate(group):
                flat[name] = np.ascontiguousarray(block[:, j])
        return names, flat, None
    buf = io.BytesIO()
    if ext == ".csv":
        write_csv(buf, cols, 0)
        head = buf.getvalue()
        buf = io.BytesIO()
        write_csv(buf, cols, part.rows, header=False)
        return names, buf.getvalue(), head
    write_jsonl(buf, cols, part.rows)
    return names, buf.getvalue(), None


class ChunkSink:
    """The output of a streamed run: chunks appended in order to a temporary file,
    renamed over `path` when the block ends without an error."""

    def __init__(self, path: str, ext: str):
        self.path, self.ext = path, ext
        self.names = None
        self._parquet = None

    def __enter__(self):
        from ..atomic import atomic_open
        from .writers import Background

        self._open = atomic_open(self.path, "wb")
        self.fp = self._open.__enter__()
        self.out = Background(self.fp)
        return self

    def add(self, names: list, data, head: Optional[bytes] = None) -> None:
        first = self.names is None
        if first:
            self.names = list(names)
        if self.ext == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table(data)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.fp, table.schema)
            self._parquet.write_table(table)
            return
        if first and head:
            self.out.write(head)
        self.out.write(data)

    def __exit__(self, *exc):
        try:
            self.out.__exit__(*exc)
            if self._parquet is not None:
                self._parquet.close()
        except BaseException:
            self._open.__exit__(*exc)
            raise
        return self._open.__exit__(*exc)


def add_chunk(total: Optional[BatchResult], part: Optional[BatchResult],
              bad=()) -> BatchResult:
    """The running summary: rows counted, shared gradients summed in chunk order,
    bad rows listed, no row arrays kept."""
    if total is None:
        total = BatchResult(rows=0, columns=[], inputs={}, outputs={})
    total.skipped.extend(bad)
    if part is None:
        return total
    if not total.columns:
        total.columns, total.output = part.columns, part.output
        total.connected, total.looped = dict(part.connected), list(part.looped)
    total.rows += part.rows
    for k, v in part.shared_gradients.items():
        total.shared_gradients[k] = total.shared_gradients[k] + v if k in total.shared_gradients \
            else np.array(v)
    return total
