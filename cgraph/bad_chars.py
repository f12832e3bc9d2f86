"""What the lexer does where no token matches: a stray character is
reported (with a hint for look-alikes such as '−' or '×') and skipped; an
unterminated string is reported and skipped to the end of its line."""
from __future__ import annotations

from .errors import Diagnostic
from .source import Span

__all__ = ["BadChars"]

_CHAR_HINTS = {
    "\u2212": "use '-' (the ASCII minus)", "\u2013": "use '-' (the ASCII minus)",
    "\u00d7": "use '*' to multiply", "\u00b7": "use '*' to multiply, '@' for a matrix product",
    "\u00f7": "use '/' to divide", "\u2264": "use '<='", "\u2265": "use '>='", "\u2260": "use '!='",
    "\u201c": 'use straight quotes: "..."', "\u201d": 'use straight quotes: "..."',
    "\u2018": 'use straight quotes: "..."', "\u2019": 'use straight quotes: "..."',
    "\u00b2": "write x^2", "\u00b3": "write x^3",
    "!": "use 'not' for negation; '!=' means not equal",
    "&": "use 'and'", "|": "use 'or'",
    "{": "tensor literals use square brackets: [[1, 2], [3, 4]]",
    "}": "tensor literals use square brackets: [[1, 2], [3, 4]]",
    "?": "for a choice between values use where(cond, a, b)",
    "\\": "a backslash continues a line only at the very end of the line",
}


def _show_char(ch: str) -> str:
    return f"'{ch}'" if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"


class BadChars:
    """What the lexer does where no token matches (both engines): a stray
    character is reported and skipped (a run of them, one report); an
    unterminated string is reported and skipped to the end of its line."""

    def __init__(self, text: str, file: str, diags: list):
        self.text, self.file, self.diags = text, file, diags
        self.last_bad = None  # (index in diags, end, start, printable) of the run of bad characters

    def __call__(self, pos: int, line: int, col: int) -> int:
        """Report what is at `pos`; returns where lexing carries on."""
        text, file, diags = self.text, self.file, self.diags
        ch = text[pos]
        if ch in "\"'":
            eol = text.find("\n", pos)
            eol = len(text) if eol < 0 else eol
            diags.append(Diagnostic("syntax", "unterminated string",
                                    Span(file, line, col, line, col + eol - pos),
                                    f"close the string with {ch} on the same line"))
            self.last_bad = None
            return eol
        last_bad = self.last_bad
        if last_bad is not None and last_bad[1] == pos:
            k, _, start, printable = last_bad
            printable = printable and ch.isprintable()
            s = diags[k].span
            n = pos + 1 - start  # the run so far: shown in part, never sliced whole
            if not printable:
                shown = "characters"
            elif n > 40:
                shown = f"'{text[start:start + 40]}…' ({n:,} characters)"
            else:
                shown = f"'{text[start:pos + 1]}'"
            diags[k] = Diagnostic("syntax", f"unexpected characters {shown}",
                                  Span(file, s.line, s.column, s.line, s.end_column + 1), diags[k].hint)
            self.last_bad = (k, pos + 1, start, printable)
        else:
            diags.append(Diagnostic("syntax", f"unexpected character {_show_char(ch)}",
                                    Span(file, line, col, line, col + 1), _CHAR_HINTS.get(ch)))
            self.last_bad = (len(diags) - 1, pos + 1, pos, ch.isprintable())
        return pos + 1
