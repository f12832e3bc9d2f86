"""Reading the rows of a batch run: a .csv, .jsonl or .parquet table, whole (`read_table`)
or a chunk of rows at a time (`row_spans` + `read_span`, which the local
streamed run and the Dask engine share, so both cut the very same chunks).

CSV goes through pyarrow's C++ reader (multi-threaded; imported only here, when a
batch reads a table): each block of whole lines is parsed with every column as
float64 and no cell read as a null. A block it refuses (a cell that is not a
number, an empty cell, a ragged or blank row, a line end it counts otherwise) is
read again by the exact reader (`datafiles.csv_cells`), which names the row and
column as a spreadsheet does — the messages are the same whichever reader ran.
With `skip_bad=True` the exact reader keeps the good rows and lists the bad ones
(`Table.bad`: (row number in the file, message)).

JSONL (`jsonl`): one JSON object per line, cut into chunks of lines as CSV is.

Parquet: numeric and boolean columns, read by row groups; rows are numbered from
1 (the file has no header row); a null is a bad cell.
"""
from __future__ import annotations

import csv
import io
import os
import unicodedata
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

from ..errors import CgraphError
from .table import Table, checked_header

#: the suffixes of --inputs files that are tables of rows (a batch run)
ROW_SUFFIXES = (".csv", ".jsonl", ".parquet")
#: bytes read at a time while cutting a CSV file into chunks of lines
READ_BYTES = 1 << 22
#: a whole CSV file is parsed in blocks of this many bytes, on up to PARSE_THREADS threads
PARSE_BYTES = 1 << 20
PARSE_THREADS = 2


@dataclass
class Span:
    """Where one chunk of rows lies in its file: CSV lines [first_row, ...) from
    byte `offset` (`length` bytes), or Parquet rows [start, stop)."""

    first_row: int
    offset: int = 0
    length: int = 0
    stop: int = 0


def is_row_table(path: str) -> bool:
    return os.path.splitext(str(path))[1].lower() in ROW_SUFFIXES


# ==================================================================== whole files
def read_table(path, skip_bad: bool = False) -> Table:
    """A .csv file whose header names the columns (or a .parquet file). Raises
    `datafiles.DataFileError` (a ValueError) naming the row and column of a bad cell
    or a ragged row (with `skip_bad`, those rows are left out and listed in `.bad`)."""
    from ..datafiles import check_file

    path = os.fspath(path)
    check_file(path)
    if path.lower().endswith(".parquet"):
        header, spans = parquet_spans(path, None)
        return read_span(path, header, spans[0], skip_bad) if spans else \
            Table(header, {h: np.empty(0) for h in header}, 1, path)
    if path.lower().endswith(".jsonl"):
        from .jsonl import header_of, parse_block

        with open(path, "rb") as fp:
            header, _, line = header_of(fp, path)
            return parse_block(fp.read(), header, line, path, skip_bad)
    with open(path, "rb") as fp:
        header, offset, line = _csv_header(fp, path)
        cols = _arrow_blocks(fp, header)
    if cols is not None:
        return Table(list(header), dict(zip(header, cols)), line, path)
    with open(path, "rb") as fp:
        fp.seek(offset)
        data = fp.read()
    return _exact_csv(data, header, line, path, skip_bad)


def as_table(table) -> Table:
    """A Table from a Table, a path (.csv, .parquet) or a dict of columns."""
    if isinstance(table, Table):
        return table
    if isinstance(table, (str, os.PathLike)):
        from ..datafiles import DataFileError

        try:
            return read_table(table)
        except DataFileError as exc:
            raise CgraphError(exc.message, kind="value", hint=exc.hint) from None
    values = {}
    for k, v in dict(table).items():
        name = unicodedata.normalize("NFKC", str(k))  # as names in source ('ﬁ' is 'fi')
        if name in values:
            raise CgraphError(f"the column '{k}' is given twice (as '{name}')", kind="usage")
        values[name] = v
    return Table(list(values), values, 1)


