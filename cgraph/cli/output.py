"""How results are shown: JSON, plain text, or Rich tables on a terminal.

One `Printer` per run decides, from the common flags, how everything is
printed; the commands (and the draw/batch plug-ins) only say what:

- `Printer(opts)`: `.json` (one JSON document on stdout, nothing else there;
  the program's `print` output is sent to stderr), `.rich` (stdout is a
  terminal and not --json: Rich tables), otherwise plain aligned text with no
  colour codes (piped, or NO_COLOR).
- `printer.show(arr)`: an array as text: scalars inline (`-5`), small arrays
  in full and aligned, big ones summarised (shape, dtype, min, max, mean, a
  few values), `--precision` significant digits (default 6).
- `printer.entry(arr)`: `{"value": nested lists, "shape": [...]}` for JSON.
- `printer.document(doc)`: write the JSON document.
- `printer.line(text)`, `printer.table(headers, rows, title=None)`.
- `jsonable(arr, digits=None)`: an array as JSON-ready nested lists; NaN and
  infinities become the strings "NaN", "Infinity", "-Infinity" (strict JSON
  has no numbers for them), float32 values their shortest decimal form.
- `fmt_number(x, digits)`.

Rich is imported only when a table goes to a terminal.
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np

DEFAULT_DIGITS = 6
SMALL = 100          # arrays with at most this many elements (and rank <= 2) print in full
SMALL_RANK = 3
PREVIEW = 4          # values shown in a summary


# ------------------------------------------------------------------ numbers
def fmt_number(x, digits: int = DEFAULT_DIGITS) -> str:
    """A scalar as text: `-5`, `0.333333`, `1e+10`, `nan`, `inf`, `true`."""
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    from ..numfmt import fmt_float

    return fmt_float(float(x), digits)


def _cells(arr: np.ndarray, digits: int) -> list[str]:
    flat = arr.reshape(-1)
    if arr.dtype.kind == "b":
        return ["true" if v else "false" for v in flat.tolist()]
    if arr.dtype.kind in "iu":
        return [str(v) for v in flat.tolist()]
    return [fmt_number(v, digits) for v in flat.tolist()]


def _nested(cells: list[str], shape: tuple, width: int, indent: int) -> str:
    if len(shape) == 1:
        return "[" + ", ".join(c.rjust(width) for c in cells) + "]"
    n = shape[0]
    step = len(cells) // n if n else 0
    rows = [_nested(cells[i * step:(i + 1) * step], shape[1:], width, indent + 1) for i in range(n)]
    sep = ",\n" + "\n" * (len(shape) - 2) + " " * (indent + 1)
    return "[" + sep.join(rows) + "]"


def show_array(value, digits: int = DEFAULT_DIGITS) -> str:
    """Scalars inline, small arrays in full (aligned), big arrays summarised."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return fmt_number(arr.item(), digits)
    if arr.size == 0:
        return "[]" if arr.ndim == 1 else f"(empty, shape {list(arr.shape)})"
    if arr.size <= SMALL and arr.ndim <= SMALL_RANK:
        cells = _cells(arr, digits)
        return _nested(cells, arr.shape, max(map(len, cells)), 0)
    return summary(arr, digits)


def summary(arr: np.ndarray, digits: int = DEFAULT_DIGITS) -> str:
    """`float64 [1000, 10]  min -3.1  max 3.2  mean 0.012  [0.5, 1.2, …, 0.7]`."""
    flat = arr.reshape(-1)
    head = f"{arr.dtype.name} {list(arr.shape)}"
    if arr.dtype.kind in "fiu" and flat.size:
        finite = flat[np.isfinite(flat)] if arr.dtype.kind == "f" else flat
        if finite.size:
            head += (f"  min {fmt_number(finite.min(), digits)}  max {fmt_number(finite.max(), digits)}"
                     f"  mean {fmt_number(finite.mean(), digits)}")
        bad = flat.size - finite.size
        if bad:
            head += f"  ({bad} not finite)"
    picks = _cells(flat[:PREVIEW - 1], digits) + ["…"] + _cells(flat[-1:], digits) \
        if flat.size > PREVIEW else _cells(flat, digits)
    return head + "  [" + ", ".join(picks) + "]"


def shape_text(value) -> str:
    return "[" + ", ".join(str(d) for d in np.shape(value)) + "]"


# --------------------------------------------------------------------- JSON
_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _clean(x):
    if isinstance(x, list):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return _NONFINITE[fmt_number(x)]
    return x


