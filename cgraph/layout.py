"""Python's layout rules over the token stream: NEWLINE, INDENT and DEDENT
from indentation, no NEWLINE inside brackets; stray, mismatched and
never-closed brackets reported."""
from __future__ import annotations

from collections import deque
from typing import Optional

from .errors import Diagnostic
from .syntax_errors import span_of

__all__ = ["Layout", "Reparse"]

OPENS = {"LPAR": ("RPAR", ")"), "LSQB": ("RSQB", "]")}
CLOSES = {"RPAR": "(", "RSQB": "["}
SOFT = frozenset({"INPUT", "PARAM", "CONST", "OUTPUT"})
"""Soft keywords: a name where a name is expected (`param = 3`)."""
NAMEISH = frozenset({"NAME"}) | SOFT


class Reparse(Exception):
    """Brackets were left open at the end: parse again knowing which."""

    def __init__(self, never_closed: frozenset):
        self.never_closed = never_closed


class Layout:
    """Python's layout rules over the token stream, as lark's `Indenter`
    does (same token names), plus what good diagnostics need: indentation
    is compared as strings, so a tab is never guessed to be some number of
    spaces (a line whose indentation cannot be ordered against its block's
    is an error); stray and mismatched closers are reported; a bracket that
    is never closed is reported where it opens and, on the second pass,
    does not swallow the rest of the file."""

    NL_type = "_NEWLINE"
    OPEN_PAREN_types = ("LPAR", "LSQB")
    CLOSE_PAREN_types = ("RPAR", "RSQB")
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"

    def __init__(self, tokens, text: str, file: str, diags: list, token_cls,
                 never_closed: frozenset = frozenset()):
        self.src, self.text = tokens, text
        self.file, self.diags, self.Token = file, diags, token_cls
        self.never_closed = never_closed   # start positions of brackets
        self.ahead = None                  # one raw token of lookahead
        self.pending: deque = deque()
        self.brackets: list = []
        self.unclosed_indent: Optional[str] = None
        self.stmt_start = True
        self.last = None                   # the last real token handed out
        self.last_type = None
        self.done = False
        self.levels: list = []             # set by the first line of code
        self.phantom = [False]

    def _diag(self, message: str, tok, hint: Optional[str] = None) -> None:
        self.diags.append(Diagnostic("syntax", message, span_of(tok, self.file), hint))

    def _raw(self):
        if self.ahead is not None:
            t, self.ahead = self.ahead, None
            return t
        return next(self.src, None)

    def _peek(self):
        if self.ahead is None:
            self.ahead = next(self.src, None)
        return self.ahead

    def _at_end(self, type_: str):
        t = self.last
        if t is None:
            return self.Token(type_, "", 0, 1, 1, 1, 1, 0)
        return self.Token(type_, "", t.end_pos, t.end_line, t.end_column, t.end_line, t.end_column, t.end_pos)

    # -- the token stream
    def next(self):
        if self.pending:
            return self.pending.popleft()
        Token, src = self.Token, self.src
        while True:
            t = self.ahead      # self._raw(), inline: this runs once a token
            if t is not None:
                self.ahead = None
            else:
                t = next(src, None)
            if t is None:
                return self._eof()
            ty = t.type
            if ty == "_NEWLINE":
                if self.brackets:
                    continue
                if self.unclosed_indent is not None:
                    ind = t.value[t.value.rfind("\n") + 1:]
                    ref = self.unclosed_indent
                    if len(ind) > len(ref) and ind.startswith(ref) and self._peek() is not None:
                        continue    # still the statement whose bracket never closes
                    self.unclosed_indent = None
                return self._newline(t)
            if not self.levels:
                # the first line of code sets the base indentation, so a
                # pasted one-liner with leading spaces is fine
                self.levels.append(self.text[t.start_pos - (t.column - 1):t.start_pos])
            if ty in OPENS:
                if t.start_pos in self.never_closed:
                    self._diag(f"'{t}' opened at {t.line}:{t.column} is never closed", t,
                               f"add the matching '{OPENS[ty][1]}'")
                    if self.unclosed_indent is None:
                        self.unclosed_indent = self.levels[-1]
                else:
                    self.brackets.append(t)
            elif ty in CLOSES:
                if not self.brackets:
                    self._diag(f"unexpected '{t}'", t, f"there is no '{CLOSES[ty]}' for it to close")
                    continue
                o = self.brackets.pop()
                want, ch = OPENS[o.type]
                if want != ty:
                    self._diag(f"'{t}' does not match '{o}' opened at {o.line}:{o.column}", t,
                               f"close it with '{ch}'")
                    t = Token.new_borrow_pos(want, ch, t)
                    ty = want
            elif ty in SOFT:
                nxt = self._peek()
                if not (self.stmt_start and nxt is not None and nxt.type in NAMEISH):
                    t = Token.new_borrow_pos("NAME", t.value, t)
                    ty = "NAME"
            self.stmt_start = ty == "SEMICOLON" or (ty == "COLON" and not self.brackets)
            self.last = t
            self.last_type = ty
            return t

    def _newline(self, nl):
        self.stmt_start = True
        self.last_type = "_NEWLINE"
        nxt = self._peek()
        if nxt is None:
            return nl       # the last line break: the end follows
        ind = nl.value[nl.value.rfind("\n") + 1:]
        levels, pending = self.levels, self.pending
        if not levels:
            levels.append(ind)
            return nl
        cur = levels[-1]
        if ind == cur:
            return nl
        if ind.startswith(cur):
            levels.append(ind)
            self.phantom.append(False)
            pending.append(self.Token.new_borrow_pos("_INDENT", "", nxt))
            return nl
        popped = []
        while len(levels) > 1 and not ind.startswith(levels[-1]):
            popped.append(levels.pop())
            if not self.phantom.pop():
                pending.append(self.Token.new_borrow_pos("_DEDENT", "", nxt))
        if ind != levels[-1]:
            if {" ", "\t"} <= set(ind).union(*popped, levels[-1]):
                self._diag("this line's indentation mixes tabs and spaces inconsistently "
                           "with the lines above", nxt, "indent with spaces only (or tabs only)")
            else:
                self._diag("unindent does not match any outer indentation level", nxt,
                           "line it up with the block it belongs to")
        return nl

    def _eof(self):
        if self.brackets:
            raise Reparse(frozenset(b.start_pos for b in self.brackets))
        if not self.done:
            self.done = True
            if self.last_type not in (None, "_NEWLINE"):
                self.pending.append(self._at_end("_NEWLINE"))
            while len(self.levels) > 1:
                self.levels.pop()
                if not self.phantom.pop():
                    self.pending.append(self._at_end("_DEDENT"))
            self.pending.append(self._at_end("$END"))
        if len(self.pending) > 1:
            return self.pending.popleft()
        return self.pending[0]   # $END, for ever

    # -- error recovery hooks
    def unread(self, tok) -> None:
        self.pending.appendleft(tok)

    def phantom_top(self) -> None:
        """The INDENT just handed out was refused: drop it and its DEDENT."""
        if len(self.phantom) > 1:
            self.phantom[-1] = True
