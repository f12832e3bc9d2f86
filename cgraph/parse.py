"""The front end: source text -> `cgraph.ast.Program`, or a `CgraphError`.

The syntax lives in one place, `grammar/cgraph.lark`; its LALR(1) table
ships beside it as data (`cgraph.parser_tables`, made by `cgraph.tablegen`)
and this module drives it token by token:

    text -> lexer (`cgraph.lalr`; bad characters become diagnostics and are
            skipped, `cgraph.bad_chars`)
         -> layout (`cgraph.layout`: Python-style NEWLINE / INDENT / DEDENT,
            brackets)
         -> LALR table, whose reductions call `cgraph.ast_builder` directly
            (no parse tree; no recursion, so 5,000 nested parentheses are fine)

Driving the table ourselves (rather than `Lark.parse(on_error=...)`) lets us
recover after a syntax error with the layout's state intact: we report the
error, unwind the parser to the last statement boundary, skip to the end of
the line and carry on, so one run reports every broken statement
(`cgraph.syntax_errors` words each report).
"""
from __future__ import annotations

import _thread  # threading's C core (importing `threading` costs 0.4 ms)

from . import ast as A
from .ast_builder import CONTEXT, AstBuilder
from .bad_chars import BadChars
from .errors import CgraphError, Diagnostic
from .layout import Layout, Reparse
from .parse_fast import parse_clean, unit_run
from .source import Span
from .syntax_errors import Situation, explain, span_of

__all__ = ["parse", "parse_bytes", "MAX_SOURCE_CHARS"]

MAX_SOURCE_CHARS = 8_000_000  # ~30 s of parsing; a 100,000-statement script is ~3 MB
"""Longer sources are refused with a diagnostic: programs are small, data
comes in through inputs and load(); this bounds memory and time."""

MAX_ERRORS = 50

_GC_PAUSE_CHARS = 100_000
_LAYOUT = frozenset({"_NEWLINE", "_INDENT", "_DEDENT", "$END"})
_BLOCK_HEADS = frozenset({"IF", "ELIF", "ELSE", "WHILE", "FOR", "DEF"})
_TEST_HEADS = frozenset({"IF", "ELIF", "WHILE", "FOR"})   # headers ending in `test ":"`

_tables = None
_lock = _thread.allocate_lock()


def _parser():
    """The LALR tables with the AST builder's callbacks: loaded on first
    use, once per process."""
    global _tables
    if _tables is None:
        with _lock:
            if _tables is None:
                from .parser_tables import load

                _tables = load(AstBuilder())
    return _tables


# ------------------------------------------------------------------ driver
class _Stuck(Exception):
    def __init__(self, expected: frozenset):
        self.expected = expected