def jsonable(value, digits=None):
    """An array as JSON-ready nested lists (a scalar as a number)."""
    arr = np.asarray(value)
    if arr.dtype.kind == "f" and arr.size and (digits is not None or arr.dtype != np.float64):
        if digits is not None:
            flat = [float(f"{v:.{digits}g}") for v in arr.reshape(-1).tolist()]
        else:  # float32: the shortest decimal that reads back as the same float32
            flat = [float(np.format_float_positional(v, unique=True, trim="-"))
                    for v in arr.reshape(-1)]
        data = np.array(flat, dtype=np.float64).reshape(arr.shape).tolist()
    else:
        data = arr.tolist()
    if arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
        data = _clean(data)
    return data


def dumps(doc) -> str:
    import json

    try:
        return json.dumps(doc, ensure_ascii=False, allow_nan=False)
    except ValueError:  # a NaN or infinity outside an array (a --check error, say)
        return json.dumps(_finite(doc), ensure_ascii=False, allow_nan=False)


def _finite(v):
    """Floats NaN and ±inf as the strings jsonable uses: strict JSON has no numbers for them."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else "Infinity" if v > 0 else "-Infinity"
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


# ------------------------------------------------------------------ printer
class Printer:
    def __init__(self, opts=None):
        self.json = bool(getattr(opts, "json", False))
        self.quiet = bool(getattr(opts, "quiet", False))
        self.json_digits = getattr(opts, "precision", None)
        self.digits = self.json_digits or DEFAULT_DIGITS
        # Rich only on a terminal, and never with NO_COLOR (Rich would still bold)
        self.rich = not self.json and _isatty(sys.stdout) and "NO_COLOR" not in os.environ
        self._console = None
        if self.json:
            from ..ops.internal import PRINT

            PRINT["stream"] = sys.stderr  # stdout holds the JSON document only

    # ------------------------------------------------------------- values
    def show(self, value) -> str:
        return show_array(value, self.digits)

    def shape(self, value) -> str:
        return shape_text(value)

    def entry(self, value, **extra) -> dict:
        out = {"value": jsonable(value, self.json_digits), "shape": list(np.shape(value))}
        out.update(extra)
        return out

    # ------------------------------------------------------------ writing
    def document(self, doc: dict) -> None:
        sys.stdout.write(dumps(doc) + "\n")
        sys.stdout.flush()

    def line(self, text: str = "") -> None:
        print(text, flush=False)

    def lines(self, texts) -> None:
        for t in texts:
            print(t)

    @property
    def console(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False, soft_wrap=False)
        return self._console

    def table(self, headers, rows, title: str | None = None, dim_rows=(), justify=None) -> None:
        """A table: Rich on a terminal, aligned plain text otherwise.
        `justify`: per column "left"/"right" (default: left)."""
        justify = justify or ["left"] * len(headers)
        text = plain_table(headers, rows, justify)
        # wider than the terminal: Rich would cut numbers ("1.2…"); the plain table
        # keeps every digit and lets the terminal wrap its lines
        if self.rich and max((len(line) for line in text.split("\n")), default=0) + 2 \
                <= self.console.width:
            from rich.table import Table
            from rich import box

            t = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", show_edge=False)
            for h, j in zip(headers, justify):
                t.add_column(h, justify=j, no_wrap=False)
            for k, row in enumerate(rows):
                t.add_row(*row, style="dim" if k in dim_rows else None)
            self.console.print(t)
            return
        if title and not self.quiet:
            print(title)
        print(text)


def plain_table(headers, rows, justify=None) -> str:
    """Columns separated by two spaces; multi-line cells stay aligned."""
    justify = justify or ["left"] * len(headers)
    split_rows = [[str(c).split("\n") for c in row] for row in [list(headers)] + [list(r) for r in rows]]
    widths = [max(len(line) for row in split_rows for line in row[k]) for k in range(len(headers))]
    out = []
    for row in split_rows:
        height = max(len(c) for c in row)
        for i in range(height):
            parts = []
            for k, cell in enumerate(row):
                text = cell[i] if i < len(cell) else ""
                last = k == len(row) - 1
                if justify[k] == "right":
                    parts.append(text.rjust(widths[k]))
                else:
                    parts.append(text if last else text.ljust(widths[k]))
            out.append("  ".join(parts).rstrip())
    return "\n".join(out)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
