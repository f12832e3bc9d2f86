"""Issue 17: the inputs of a batch run — a whole CSV file read by pyarrow a block
at a time (the same numbers and diagnostics as the exact reader, whatever the
blocks), and .jsonl inputs (one JSON object per line)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from cli_runner import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED_BATCH = os.path.join(ROOT, "examples", "seed_batch.cg")


def _values(n, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=n) * 10.0 ** rng.integers(-8, 9, n) for k in "abc"}


def _csv(path, cols, end="\n", last=True):
    names = list(cols)
    lines = [",".join(names)] + [",".join(repr(float(cols[k][r])) for k in names)
                                 for r in range(len(cols[names[0]]))]
    path.write_text(end.join(lines) + (end if last else ""))
    return path


# ------------------------------------------------------------ CSV, in blocks
@pytest.mark.parametrize("end,last", [("\n", True), ("\r\n", True), ("\n", False)])
def test_a_csv_read_in_small_blocks_gives_every_number(tmp_path, monkeypatch, end, last):
    from cgraph.batch import readers

    cols = _values(500)
    f = _csv(tmp_path / "r.csv", cols, end, last)
    whole = readers.read_table(f)
    monkeypatch.setattr(readers, "PARSE_BYTES", 64)  # dozens of blocks, some of one line
    t = readers.read_table(f)
    for k in "abc":
        np.testing.assert_array_equal(t.values[k], cols[k])
        np.testing.assert_array_equal(whole.values[k], cols[k])
    assert t.first_row == 2 and t.row_numbers is None


def test_a_bad_cell_in_a_late_block_is_named_as_the_exact_reader_names_it(tmp_path,
                                                                          monkeypatch):
    from cgraph.batch import readers
    from cgraph.datafiles import DataFileError

    cols = _values(300)
    f = _csv(tmp_path / "r.csv", cols)
    lines = f.read_text().splitlines()
    lines[250] = lines[250].split(",")[0] + ",oops," + lines[250].split(",")[2]
    lines.insert(100, "")  # a blank line: left out, the numbering kept
    f.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(readers, "PARSE_BYTES", 256)
    with pytest.raises(DataFileError, match=r"row 252, column 2 \(b\): 'oops' is not a number"):
        readers.read_table(f)
    t = readers.read_table(f, skip_bad=True)
    assert t.rows == 299 and [r for r, _ in t.bad] == [252]
    assert t.row_number(98) == 100 and t.row_number(99) == 102
