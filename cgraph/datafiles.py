"""Reading arrays from files: .npy, .npz, .csv, .json.

Used by the `load(...)` builtin and by the command line (`NAME=@file`,
`--inputs FILE`). Every problem a user can cause (missing file, a FIFO or a
device, an oversized file, a pickled array, a non-numeric CSV cell) raises
`DataFileError` (a ValueError) with a message that names the file and, for a
CSV, the 1-based row and column.

Rules:
- only regular files are read, and none larger than `MAX_LOAD_BYTES`
  (JSON: `MAX_JSON_BYTES`, since parsing it takes far more memory than the file);
- `.npy`/`.npz` are read with `allow_pickle=False`, always;
- numbers come back as float64 arrays, booleans as bool arrays;
- `.npz` with a key reads that array; without one, the archive must hold
  exactly one array;
- `.csv` is a numeric 2-D array [rows, cols]; a first row that is not all
  numbers is a header and is skipped;
- `.json` is a number, a boolean, or nested lists of them (rectangular).
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
import tokenize
import zipfile
import zlib
from typing import Optional

import numpy as np

MAX_LOAD_BYTES = 1 << 30   # 1 GiB
MAX_JSON_BYTES = 64 << 20  # 64 MiB of JSON text
MAX_JSON_DEPTH = 32        # nesting of lists: the axes an array may have
SUFFIXES = (".npy", ".npz", ".csv", ".json")
#: what a damaged .npz (a zip archive) makes zipfile raise: an unknown compression
#: method, an encrypted member, a corrupt deflate stream, a bad header...
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError,
              RuntimeError, ValueError, zlib.error)


class DataFileError(ValueError):
    """A file that cannot be read as an array; the message says why."""

    def __init__(self, message: str, hint: Optional[str] = None):
        super().__init__(message)
        self.message, self.hint = message, hint


# ------------------------------------------------------------------ helpers
class MemoryLimit(DataFileError):
    """A file's array is larger than the memory limit (a value error, not a usage one)."""


def split_ref(ref: str) -> tuple[str, Optional[str]]:
    """'data.npz:W' -> ('data.npz', 'W'); anything else -> (ref, None)."""
    head, sep, key = ref.rpartition(":")
    if sep and head.lower().endswith(".npz") and key and "/" not in key and "\\" not in key:
        return head, key
    return ref, None


def check_file(path, limit: Optional[int] = None) -> os.stat_result:
    """Stat `path`: it must be an existing regular file of at most `limit`
    bytes (default `MAX_LOAD_BYTES`)."""
    path = os.fspath(path)
    limit = MAX_LOAD_BYTES if limit is None else limit
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataFileError(f"no such file: {path}") from None
    except PermissionError:
        raise DataFileError(f"permission denied: {path}") from None
    except OSError as exc:
        raise DataFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataFileError(f"{path} is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise DataFileError(f"{path} is not a regular file (a pipe, device or socket); "
                            "refusing to read it", hint="save the data to a file first")
    if st.st_size > limit:
        raise DataFileError(f"{path} is {st.st_size} bytes, over the {limit}-byte limit",
                            hint="split the data, or load a smaller file")
    return st


def _open(path, limit=None):
    check_file(path, limit)
    try:
        return open(path, "rb")
    except OSError as exc:
        raise DataFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def _suffix(path) -> str:
    return os.path.splitext(os.fspath(path))[1].lower()


def _numeric(arr: np.ndarray, where: str) -> np.ndarray:
    kind = arr.dtype.kind
    if kind == "b":
        return arr
    if kind in "iuf":
        return arr.astype(np.float64)
    if kind == "O":
        raise DataFileError(f"{where}: holds Python objects (a pickled array); refused",
                            hint="pickled arrays are never loaded; save a numeric array")
    raise DataFileError(f"{where}: holds {arr.dtype} values, not numbers",
                        hint="only numeric (or boolean) arrays can be loaded")


# ---------------------------------------------------------------- npy / npz
def _npy_header(fp, where):
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, RecursionError,
            MemoryError, OverflowError, tokenize.TokenError) as exc:  # NumPy parses the header text
        raise DataFileError(f"{where} is not a valid .npy file ({type(exc).__name__}: "
                            f"{str(exc)[:200]})") from None
    # a crafted header may say (2**64,) or (True,): dims are plain ints an array can have
    if not all(type(d) is int and 0 <= d < 2 ** 62 for d in shape):
        raise DataFileError(f"{where} is not a valid .npy file: its header gives the shape "
                            f"{str(shape)[:200]}")
    if math.prod(shape) * dtype.itemsize >= 2 ** 62:
        raise DataFileError(f"{where} is not a valid .npy file: its header gives a shape of "
                            f"{math.prod(shape):,} elements")
    return shape, dtype