class _Run:
    """One parse: feeds the layout's tokens to the LALR table, and when the
    table refuses one, reports it and recovers at the next statement."""

    def __init__(self, text: str, file: str):
        self.text, self.file = text, file
        self.diags: list = []

    def parse(self):
        # most sources have no error: parse them in one tight loop, and only
        # when that finds something to report, again the careful way
        CONTEXT.file, CONTEXT.diags = self.file, self.diags
        body = parse_clean(_parser(), self.text + "\n", self.text)
        if body is not None and not self.diags:
            return body
        self.diags.clear()
        never_closed: frozenset = frozenset()
        while True:
            try:
                return self._parse(never_closed)
            except Reparse as r:
                # rare: some bracket is never closed; find the errors again
                # with those brackets reported and out of the way
                never_closed = r.never_closed
                self.diags.clear()

    def _suppressed(self, tok, leader) -> bool:
        """One report per statement: skip errors that follow from one already
        reported in the same statement (a bad character, an unclosed '(')."""
        if len(self.diags) >= MAX_ERRORS:
            return True
        first = leader.line if leader is not None else tok.line
        return any(d.span is not None and first <= d.span.line <= tok.line for d in self.diags)

    def _parse(self, never_closed: frozenset):
        eng = _parser()
        CONTEXT.file, CONTEXT.diags = self.file, self.diags
        text = self.text + "\n"
        lay = Layout(eng.tokens(text, BadChars(text, self.file, self.diags)),
                     self.text, self.file, self.diags, eng.Token, never_closed)
        actions, gotos, end_state = eng.actions, eng.gotos, eng.end
        units = eng.units
        ss, vs = [eng.start], []
        self.ss, self.vs = ss, vs

        def feed(tok, is_end=False):
            ty = tok.type
            while True:
                act = actions[ss[-1]].get(ty)
                if act is None:
                    raise _Stuck(frozenset(actions[ss[-1]]))
                if act.__class__ is int:
                    ss.append(act)
                    vs.append(tok)
                    return None
                size, callback, origin = act
                if callback is None:             # a unit rule: keep the child
                    # a run of them (name -> atom -> ... -> test) ends in a state fixed
                    # by the state below, this one and the lookahead: found once
                    key = (ss[-2], ss[-1], ty)
                    top = units.get(key)
                    if top is None:
                        top = units[key] = unit_run(actions, gotos, end_state, *key)
                    ss[-1] = top
                else:
                    if size:
                        children = vs[-size:]
                        del ss[-size:]
                        del vs[-size:]
                    else:
                        children = []
                    vs.append(callback(children))
                    ss.append(gotos[ss[-1]][origin])
                if is_end and ss[-1] == end_state:
                    return vs[-1]

        prev = leader = line_leader = header = last_err = None
        resync = False
        while True:
            tok = lay.next()
            ty = tok.type
            if resync:
                if ty == "_NEWLINE":
                    continue
                if ty == "_INDENT":      # the body of a header we threw away
                    lay.phantom_top()
                    continue
                resync = False
            if leader is None and ty not in _LAYOUT:
                leader = tok
                if line_leader is None:
                    line_leader = tok
            try:
                if ty == "$END":
                    return feed(tok, True)
                feed(tok)
            except _Stuck as e:
                if not self._suppressed(tok, leader):
                    self.diags.append(explain(Situation(
                        self.file, tok, prev, e.expected, leader, header,
                        lay.brackets[-1] if lay.brackets else None)))
                if len(self.diags) >= MAX_ERRORS:
                    return None
                if ty == "_INDENT":
                    lay.phantom_top()
                    continue
                if (leader is not None and leader.type in _TEST_HEADS and ty not in _LAYOUT
                        and self._repair_header(leader, gotos)):
                    # keep the if/while/for with a stand-in condition, so its
                    # block (and any elif/else) still parses as one
                    t2 = tok
                    while t2.type not in ("_NEWLINE", "$END") and not (
                            t2.type == "COLON" and not lay.brackets):
                        t2 = lay.next()
                    if t2.type == "COLON":
                        try:
                            feed(t2)
                            prev, leader, last_err = t2, None, tok
                            continue
                        except _Stuck:
                            pass
                    tok, ty = t2, t2.type
                self._unwind(gotos)
                if ty == "$END":
                    try:
                        return feed(tok, True)
                    except _Stuck:
                        return None
                if ty == "_NEWLINE":
                    resync = True
                elif prev is None and tok is not last_err:
                    lay.unread(tok)        # it may well start the next statement
                elif ty == "_DEDENT":
                    return None
                else:                      # skip the rest of the line ($END repeats)
                    while lay.next().type not in ("_NEWLINE", "$END"):
                        pass
                    resync = True
                last_err = tok
                prev = leader = None
                continue
            if ty == "_NEWLINE":
                header, prev, leader, line_leader = line_leader, None, None, None
            elif ty in ("_INDENT", "_DEDENT", "SEMICOLON"):
                prev = leader = None
            else:
                prev = tok
                if ty == "COLON" and leader is not None and leader.type in _BLOCK_HEADS and not lay.brackets:
                    leader = None

    def _repair_header(self, leader, gotos) -> bool:
        """Replace a broken header condition by a stand-in: pop back to the
        keyword that precedes it (`if`, `elif`, `while`, or `in` of a for)."""
        ss, vs = self.ss, self.vs
        want = "IN" if leader.type == "FOR" else leader.type
        for k in range(len(vs) - 1, -1, -1):
            v = vs[k]
            if getattr(v, "type", None) == want and (v is leader or want == "IN"):
                break
            if v is leader:
                return False
        else:
            return False
        g = gotos[ss[k + 1]].get("test")
        if g is None:
            return False
        del ss[k + 2:]
        del vs[k + 1:]
        ss.append(g)
        vs.append(A.Name("?", span_of(leader, self.file)))
        return True

    def _unwind(self, gotos) -> None:
        """Pop the parser back to the innermost point where a statement may
        start and pretend one was parsed there (its value: None)."""
        ss, vs = self.ss, self.vs
        while len(ss) > 1 and "stmt" not in gotos[ss[-1]]:
            ss.pop()
            vs.pop()
        ss.append(gotos[ss[-1]]["stmt"])
        vs.append(None)


