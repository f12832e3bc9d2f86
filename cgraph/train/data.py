"""The rows a program is trained on: `Dataset`, read from .csv, .npz or .parquet.

- `.csv`: the header names the columns; columns `x[0], x[1], …` (or `W[0,1]`,
  row-major, as batch runs write them) make one value of shape [k] (or
  [2, 3]) per row for `x`;
- `.npz`: one array per name, the first axis is the rows (never pickle);
- `.parquet` (pyarrow, imported only for it): numeric columns, fixed-size
  list columns as vectors, and `x[i]` column groups as in CSV.

Every column has the same number of rows. Mistakes raise `DataFileError`
naming the file (and the column).
"""
from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..datafiles import DataFileError

SUFFIXES = (".csv", ".npz", ".parquet")
_INDEXED = re.compile(r"^(.+)\[(\d+(?:,\d+)*)\]$")


@dataclass
class Dataset:
    """name -> array whose first axis is the rows, and where it came from."""

    columns: dict
    path: Optional[str] = None

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def take(self, idx) -> dict:
        return {k: v[idx] for k, v in self.columns.items()}

    def split(self, fraction: float) -> tuple["Dataset", "Dataset"]:
        """(training rows, validation rows): the last `fraction` of the rows, in
        file order, are kept for validation (as Keras's validation_split)."""
        n = self.rows
        k = int(np.ceil(n * fraction))
        if not 0 < k < n:
            raise DataFileError(f"--val {fraction} leaves {'no' if k == 0 else 'every'} row of "
                                f"the {n} for validation", hint="give a fraction between 0 and 1 "
                                "that keeps rows on both sides")
        return (Dataset({c: v[:n - k] for c, v in self.columns.items()}, self.path),
                Dataset({c: v[n - k:] for c, v in self.columns.items()}, self.path))


def read_data(path) -> Dataset:
    """The columns of a .csv, .npz or .parquet file (see the module docstring)."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        from ..batch.readers import read_table

        t = read_table(path)
        cols = group_columns(t.columns, [t.values[c] for c in t.columns], path)
    elif ext == ".npz":
        from ..datafiles import read_npz_values

        cols = read_npz_values(path)
    elif ext == ".parquet":
        cols = _read_parquet(path)
    else:
        raise DataFileError(f"cannot read training data from {path}: the name must end in "
                            f"{', '.join(SUFFIXES)}")
    return checked(Dataset(cols, path))


def _nfkc(cols: dict, where: str) -> dict:
    """Column names as the source's names are (NFKC: 'ﬁ' is 'fi')."""
    out = {}
    for k, v in cols.items():
        name = unicodedata.normalize("NFKC", str(k))
        if name in out:
            raise DataFileError(f"{where}: the column '{k}' is given twice (as '{name}')")
        out[name] = v
    return out


def checked(d: Dataset) -> Dataset:
    """The same number of rows in every column, and at least one row."""
    where = d.path or "the data"
    d.columns = _nfkc(d.columns, where)
    if not d.columns:
        raise DataFileError(f"{where} has no columns")
    n = None
    for name, v in d.columns.items():
        v = d.columns[name] = np.asarray(v)
        if v.ndim == 0:
            raise DataFileError(f"{where}: '{name}' is a single number, not one value per row",
                                hint="give it as NAME=VALUE on the command line instead")
        if n is None:
            n, first = v.shape[0], name
        elif v.shape[0] != n:
            raise DataFileError(f"{where}: '{name}' has {v.shape[0]} rows, '{first}' {n}")
    if not n:
        raise DataFileError(f"{where} has no rows")
    return d


def group_columns(names: list, arrays: list, path: str) -> dict:
    """Columns named x[0], x[1]... (or W[i,j]) stacked into one (rows, ...) array."""
    out: dict = {}
    groups: dict = {}
    for name, arr in zip(names, arrays):
        m = _INDEXED.match(name)
        if m is None:
            out[name] = arr
            continue
        base, idx = m.group(1), tuple(int(i) for i in m.group(2).split(","))
        groups.setdefault(base, []).append((idx, arr))
        out.setdefault(base, None)  # keeps the column order
    for base, items in groups.items():
        if out.get(base) is not None:
            raise DataFileError(f"{path}: '{base}' is both a column and a group {base}[…]")
        ranks = {len(i) for i, _ in items}
        if len(ranks) != 1:
            raise DataFileError(f"{path}: the columns {base}[…] mix indices of different lengths")
        shape = tuple(max(i[k] for i, _ in items) + 1 for k in range(ranks.pop()))
        want = list(np.ndindex(*shape))
        have = sorted(i for i, _ in items)
        if have != want:
            missing = sorted(set(want) - set(have))
            what = (f"lacks {base}[{','.join(map(str, missing[0]))}]" if missing
                    else f"repeats a column of {base}")
            raise DataFileError(f"{path}: the column group {base}[…] {what}",
                                hint=f"give every {base}[i] from 0 up, one column each")
        by_index = dict(items)
        n = len(items[0][1])
        stacked = np.empty((n, len(want)), np.float64)
        for j, i in enumerate(want):
            stacked[:, j] = by_index[i]
        out[base] = stacked.reshape((n,) + shape)
    return out


def _read_parquet(path: str) -> dict:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataFileError(f"reading {path} needs pyarrow, which is not installed",
                            hint="pip install pyarrow (a dependency of cgraph)") from None
    from ..datafiles import check_file

    check_file(path)
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid, OSError...
        raise DataFileError(f"{path} is not a readable Parquet file ({exc})") from None
    names, arrays = [], []
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        try:
            if col.null_count:
                raise ValueError("it has missing values")
            values = col.to_numpy(zero_copy_only=False)
            if values.dtype == object:  # a list column: one vector per row
                values = np.stack([np.asarray(v) for v in values]) if len(values) else values
            if values.dtype.kind not in "iufb":
                raise ValueError(f"it holds {col.type} values, not numbers")
        except (ValueError, TypeError) as exc:
            raise DataFileError(f"{path}: column '{name}' cannot be read as numbers: {exc}") \
                from None
        names.append(name)
        arrays.append(values.astype(np.float64))
    return group_columns(names, arrays, path)