# ========================================================================= chunks
def row_spans(path, rows: int) -> tuple[list, Iterator[Span]]:
    """(header, the chunks of `rows` rows each, lazily) of a .csv, .jsonl or .parquet file."""
    from ..datafiles import check_file

    path = os.fspath(path)
    check_file(path, limit=1 << 62)  # streamed: no size limit
    if path.lower().endswith(".parquet"):
        header, spans = parquet_spans(path, rows)
        return header, iter(spans)
    fp = open(path, "rb")
    try:
        if path.lower().endswith(".jsonl"):
            from .jsonl import header_of

            header, offset, line = header_of(fp, path)
        else:
            header, offset, line = _csv_header(fp, path)
    except BaseException:
        fp.close()
        raise
    return header, _csv_spans(fp, offset, line, rows)


def read_span(path, header: list, span: Span, skip_bad: bool = False,
              data: Optional[bytes] = None, shown: Optional[str] = None) -> Table:
    """The rows of one chunk as a Table (`data`: the span's bytes, when already read;
    `shown`: the file's name in messages, when not `path`)."""
    path = os.fspath(path)
    if path.lower().endswith(".parquet"):
        return _read_parquet_rows(path, header, span, skip_bad, shown or path)
    if data is None:
        with open(path, "rb") as fp:
            fp.seek(span.offset)
            data = fp.read(span.length)
    if path.lower().endswith(".jsonl"):
        from .jsonl import parse_block

        return parse_block(data, header, span.first_row, shown or path, skip_bad)
    return _parse_csv(data, header, span.first_row, shown or path, skip_bad)


def iter_chunks(path, rows: int, skip_bad: bool = False) -> Iterator[Table]:
    """The tables of `rows` rows each of a .csv, .jsonl or .parquet file, in order (memory:
    one chunk's). A chunk whose rows are all blank is left out."""
    header, spans = row_spans(path, rows)
    try:
        for span in spans:
            data = getattr(span, "data", None)
            table = read_span(path, header, span, skip_bad, data)
            if table.rows or table.bad:
                yield table
    finally:
        close = getattr(spans, "close", None)
        if close is not None:
            close()


