"""Source locations: where each AST node and graph node came from."""
from __future__ import annotations

from .records import Frozen


class Span(Frozen):
    """A 1-based, end-exclusive region of one source file."""

    __slots__ = ("file", "line", "column", "end_line", "end_column")
    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def to(self, other: "Span") -> "Span":
        """The span from the start of self to the end of other."""
        return Span(self.file, self.line, self.column, other.end_line, other.end_column)


NOWHERE = Span("<builtin>", 0, 0, 0, 0)
