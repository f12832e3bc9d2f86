"""A batch run streamed: `stream_rows` reads a CSV file a chunk of rows at a time,
runs each chunk through the vectorised plan (`run_rows`), appends its results to
the output, and sums the shared gradients over the chunks exactly as one big
batch does. Memory is one chunk's, whatever the input's size. The output (.csv or
.jsonl) is written to a temporary file beside it and renamed only when the run
completes: an interrupted or failed run leaves the previous output in place.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional, Sequence

import numpy as np

from ..errors import CgraphError
from .table import BatchResult, Table, checked_header

STREAM_SUFFIXES = (".csv", ".jsonl")
#: an input larger than this is streamed even without --chunk-rows (same output),
#: DEFAULT_CHUNK_ROWS rows at a time, so memory stays bounded whatever the file's size
STREAM_BYTES = 256 << 20
DEFAULT_CHUNK_ROWS = 100_000


def stream_rows(program, path: str, out_path: str, shared: Optional[Mapping] = None,
                grad: bool = False, of: Optional[str] = None,
                wrt: Optional[Sequence[str]] = None, all_names: bool = False,
                chunk_rows: int = 100_000) -> BatchResult:
    """Run `program` over every row of the CSV file `path`, `chunk_rows` at a time,
    writing the rows' results to `out_path` (.csv or .jsonl). Returns a
    BatchResult with no per-row arrays (rows: how many; shared_gradients: the sums)."""
    from ..atomic import atomic_open
    from ..datafiles import DataFileError, csv_chunks
    from .rows import run_rows
    from .writers import write_csv, write_jsonl

    ext = os.path.splitext(out_path)[1].lower()
    if ext not in STREAM_SUFFIXES:
        raise CgraphError(f"a streamed run writes .csv or .jsonl, not {out_path}", kind="usage",
                          hint="an .npz holds every row at once: leave out --chunk-rows for it")
    total: Optional[BatchResult] = None
    try:
        with atomic_open(out_path, "wb") as fp:
            for header, start, values in csv_chunks(path, int(chunk_rows)):
                header = checked_header(header, path)
                cols = np.ascontiguousarray(values.T)
                table = Table(header, {n: cols[j] for j, n in enumerate(header)}, start, path)
                part = run_rows(program, table, shared, grad=grad, of=of, wrt=wrt,
                                all_names=all_names)
                out_cols = part.columns_out(header)
                if ext == ".csv":
                    write_csv(fp, out_cols, part.rows, header=total is None)
                else:
                    write_jsonl(fp, out_cols, part.rows)
                if total is None:
                    written = [name for name, _ in out_cols]
                total = _add(total, part)
                total.written = written
    except DataFileError as exc:
        raise CgraphError(exc.message, kind="value", hint=exc.hint) from None
    except UnicodeDecodeError as exc:
        raise CgraphError(f"{path} is not UTF-8 text ({exc.reason})", kind="value") from None
    if total is None:
        raise CgraphError(f"{path} has no rows under its header", kind="value")
    return total


def _add(total: Optional[BatchResult], part: BatchResult) -> BatchResult:
    """The running summary: rows counted, shared gradients summed, no row arrays kept."""
    if total is None:
        return BatchResult(rows=part.rows, columns=part.columns, inputs={}, outputs={},
                           output=part.output, shared_gradients=dict(part.shared_gradients),
                           connected=dict(part.connected), looped=list(part.looped))
    total.rows += part.rows
    for k, v in part.shared_gradients.items():
        total.shared_gradients[k] = total.shared_gradients[k] + v
    return total