def _read_npy_stream(fp, where, size) -> np.ndarray:
    start = fp.tell()
    shape, dtype = _npy_header(fp, where)
    if dtype.hasobject:
        raise DataFileError(f"{where}: holds Python objects (a pickled array); refused",
                            hint="pickled arrays are never loaded; save a numeric array")
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = size - (fp.tell() - start)
    if need > have:
        raise DataFileError(f"{where} is truncated: its header says {list(shape)} {dtype} "
                            f"({need} bytes) but only {have} bytes follow")
    fp.seek(start)
    try:
        arr = np.load(fp, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataFileError(f"cannot read {where}: {exc}") from None
    return _numeric(np.asarray(arr), where)


def _read_npy(path) -> np.ndarray:
    st = check_file(path)
    with _open(path) as fp:
        return _read_npy_stream(fp, os.fspath(path), st.st_size)


def _npz_members(zf: zipfile.ZipFile) -> dict:
    return {(i.filename[:-4] if i.filename.endswith(".npy") else i.filename): i
            for i in zf.infolist() if not i.is_dir()}


def _npz_pick(members: dict, key, path):
    names = sorted(members)
    if key is None:
        if len(names) == 1:
            return members[names[0]], names[0]
        raise DataFileError(
            f"{path} holds {len(names)} arrays; say which: {', '.join(names) or '(none)'}",
            hint=f'e.g. load("{os.path.basename(path)}", "{names[0]}")' if names else None)
    if key not in members:
        import difflib

        close = difflib.get_close_matches(key, names, n=1)
        raise DataFileError(f"{path} has no array named '{key}'; it holds: {', '.join(names)}",
                            hint=f"did you mean '{close[0]}'?" if close else None)
    return members[key], key


def _member(zf, members: dict, key, path, max_bytes: Optional[int] = None) -> np.ndarray:
    """One member; with `max_bytes`, one whose array (as float64) would take more is
    refused from its header, before its data is read or inflated."""
    info, name = _npz_pick(members, key, path)
    if info.file_size > MAX_LOAD_BYTES:
        raise DataFileError(f"{path}: array '{name}' is {info.file_size} bytes "
                            f"uncompressed, over the {MAX_LOAD_BYTES}-byte limit")
    with zf.open(info) as member:
        if max_bytes is not None:
            head = io.BytesIO(member.read(1 << 16))  # a .npy header is at most 64 KiB here
            shape, _ = _npy_header(head, f"{path}:{name}")
            need = 8 * math.prod(shape)
            if need > max_bytes:
                raise MemoryLimit(f"{path}: array '{name}' has shape {list(shape)}, which would "
                                  f"take {need:,} bytes, more than the memory limit of "
                                  f"{max_bytes:,} bytes", hint="use a smaller array, or raise "
                                  "the limit (--max-memory; max_memory= in Python)")
            data = head.getvalue() + member.read(MAX_LOAD_BYTES + 1 - len(head.getvalue()))
        else:
            data = member.read(MAX_LOAD_BYTES + 1)
    return _read_npy_stream(io.BytesIO(data), f"{path}:{name}", len(data))


def _with_npz(path, read):
    """read(zipfile, members) on the archive at path, its failures as DataFileError."""
    path = os.fspath(path)
    check_file(path)
    try:
        with zipfile.ZipFile(path) as zf:
            return read(zf, _npz_members(zf))
    except DataFileError:
        raise
    except ZIP_ERRORS as exc:
        raise DataFileError(f"{path} is not a valid .npz file ({exc})") from None


def _read_npz(path, key=None) -> np.ndarray:
    return _with_npz(path, lambda zf, members: _member(zf, members, key, os.fspath(path)))


def npz_keys(path) -> list[str]:
    """The array names in an .npz archive."""
    return _with_npz(path, lambda zf, members: sorted(members))


def read_npz_values(path, max_bytes: Optional[int] = None, only=None) -> dict:
    """Every array of an .npz archive, by name (for `--inputs data.npz`); the archive
    is opened once, so 20,000 members take time linear in their number. A member
    over `max_bytes` is refused from its header (`MemoryLimit`). With `only` (a set
    of names), the other members are not read: they map to 0.0."""
    where = os.fspath(path)
    return _with_npz(path, lambda zf, members: {
        k: _member(zf, members, k, where, max_bytes) if only is None or k in only
        else np.float64(0.0) for k in sorted(members)})


# ---------------------------------------------------------------------- csv
def _number(cell: str) -> Optional[float]:
    try:
        return float(cell)
    except ValueError:
        return None


def _read_text(path, limit=None) -> str:
    limit = MAX_LOAD_BYTES if limit is None else limit
    with _open(path, limit) as fp:
        raw = fp.read(limit + 1)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_csv_table(path) -> tuple[Optional[list[str]], np.ndarray]:
    """(header or None, values [rows, cols]) of a numeric CSV file.

    A well-formed file is parsed by NumPy's C reader (`np.loadtxt`: about 5x
    the speed of the csv module, and no copy of the text in memory); a file it
    refuses, or one that needs the csv module's leniency, is read again row by
    row, which also names the row and column of a bad cell."""
    path = os.fspath(path)
    check_file(path)
    fast = _read_csv_fast(path)
    if fast is not None:
        return fast
    text = _read_text(path)
    try:
        rows = [(n, r) for n, r in enumerate(csv.reader(io.StringIO(text)), start=1)
                if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise DataFileError(f"{path} is not valid CSV ({exc})") from None
    if not rows:
        raise DataFileError(f"{path} is empty: no rows")
    header = None
    first = [c.strip() for c in rows[0][1]]
    if any(_number(c) is None for c in first):
        header, rows = first, rows[1:]
    width = len(header) if header is not None else len(rows[0][1])
    return header, csv_cells(rows, width, header, path)


def csv_cells(rows, width: int, header, path) -> np.ndarray:
    """The numbers of CSV rows ([(line number, cells)]), naming the row and column
    of the first bad cell or ragged row."""
    out = np.empty((len(rows), width))
    for i, (line, row) in enumerate(rows):
        if len(row) != width:
            col, what = (len(row) + 1, "is missing") if len(row) < width else (width + 1, "is extra")
            raise DataFileError(f"{path}: row {line}, column {col} {what}: the row has "
                                f"{len(row)} columns, expected {width}",
                                hint="every row needs the same number of cells")
        for j, cell in enumerate(row):
            v = _number(cell.strip())
            if v is None:
                raise DataFileError(f"{path}: row {line}, column {j + 1}"
                                    + (f" ({header[j]})" if header and j < len(header) else "")
                                    + (": the cell is empty" if not cell.strip() else
                                       f": {cell.strip()!r} is not a number"),
                                    hint="only the first row may be a header")
            out[i, j] = v
    return out


def csv_chunks(path, rows: int):
    """A large CSV file read `rows` rows at a time: yields (header, first line number,
    values [n, cols]); memory stays one chunk's whatever the file's size. Each chunk
    goes through NumPy's C reader, and through the exact reader (row and column of a
    bad cell) only when that refuses it."""
    import itertools

    path = os.fspath(path)
    check_file(path, limit=1 << 62)  # streamed: no size limit
    with open(path, "r", encoding="utf-8-sig", newline="") as fp:
        line_no = 0
        header = None
        for line in fp:
            line_no += 1
            cells = next(csv.reader([line]), [])
            if any(c.strip() for c in cells):
                first = [c.strip() for c in cells]
                if any(_number(c) is None for c in first):
                    header = first
                else:
                    raise DataFileError(f"{path} has no header row: the first row must name "
                                        "the columns")
                break
        if header is None:
            raise DataFileError(f"{path} is empty: no rows")
        width = len(header)
        while True:
            lines = list(itertools.islice(fp, rows))
            if not lines:
                return
            start = line_no + 1
            line_no += len(lines)
            try:
                with np.errstate(all="ignore"):
                    values = np.loadtxt(io.StringIO("".join(lines)), delimiter=",", ndmin=2,
                                        dtype=np.float64)
                if values.shape[1] != width:
                    raise ValueError("ragged")
            except ValueError:
                parsed = [(start + k, r) for k, r in enumerate(csv.reader(lines))
                          if any(c.strip() for c in r)]
                values = csv_cells(parsed, width, header, path)
            yield header, start, values


def _read_csv_fast(path) -> Optional[tuple]:
    """read_csv_table's result through np.loadtxt, or None when the file needs the
    slow reader (anything loadtxt refuses, blank-looking lines, no data rows)."""
    import warnings

    try:
        with open(path, "r", encoding="utf-8-sig", newline="") as fp:
            while True:  # the first row with a non-blank cell
                start = fp.tell()
                line = fp.readline()
                if not line:
                    return None
                cells = next(csv.reader([line]), [])
                if any(c.strip() for c in cells):
                    break
            first = [c.strip() for c in cells]
            header = first if any(_number(c) is None for c in first) else None
            if header is None:
                fp.seek(start)
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # "input contained no data"
                out = np.loadtxt(fp, delimiter=",", dtype=np.float64, comments=None, ndmin=2,
                                 quotechar='"')
    except (ValueError, UnicodeError, csv.Error, UserWarning, OSError):
        return None
    width = len(header) if header is not None else len(first)
    if out.shape[0] == 0 or out.shape[1] != width:
        return None
    return header, out


def _read_csv(path) -> np.ndarray:
    return read_csv_table(path)[1]


# --------------------------------------------------------------------- json
def _json_array(value, where: str) -> np.ndarray:
    """A number, a boolean, or rectangular nested lists of them -> array."""
    kinds: set = set()

    def walk(v, at, depth=0):
        if isinstance(v, list):
            if depth >= MAX_JSON_DEPTH:
                raise DataFileError(f"{where}: nested deeper than {MAX_JSON_DEPTH} levels",
                                    hint=f"arrays have at most {MAX_JSON_DEPTH} axes")
            subs = [walk(x, f"{at}[{i}]", depth + 1) for i, x in enumerate(v)]
            if any(s != subs[0] for s in subs):
                raise DataFileError(f"{where}: ragged nesting at {at or 'the top'} (lists of "
                                    "different lengths or depths)",
                                    hint="arrays must be rectangular")
            return (len(v),) + (subs[0] if subs else ())
        if isinstance(v, bool):
            kinds.add("bool")
        elif isinstance(v, (int, float)):
            kinds.add("num")
        else:
            what = "null" if v is None else type(v).__name__
            raise DataFileError(f"{where}: {what} at {at or 'the top'} is not a number",
                                hint="values are numbers, true/false, or nested lists of them")
        if len(kinds) > 1:
            raise DataFileError(f"{where}: mixes numbers and booleans (at {at or 'the top'})")
        return ()

    try:
        walk(value, "")
        if kinds == {"bool"}:
            return np.array(value, dtype=bool)
        return np.array(value, dtype=np.float64)
    except RecursionError:
        raise DataFileError(f"{where}: nested too deeply") from None
    except OverflowError:
        raise DataFileError(f"{where}: a number is too large for a float") from None
    except ValueError as exc:
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(f"{where}: ragged nesting (arrays must be rectangular)") from None


def _read_json_doc(path):
    path = os.fspath(path)
    text = _read_text(path, MAX_JSON_BYTES)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                            f"{exc.msg}") from None
    except RecursionError:
        raise DataFileError(f"{path}: nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise DataFileError(f"{path}: {exc}".split(";")[0]) from None


def _read_json(path) -> np.ndarray:
    path = os.fspath(path)
    doc = _read_json_doc(path)
    if isinstance(doc, dict):
        raise DataFileError(f"{path} holds a JSON object, not an array",
                            hint="load() reads a number or nested lists; a name -> value object "
                                 "is for --inputs")
    return _json_array(doc, path)


def read_json_values(path) -> dict:
    """A JSON object of name -> value (number, boolean, nested lists) as arrays."""
    path = os.fspath(path)
    doc = _read_json_doc(path)
    if not isinstance(doc, dict):
        raise DataFileError(f"{path} must hold a JSON object of name -> value",
                            hint='e.g. {"x": 2, "W": [[1, 0], [0, 1]]}')
    return {str(k): _json_array(v, f"{path}: value of '{k}'") for k, v in doc.items()}


# -------------------------------------------------------------------- entry
def read_array(path, key: Optional[str] = None) -> np.ndarray:
    """The array stored in `path` (.npy, .npz with an optional key, .csv, .json)."""
    path = os.fspath(path)
    ext = _suffix(path)
    if ext not in SUFFIXES:
        raise DataFileError(f"cannot load {path}: unknown file type '{ext or '(none)'}'",
                            hint="load reads .npy, .npz, .csv and .json files")
    if key is not None and ext != ".npz":
        raise DataFileError(f"a key ('{key}') only applies to .npz archives, not {ext} files")
    if ext == ".npy":
        return _read_npy(path)
    if ext == ".npz":
        return _read_npz(path, key)
    if ext == ".csv":
        return _read_csv(path)
    return _read_json(path)


def array_shape(path, key: Optional[str] = None) -> tuple:
    """The shape of the array `read_array(path, key)` would return, reading as
    little as possible (.npy/.npz headers only; .csv/.json are parsed and the
    result kept for the next `read_array_cached`)."""
    path = os.fspath(path)
    ext = _suffix(path)
    if ext == ".npy":
        st = check_file(path)
        with _open(path) as fp:
            shape, dtype = _npy_header(fp, path)
        _numeric(np.empty(0, dtype), path)
        if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > st.st_size:
            raise DataFileError(f"{path} is truncated")
        return tuple(shape)
    return tuple(read_array_cached(path, key).shape)


_CACHE: dict = {}


def read_array_cached(path, key: Optional[str] = None) -> np.ndarray:
    """read_array, remembering the last few results while the file is
    unchanged (a static build reads a file for its shape, then runs it).
    Returns a fresh copy each time."""
    path = os.fspath(path)
    st = check_file(path)
    stamp = (os.path.realpath(path), key, st.st_mtime_ns, st.st_size, st.st_ino)
    arr = _CACHE.get(stamp)
    if arr is None:
        arr = read_array(path, key)
        if arr.nbytes <= 64 << 20:
            while len(_CACHE) >= 4:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[stamp] = arr
    return arr.copy()
