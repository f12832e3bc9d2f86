"""The rows of a batch run and what the run produced: `Table` (the columns of a
.csv or .parquet file; `readers` reads them) and `BatchResult`."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np



@dataclass
class Table:
    """The columns of a CSV file: names, one 1-D float64 array each, and the
    spreadsheet row number of the first data row (2 under a header)."""

    columns: list
    values: dict
    first_row: int = 2
    path: Optional[str] = None
    bad: list = field(default_factory=list)   # rows left out: (row number, message)
    row_numbers: Optional[np.ndarray] = None  # when rows were left out: each row's number

    @property
    def rows(self) -> int:
        return len(next(iter(self.values.values()))) if self.values else 0

    def row_number(self, r: int) -> int:
        """The number of row r (0-based) as the file's reader shows it."""
        return int(self.row_numbers[r]) if self.row_numbers is not None else self.first_row + r


def checked_header(header, path) -> list:
    """The column names, NFKC-normalised as the source's names are; an empty or a
    repeated name is a DataFileError naming its column."""
    from ..datafiles import DataFileError

    seen = set()
    header = [unicodedata.normalize("NFKC", name) for name in header]
    for j, name in enumerate(header):
        if not name:
            raise DataFileError(f"{path}: row 1, column {j + 1}: the column has no name",
                                hint="the header names one input per column")
        if name in seen:
            raise DataFileError(f"{path}: row 1, column {j + 1}: the column '{name}' appears twice")
        seen.add(name)
    return header


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
    written: list = field(default_factory=list)     # a streamed run: the columns written
    skipped: list = field(default_factory=list)     # --skip-bad-rows: (row number, message)

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
