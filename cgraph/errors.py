"""The one error type of cgraph and the one way diagnostics are rendered.

Every mistake a user can make becomes a `Diagnostic` (kind, message, span,
hint) inside a `CgraphError`; the CLI renders them with `render`, the API
raises them. Several diagnostics found in one pass travel together.
"""
from __future__ import annotations

import os
import sys
from typing import Iterable, Optional, Sequence

from .records import Frozen
from .source import Span

KINDS = ("syntax", "name", "shape", "type", "value", "runtime", "usage", "io")


class Diagnostic(Frozen):
    __slots__ = ("kind", "message", "span", "hint", "line_text")
    _defaults = {"span": None, "hint": None, "line_text": None}
    kind: str
    message: str
    span: Optional[Span]
    hint: Optional[str]
    line_text: Optional[str]  # the source line the span starts on

    @property
    def line(self) -> Optional[int]:
        return self.span.line if self.span else None

    @property
    def column(self) -> Optional[int]:
        return self.span.column if self.span else None

    def to_json(self) -> dict:
        out = {"kind": self.kind, "message": self.message,
               "line": self.line, "column": self.column}
        if self.span:
            out["file"] = self.span.file
        if self.hint:
            out["hint"] = self.hint
        return out


class AssertionFailed(Exception):
    """An `assert` whose condition was false, raised by the op; the executor
    turns it into a located CgraphError."""


class CgraphError(Exception):
    """A user's mistake (or a failed run), with every diagnostic found.

    `kind`, `message`, `line`, `column`, `hint` describe the first one;
    `errors` holds them all.
    """

    def __init__(self, errors: Sequence[Diagnostic] | str, kind: str = "runtime",
                 span: Optional[Span] = None, hint: Optional[str] = None):
        if isinstance(errors, str):
            errors = [Diagnostic(kind, errors, span, hint)]
        if not errors:
            raise ValueError("CgraphError needs at least one diagnostic")
        self.errors: list[Diagnostic] = list(errors)
        super().__init__(self.errors[0].message)

    first = property(lambda self: self.errors[0])
    kind = property(lambda self: self.first.kind)
    message = property(lambda self: self.first.message)
    line = property(lambda self: self.first.line)
    column = property(lambda self: self.first.column)
    hint = property(lambda self: self.first.hint)
    span = property(lambda self: self.first.span)

    def __str__(self) -> str:
        return render(self.errors, color=False)

    def with_source(self, file: str, text: str) -> "CgraphError":
        """Fill in the source line of every diagnostic located in `file`."""
        lines = None
        fixed = []
        for d in self.errors:
            if d.line_text is None and d.span is not None and d.span.file == file and d.span.line > 0:
                if lines is None:
                    lines = text.split("\n")  # not splitlines: form feed is not a line break here
                if d.span.line <= len(lines):
                    d = d.replace(line_text=lines[d.span.line - 1])
            fixed.append(d)
        self.errors = fixed
        return self


class MissingInputs(CgraphError):
    """Inputs the program needs and was not given (`names`): a drawing of the
    structure alone is still possible, a run is not."""

    def __init__(self, errors, names: Sequence[str]):
        super().__init__(errors)
        self.names = list(names)


class NotScalar(CgraphError):
    """A gradient was asked of an output that is not a scalar."""


class OverLimit(CgraphError):
    """The run passed a limit of the whole run (memory): building stops there."""


def use_color(stream=None) -> bool:
    """Colour only on a terminal and never with NO_COLOR set."""
    stream = stream or sys.stderr
    if os.environ.get("NO_COLOR") is not None:
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def _caret(d: Diagnostic) -> str:
    text = d.line_text.expandtabs(1) if d.line_text is not None else ""
    start = max(d.span.column, 1)
    if d.span.end_line == d.span.line and d.span.end_column > d.span.column:
        width = d.span.end_column - d.span.column
    else:
        width = 1
    width = max(1, min(width, max(1, len(text) - start + 1)))
    return " " * (start - 1) + "^" * width


MAX_LINE = 200    # characters of a source line a diagnostic shows
MAX_SHOWN = 100   # diagnostics printed; the rest are counted
_CONTROLS = {c: chr(0x2400 + c) for c in range(0x20) if c not in (9, 10)}
_CONTROLS[0x7F] = "\u2421"
_CONTROLS.update({c: "\ufffd" for c in range(0x80, 0xA0)})


def visible(text: str) -> str:
    """Control characters (ESC, BEL, CSI...) from a program or a file shown as
    symbols (␛, ␇), one character each so carets stay aligned: a diagnostic
    quoting hostile source never drives the terminal."""
    return text.translate(_CONTROLS)


def render_one(d: Diagnostic, color: bool = False) -> str:
    """`file:line:col: kind error: message`, the line, a caret, the hint."""
    red, blue, bold, dim, reset = (("\x1b[31;1m", "\x1b[36m", "\x1b[1m", "\x1b[2m", "\x1b[0m")
                                   if color else ("",) * 5)
    where = visible(f"{d.span}: ") if d.span and d.span.line > 0 else ""
    out = [f"{bold}{where}{reset}{red}{d.kind} error{reset}{bold}: {visible(d.message)}{reset}"]
    if d.span and d.line_text is not None:
        num = str(d.span.line)
        text, caret = d.line_text.expandtabs(1), _caret(d)
        if len(text) > MAX_LINE:  # a window around the caret, not a megabyte of source
            lo = max(0, min(d.span.column - 1 - MAX_LINE // 3, len(text) - MAX_LINE))
            hi = lo + MAX_LINE
            text = ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")
            caret = (" " if lo else "") + caret[lo:hi]
        out.append(f"{dim}{num} |{reset} {visible(text)}")
        out.append(f"{dim}{' ' * len(num)} |{reset} {red}{caret}{reset}")
    if d.hint:
        out.append(f"{blue}hint{reset}: {visible(d.hint)}")
    return "\n".join(out)


def render(errors: Sequence[Diagnostic], color: bool = False) -> str:
    shown = [render_one(d, color) for d in errors[:MAX_SHOWN]]
    if len(errors) > MAX_SHOWN:
        shown.append(f"… and {len(errors) - MAX_SHOWN:,} more")
    return "\n\n".join(shown)


def name_list(names, limit: int = 20) -> str:
    """'a, b, c', or the first `limit` names and how many in all."""
    names = list(names)
    text = ", ".join(names[:limit])
    return text + (f", … ({len(names):,} in all)" if len(names) > limit else "")


def nearest(name: str, candidates: Iterable[str]) -> Optional[str]:
    """The candidate a typo most likely meant, if any is close enough."""
    import difflib

    found = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return found[0] if found else None
