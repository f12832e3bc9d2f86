"""Reading a .jsonl table of rows (`--inputs rows.jsonl`): one JSON object per line,
name -> number (or nested lists of numbers: a value of that shape per row). The
first object names the columns (and gives each its shape); every other line must
give the same names. Blank lines are left out and the lines keep their numbers, so
messages name a bad line as an editor shows it: `rows.jsonl: line 7 (b): "x" is
not a number`. "NaN", "Infinity" and "-Infinity" (what a .jsonl output holds for
them) are read as those numbers. Parsed by orjson (a dependency) when it is there,
else by the json module; the streamed run cuts the file into chunks of lines as
for CSV (`readers.row_spans`).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .table import Table, checked_header

MAX_DEPTH = 32
_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class Header(list):
    """The column names of a .jsonl file, and `shapes`: the shape of each column's
    value in one row (from the file's first object)."""

    shapes: dict = {}


def _loads():
    try:
        import orjson

        return orjson.loads, orjson.JSONDecodeError
    except ImportError:  # pragma: no cover - orjson is a dependency
        import json

        return json.loads, ValueError


def _error(message: str, hint: Optional[str] = None):
    from ..datafiles import DataFileError

    return DataFileError(message, hint)


def _object(raw: bytes, line: int, path: str, loads) -> dict:
    load, bad_json = loads
    try:
        obj = load(raw)
    except bad_json as exc:
        msg = str(getattr(exc, "msg", "") or exc).split(": line ")[0]
        col = getattr(exc, "colno", None)
        where = f"line {line}, column {col}" if col else f"line {line}"
        raise _error(f"{path}: {where}: not valid JSON ({msg[:120]})",
                     hint="one JSON object per line: {\"a\": 1.5, \"b\": 2}") from None
    except (RecursionError, ValueError):
        raise _error(f"{path}: line {line} is not valid JSON") from None
    if not isinstance(obj, dict):
        what = "an array" if isinstance(obj, list) else "a " + type(obj).__name__.replace(
            "NoneType", "null")
        raise _error(f"{path}: line {line} holds {what}, not an object of name -> value",
                     hint="one JSON object per line: {\"a\": 1.5, \"b\": 2}")
    return obj


def _value(v, line: int, name: str, path: str):
    """A cell: a float, or an array for nested lists."""
    t = type(v)
    if t is float or t is int:
        return float(v)
    if t is str and v in _WORDS:
        return _WORDS[v]
    if t is list:
        try:
            arr = np.array(_nested(v, line, name, path, 0), dtype=np.float64)
        except (ValueError, RecursionError):
            raise _error(f"{path}: line {line} ({name}): ragged nesting (lists of different "
                         "lengths or depths)", hint="arrays must be rectangular") from None
        return arr
    what = "null" if v is None else "true" if v is True else "false" if v is False else \
        repr(v)[:60] if t is str else type(v).__name__
    raise _error(f"{path}: line {line} ({name}): {what} is not a number",
                 hint="a value is a number or nested lists of numbers")


def _nested(v, line: int, name: str, path: str, depth: int):
    if depth > MAX_DEPTH:
        raise _error(f"{path}: line {line} ({name}): nested deeper than {MAX_DEPTH} levels")
    if isinstance(v, list):
        return [_nested(x, line, name, path, depth + 1) for x in v]
    return _value(v, line, name, path)


def _shape(v) -> tuple:
    return () if isinstance(v, float) else v.shape


def header_of(fp, path: str) -> tuple:
    """(Header, byte offset of the first line, its line number 1) from the file's first
    object (`fp` at the file's start; left there)."""
    loads = _loads()
    line = 0
    start = fp.tell()
    while True:
        raw = fp.readline()
        if not raw:
            raise _error(f"{path} is empty: no rows")
        line += 1
        if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if raw.strip():
            break
    obj = _object(raw, line, path, loads)
    if not obj:
        raise _error(f"{path}: line {line} is an empty object: it names no column")
    names = checked_header([str(k) for k in obj], path)
    header = Header(names)
    header.shapes = {n: _shape(_value(v, line, n, path)) for n, v in zip(names, obj.values())}
    fp.seek(start)
    return header, start, 1


def parse_block(data: bytes, header: list, first_row: int, path: str,
                skip_bad: bool) -> Table:
    """The rows of a block of whole lines (`first_row`: the number of its first line)."""
    import unicodedata

    from ..datafiles import DataFileError

    loads = _loads()
    names = list(header)
    shapes = getattr(header, "shapes", None) or {}
    keys = {}  # a line's key -> the column it names (NFKC, as the header)
    cols: list = [[] for _ in names]
    bad, kept = [], []
    if first_row == 1 and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for k, raw in enumerate(data.split(b"\n")):
        if not raw.strip():
            continue
        line = first_row + k
        try:
            obj = _object(raw, line, path, loads)
            row = [None] * len(names)
            for key, v in obj.items():
                j = keys.get(key)
                if j is None:
                    norm = unicodedata.normalize("NFKC", str(key))
                    if norm not in names:
                        raise _error(f"{path}: line {line}: '{key}' is not a column (the first "
                                     f"line names {', '.join(names)})",
                                     hint="every line gives the same names")
                    j = keys[key] = names.index(norm)
                row[j] = _value(v, line, names[j], path)
            for j, v in enumerate(row):
                if v is None:
                    raise _error(f"{path}: line {line}: no value for '{names[j]}'",
                                 hint="every line gives the same names")
                want = shapes.get(names[j], ())
                if _shape(v) != want:
                    got = _shape(v)
                    raise _error(f"{path}: line {line} ({names[j]}): a value of shape "
                                 f"{list(got)}, where the first line gives {list(want)}",
                                 hint="a column holds values of one shape")
        except DataFileError as exc:
            if not skip_bad:
                raise
            bad.append((line, exc.message))
            continue
        for j, v in enumerate(row):
            cols[j].append(v)
        kept.append(line)
    values = {}
    for j, name in enumerate(names):
        shape = shapes.get(name, ())
        values[name] = np.array(cols[j], dtype=np.float64).reshape((len(kept),) + tuple(shape))
        cols[j] = None
    t = Table(names, values, first_row, path)
    t.bad = bad
    if kept and kept[-1] - first_row + 1 != len(kept):  # blank or bad lines left out
        t.row_numbers = np.array(kept)
    return t