def _csv_spans(fp, offset: int, line: int, rows: int) -> Iterator[Span]:
    """Cut the lines after the header into chunks of `rows` lines; each Span
    carries its bytes (`.data`) for the reader in this process."""
    try:
        fp.seek(offset)
        carry = b""
        per_line = 64
        while True:
            pieces, count, eof = [carry], carry.count(b"\n"), False
            while count < rows:
                more = fp.read(max(READ_BYTES, per_line * (rows - count)))
                if not more:
                    eof = True
                    break
                pieces.append(more)
                count += more.count(b"\n")
            buf = b"".join(pieces) if len(pieces) > 1 else pieces[0]
            if count >= rows:
                ends = np.flatnonzero(np.frombuffer(buf, np.uint8) == 10)
                cut = int(ends[rows - 1]) + 1
                per_line = max(1, cut // rows + 1)
            else:
                cut = len(buf)
            if cut:
                span = Span(line, offset, cut)
                span.data = buf[:cut]
                yield span
            line += rows
            offset += cut
            carry = buf[cut:]
            if eof or not carry and count < rows:
                if carry:
                    continue
                return
    finally:
        fp.close()


# ============================================================================ CSV
def _csv_header(fp, path) -> tuple[list, int, int]:
    """(checked header, byte offset after it, line number of the next line)."""
    from ..datafiles import DataFileError

    line_no = 0
    while True:
        raw = fp.readline()
        if not raw:
            raise DataFileError(f"{path} is empty: no rows")
        line_no += 1
        try:
            text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise DataFileError(f"{path} is not UTF-8 text ({exc.reason} at byte "
                                f"{exc.start})") from None
        cells = next(csv.reader([text]), [])
        if any(c.strip() for c in cells):
            break
    first = [c.strip() for c in cells]
    if all(_number(c) is not None for c in first):
        raise DataFileError(f"{path} has no header row: the first row must name the columns",
                            hint="e.g. a,b,c — one input of the program per column")
    return checked_header(first, path), fp.tell(), line_no + 1


def _number(cell: str) -> Optional[float]:
    try:
        return float(cell)
    except ValueError:
        return None


def _lines(data) -> int:
    """The lines in a block of bytes (a last line without its line end counts)."""
    if not data:
        return 0
    n = data.count(b"\n")
    return n + (not data.endswith(b"\n"))


def _parse_csv(data, header: list, first_row: int, path: str, skip_bad: bool) -> Table:
    """The rows of a block of whole CSV lines: pyarrow first, the exact reader when
    pyarrow refuses it (or counts its rows otherwise than its lines)."""
    cols = _arrow_csv(data, header)
    if cols is None or len(cols[0]) != _lines(data):
        return _exact_csv(data, header, first_row, path, skip_bad)
    return Table(list(header), dict(zip(header, cols)), first_row, path)


def _blocks(fp, size: int) -> Iterator[bytes]:
    """The rest of a file in blocks of about `size` bytes, each cut after a line end
    (the last block: whatever is left, with or without one)."""
    carry = b""
    while True:
        piece = fp.read(size)
        data = carry + piece if carry else piece
        if not piece:
            if data:
                yield data
            return
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        if cut:
            yield data[:cut] if cut < len(data) else data


def _arrow_blocks(fp, header: list) -> Optional[list]:
    """The columns of the CSV lines after the header (`fp` just past it), parsed by
    pyarrow a block of PARSE_BYTES at a time on a few threads (pyarrow lets go of the
    GIL) and copied into one float64 array per column: memory is the columns plus a
    few blocks, never the whole file. None if pyarrow refuses a block, counts its rows
    otherwise than its lines, or there are no lines (the exact reader then decides)."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    workers = max(1, min(PARSE_THREADS, os.cpu_count() or 1))
    parts: list = [[] for _ in header]
    pending: deque = deque()

    def take(future) -> bool:
        cols = future.result()
        if cols is None:
            return False
        for j, col in enumerate(cols):
            parts[j].append(col)
        return True

    def parse(data):
        cols = _arrow_csv(data, header, threads=False)
        return cols if cols is not None and len(cols[0]) == _lines(data) else None

    with ThreadPoolExecutor(workers, thread_name_prefix="cgraph-csv") as pool:
        try:
            for data in _blocks(fp, PARSE_BYTES):
                pending.append(pool.submit(parse, data))
                if len(pending) > workers and not take(pending.popleft()):
                    return None
            while pending:
                if not take(pending.popleft()):
                    return None
        finally:
            for future in pending:
                future.cancel()
    if not parts or not parts[0]:
        return None
    out = []
    for j in range(len(parts)):  # one column at a time: its blocks freed as it is joined
        out.append(np.concatenate(parts[j]) if len(parts[j]) > 1 else parts[j][0])
        parts[j] = None
    return out


def _arrow_csv(data, header: list, threads: bool = True) -> Optional[list]:
    """The columns of a block of CSV lines (bytes) by pyarrow, None if it refuses them
    (`threads`: pyarrow's own threads, for a block larger than its 1 MiB blocks)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not data:
        return None
    names = [f"c{j}" for j in range(len(header))]
    source = pa.BufferReader(pa.py_buffer(data))
    try:
        t = pacsv.read_csv(
            source,
            memory_pool=pa.system_memory_pool(),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=threads,
                                           block_size=1 << 20 if threads else
                                           max(1 << 20, len(data) + 1)),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.float64() for n in names}, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowException, ValueError, OSError):
        return None
    finally:
        source.close()
    out = []
    for n in names:  # the chunks' values copied into one array (no nulls: null_values=[])
        col = t.column(n)
        arr, at = np.empty(len(col)), 0
        for ch in col.chunks:
            k = len(ch)
            arr[at:at + k] = np.frombuffer(ch.buffers()[1], np.float64, k, ch.offset * 8)
            at += k
        out.append(arr)
    return out