def _check_returns(body, diags: list) -> None:
    """'return' outside a function; not where a line already has an error
    (after `def f(x):` with no indented block, its return is a consequence)."""
    noted = {d.span.line for d in diags if d.span is not None}
    first = min(noted, default=None)
    todo = list(body)
    while todo:
        s = todo.pop()
        # an indented return after an earlier error: its def line failed, not the return
        cascade = first is not None and first < s.span.line and s.span.column > 1
        if isinstance(s, A.Return) and s.span.line not in noted and not cascade:
            diags.append(Diagnostic("syntax", "'return' outside a function", s.span,
                                    "return may only appear inside def"))
        elif isinstance(s, A.If):
            for b in s.bodies:
                todo.extend(b)
            todo.extend(s.orelse)
        elif isinstance(s, (A.For, A.While)):
            todo.extend(s.body)


def _fail(diags: list, text: str, file: str) -> CgraphError:
    lines = text.split("\n")
    uniq, seen = [], set()
    for d in sorted(diags, key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0)):
        key = (d.message, d.span)
        if key in seen:
            continue
        seen.add(key)
        if d.line_text is None and d.span is not None and 0 < d.span.line <= len(lines):
            d = Diagnostic(d.kind, d.message, d.span, d.hint, lines[d.span.line - 1])
        uniq.append(d)
    return CgraphError(uniq).with_source(file, text)


def _normalise(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():  # an NFD é (as macOS writes it) is the é of NFC text
        import unicodedata

        text = unicodedata.normalize("NFC", text)
    return text


def parse(text: str, file: str = "<expr>") -> A.Program:
    """Parse cgraph source. Raises `CgraphError` (kind "syntax") holding every
    syntax error found; `Program.source` is the text with line ends as "\\n"."""
    if not isinstance(text, str):
        raise TypeError("parse() takes str; use parse_bytes() for bytes")
    text = _normalise(text)
    if len(text) > MAX_SOURCE_CHARS:
        raise _fail([Diagnostic(
            "syntax", f"the source is too long ({len(text) / 1e6:.1f} million characters; "
                      f"the limit is {MAX_SOURCE_CHARS / 1e6:g} million)",
            Span(file, 1, 1, 1, 2), "pass large data as inputs or with load(\"file\")")], text, file)
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        col = nul - (text.rfind("\n", 0, nul) + 1) + 1
        raise _fail([Diagnostic("syntax", "the source contains a NUL character; is it a binary file?",
                                Span(file, line, col, line, col + 1))], text, file)
    run = _Run(text, file)
    # A long source makes a million acyclic objects (tokens, nodes, spans);
    # the cycle collector would rescan them all again and again, which makes
    # parsing superlinear (2x slower at 100,000 statements). Pause it.
    from .gcpause import paused

    try:
        if len(text) > _GC_PAUSE_CHARS:
            with paused():
                body = run.parse()
        else:
            body = run.parse()
    finally:
        CONTEXT.diags = None
    if body is not None:
        _check_returns(body, run.diags)
    if run.diags or body is None:
        if not run.diags:    # cannot happen: recovery stops only after reporting
            run.diags.append(Diagnostic("syntax", "invalid syntax", Span(file, 1, 1, 1, 2)))
        raise _fail(run.diags, text, file)
    return A.Program(tuple(body), file, text)


def parse_bytes(data: bytes, file: str = "<expr>") -> A.Program:
    """Decode UTF-8 (a BOM is allowed) and parse; bad UTF-8 is a diagnostic."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start
        head = data[:start].decode("utf-8-sig", errors="replace")
        line = head.count("\n") + 1
        col = len(head) - (head.rfind("\n") + 1) + 1
        shown = _normalise(data.decode("utf-8-sig", errors="replace"))
        raise _fail([Diagnostic(
            "syntax",
            f"the source is not valid UTF-8 (byte 0x{data[start]:02x} at line {line}, column {col})",
            Span(file, line, col, line, col + 1), "save the file as UTF-8")], shown, file)
    return parse(text, file)