def _exact_csv(data, header: list, first_row: int, path: str, skip_bad: bool) -> Table:
    """The csv module and float(): every cell checked, the first bad one named
    (or, with skip_bad, every bad row listed and left out)."""
    from ..datafiles import DataFileError, csv_cells

    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        row = first_row + bytes(data)[:exc.start].count(b"\n")
        raise DataFileError(f"{path}: row {row} is not UTF-8 text ({exc.reason})") from None
    try:
        rows = [(first_row + k, r) for k, r in enumerate(csv.reader(io.StringIO(text, newline="")))
                if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise DataFileError(f"{path} is not valid CSV ({exc})") from None
    width = len(header)
    bad = []
    if not skip_bad:
        values = csv_cells(rows, width, header, path)
    else:
        good = []
        for item in rows:
            try:
                good.append(csv_cells([item], width, header, path)[0])
            except DataFileError as exc:
                bad.append((item[0], exc.message))
        values = np.array(good, dtype=np.float64).reshape(len(good), width)
    values = np.ascontiguousarray(values.T)
    t = Table(list(header), {h: values[j] for j, h in enumerate(header)}, first_row, path)
    t.bad = bad
    dropped = {line for line, _ in bad}
    kept = [line for line, _ in rows if line not in dropped]
    if kept and kept[-1] - first_row + 1 != len(kept):  # blank or bad rows left out
        t.row_numbers = np.array(kept)
    return t


# ======================================================================== Parquet
def _parquet(path):
    from ..datafiles import DataFileError

    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise DataFileError(f"reading {path} needs pyarrow", hint="pip install pyarrow") from None
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow's errors for a damaged file are many types
        raise DataFileError(f"{path} is not a valid Parquet file ({str(exc)[:200]})") from None


def parquet_spans(path, rows: Optional[int]) -> tuple[list, list]:
    """(header, spans of `rows` rows each; None: one span) of a Parquet file."""
    from ..datafiles import DataFileError

    pf = _parquet(path)
    header = checked_header([f.name for f in pf.schema_arrow], path)
    for f in pf.schema_arrow:
        import pyarrow.types as pt

        if not (pt.is_integer(f.type) or pt.is_floating(f.type) or pt.is_boolean(f.type)):
            raise DataFileError(f"{path}: column '{f.name}' holds {f.type} values, not numbers",
                                hint="a batch's columns are numbers, one per row")
    n = pf.metadata.num_rows
    size = n if not rows else int(rows)
    spans = [Span(1 + start, stop=min(n, start + size)) for start in range(0, n, max(1, size))]
    return header, spans


def _read_parquet_rows(path, header: list, span: Span, skip_bad: bool, shown: str) -> Table:
    from ..datafiles import DataFileError

    pf = _parquet(path)
    path = shown
    start, stop = span.first_row - 1, span.stop
    meta = pf.metadata
    groups, at, base = [], 0, 0
    for g in range(meta.num_row_groups):
        k = meta.row_group(g).num_rows
        if at < stop and at + k > start:
            if not groups:
                base = at
            groups.append(g)
        at += k
    t = pf.read_row_groups(groups) if groups else pf.schema_arrow.empty_table()
    t = t.slice(start - base, stop - start)
    values, bad_at = {}, {}
    for j, name in enumerate(header):
        col = t.column(j).combine_chunks() if t.num_rows else None
        if col is None:
            values[name] = np.empty(0)
            continue
        nulls = np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False)) if col.null_count \
            else ()
        for r in nulls:
            bad_at.setdefault(int(r), f"{path}: row {span.first_row + int(r)}, column {j + 1} "
                                      f"({name}): the cell is empty (null)")
        arr = col.to_numpy(zero_copy_only=False)
        values[name] = np.array(arr, dtype=bool if arr.dtype == bool else np.float64)
    table = Table(list(header), values, span.first_row, path)
    if bad_at:
        if not skip_bad:
            raise DataFileError(bad_at[min(bad_at)])
        keep = np.ones(t.num_rows, bool)
        keep[list(bad_at)] = False
        table.values = {k: np.ascontiguousarray(v[keep]) for k, v in values.items()}
        table.bad = [(span.first_row + r, m) for r, m in sorted(bad_at.items())]
        table.row_numbers = span.first_row + np.flatnonzero(keep)
    return table
