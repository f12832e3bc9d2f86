"""A small LALR(1) runtime: cgraph's lexer and parse table, read from data.

The data is what `cgraph.tablegen` generates from `grammar/cgraph.lark`
(shipped as `grammar/cgraph.tables.json`, loaded by `cgraph.parser_tables`):

* the lexer: one alternation of named groups, in lark's priority order,
  which token types may span lines, which are ignored, and the keyword table
  applied to names (`if` lexes as NAME, then becomes IF);
* the LALR table: per state, terminal -> shift to state / reduce by rule,
  and nonterminal -> goto state;
* the rules: origin, length, the callback name (alias or rule name) and how
  the children are shaped first (which are kept, which `_rule` children are
  spliced in, where `[x]` puts a None, whether a `?rule` with one child is
  that child).

`Tables` turns that back into a parser: `re` compiles the regexps,
`Tables.tokens` lexes, and `actions` / `gotos` hold reductions bound to the
caller's callbacks, in the shape the driver loop in `cgraph.parse` runs.
Nothing here imports lark.
"""
from __future__ import annotations

import re

__all__ = ["LineToken", "Token", "Tables", "Tree"]


class Token(str):
    """A token: a str (its text) with a type and a position (the attribute
    names of lark's `Token`, so diagnostics read either)."""

    __slots__ = ("type", "start_pos", "value", "line", "column", "end_line", "end_column", "end_pos")

    def __new__(cls, type, value, start_pos=None, line=None, column=None,
                end_line=None, end_column=None, end_pos=None):
        self = str.__new__(cls, value)
        self.type = type
        self.value = value
        self.start_pos = start_pos
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column
        self.end_pos = end_pos
        return self

    @classmethod
    def new_borrow_pos(cls, type_, value, borrow_t):
        t = borrow_t
        return cls(type_, value, t.start_pos, t.line, t.column, t.end_line, t.end_column, t.end_pos)

    def __repr__(self):
        return "Token(%r, %r)" % (self.type, self.value)

    def __eq__(self, other):
        if isinstance(other, Token) and self.type != other.type:
            return False
        return str.__eq__(self, other)

    __hash__ = str.__hash__


class LineToken(Token):
    """A token that does not span lines (the fast parse's): where it ends
    follows from its text, so the lexer stores four fields, not eight."""

    __slots__ = ()

    @property
    def value(self):
        return str.__str__(self)

    @property
    def end_line(self):
        return self.line

    @property
    def end_column(self):
        return self.column + len(self)

    @property
    def end_pos(self):
        return self.start_pos + len(self)


class Tree:
    """A rule's value when the callbacks have no method for it: here only
    the `_rule` helpers that a parent splices in."""

    __slots__ = ("data", "children")

    def __init__(self, data, children):
        self.data, self.children = data, children

    def __repr__(self):
        return "Tree(%r, %r)" % (self.data, self.children)


# ----------------------------------------------------------------- runtime
def _check(cond: bool, what: str) -> None:
    if not cond:
        raise ValueError("bad parser tables: " + what)


def _nat(x) -> bool:
    return type(x) is int and x >= 0


class Tables:
    """A parser rebuilt from `cgraph.tablegen`'s data. Its shape, types and
    indices are checked: damaged data raises here (ValueError, TypeError,
    KeyError, re.error) rather than failing in the middle of a parse.

    `actions[state]`: terminal -> next state (int, a shift) or
    (length, callback, origin) (a reduce; callback None: keep the only
    child); `gotos[state]`: nonterminal -> next state."""

    Token = Token
    LineToken = LineToken

    def __init__(self, data: dict, callbacks):
        _check(type(data) is dict, "not an object")
        lex, rules, states = data["lexer"], data["rules"], data["states"]
        _check(type(states) is list and type(rules) is list and states and rules, "shape")
        nstates, nrules = len(states), len(rules)
        self.start, self.end = data["start"], data["end"]
        _check(_nat(self.start) and _nat(self.end) and self.start < nstates and self.end < nstates,
               "start/end")

        # -- lexer
        pats = lex["patterns"]
        _check(type(pats) is list and pats, "patterns")
        mres = []
        for p, flags in pats:
            _check(type(p) is str and _nat(flags), "pattern")
            mres.append(re.compile(p, flags))
        self.patterns = mres
        self.newline_types = frozenset(lex["newline"])
        self.ignore_types = frozenset(lex["ignore"])
        kw = lex["keywords"]
        _check(type(kw) is dict and all(type(v) is dict for v in kw.values()), "keywords")
        _check(all(type(k) is str and type(n) is str for v in kw.values() for k, n in v.items()),
               "keywords")
        self.keywords = kw
        # Blanks between tokens, matched with the token that follows them: one match
        # a token, not two. Only where an ignored group is exactly blanks and the
        # lexer is one alternation (no other group begins with a blank: then the
        # blanks before a token are that group's match, as they were alone).
        self.with_blanks = None
        if len(pats) == 1:
            for t in sorted(self.ignore_types):
                m = re.search(r"\(\?P<%s>\[([^\]\\]+)\]\+\)" % re.escape(t), pats[0][0])
                if m and set(m.group(1)) <= set(" \t\f"):
                    self.with_blanks = re.compile(f"[{m.group(1)}]*(?:{pats[0][0]})", pats[0][1])
                    break
        names = set().union(*(m.groupindex for m in mres))
        _check(self.newline_types <= names and self.ignore_types <= names and set(kw) <= names,
               "lexer types")

        # -- rules
        reductions = []
        for r in rules:
            origin, size, name, expand1, filt = r
            _check(type(origin) is str and _nat(size) and type(name) is str
                   and type(expand1) is bool, "rule")
            if filt is not None:
                include, nones = filt
                _check(_nat(nones) and all(
                    _nat(i) and i < size and type(e) is bool and _nat(n) for i, e, n in include),
                    "rule filter")
            if expand1 and filt is None and size == 1:
                cb = None       # `?rule: other`: the child is the value
            else:
                cb = _callback(callbacks, name, expand1, filt)
            reductions.append((size, cb, origin))

        # -- table
        actions, gotos = [], []
        lo = -nrules
        for acts, gos in states:
            _check(type(acts) is dict and type(gos) is dict, "state")
            codes = list(acts.values())
            targets = list(gos.values())
            _check(set(map(type, codes)) <= {int} and set(map(type, targets)) <= {int}, "state")
            if codes:
                _check(min(codes) >= lo and max(codes) < nstates, "action")
            if targets:
                _check(min(targets) >= 0 and max(targets) < nstates, "goto")
            actions.append({sym: v if v >= 0 else reductions[-1 - v] for sym, v in acts.items()})
            gotos.append(gos)
        self.actions, self.gotos = actions, gotos
        self.units: dict = {}   # (state below, state, terminal) -> state after its unit rules
        self.programs: dict = {}  # a line's (stack, types) -> its recorded actions (cgraph.parse_fast)

    def tokens(self, text: str, on_error):
        """The tokens of `text` (as lark's basic lexer makes them). At a
        character no token matches, `on_error(pos, line, column)` says
        where to carry on (a position past `pos`)."""
        mres = self.patterns
        if self.with_blanks is not None:
            match = self.with_blanks.match
        elif len(mres) == 1:
            match = mres[0].match
        else:
            def match(s, p):
                for mre in mres:
                    m = mre.match(s, p)
                    if m:
                        return m
                return None
        newline, ignore, keywords = self.newline_types, self.ignore_types, self.keywords
        Tok, new_str = Token, str.__new__
        pos, line, bol, end = 0, 1, 0, len(text)     # bol: where the current line begins
        while pos < end:
            m = match(text, pos)
            if m is None:
                new = on_error(pos, line, pos - bol + 1)
                skipped = text[pos:new]
                n = skipped.count("\n")
                if n:
                    line += n
                    bol = pos + skipped.rindex("\n") + 1
                pos = new
                continue
            ty, npos = m.lastgroup, m.end()
            value, start = m.group(ty), m.start(ty)   # after any blanks
            sline, scol = line, start - bol + 1
            if ty in newline:
                n = value.count("\n")
                if n:
                    line += n
                    bol = start + value.rindex("\n") + 1
            pos = npos
            if ty in ignore:
                continue
            if ty in keywords:
                ty = keywords[ty].get(value, ty)
            t = new_str(Tok, value)      # Token(ty, value, ...), without its call
            t.type, t.value, t.start_pos, t.line, t.column = ty, value, start, sline, scol
            t.end_line, t.end_column, t.end_pos = line, npos - bol + 1, npos
            yield t


def _callback(callbacks, name: str, expand1: bool, filt):
    """The reduction for one rule: lark's child filter, then its
    single-child expansion, then the user's callback (or a Tree)."""
    f = getattr(callbacks, name, None)
    if f is None:
        def f(children, _name=name):
            return Tree(_name, children)
    if expand1:
        inner = f

        def f(children):
            return children[0] if len(children) == 1 else inner(children)
    if filt is None:
        return f
    include, append_none = filt
    if append_none == 0 and not any(e or n for _, e, n in include):
        idx = tuple(i for i, _, _ in include)
        user = f
        if len(idx) == 1:
            a, = idx
            return lambda c: user([c[a]])
        if len(idx) == 2:
            a, b = idx
            return lambda c: user([c[a], c[b]])
        return lambda c: user([c[i] for i in idx])
    user = f
    if append_none == 0 and not any(n for _, _, n in include) and len(include) >= 2:
        # the shapes of lark's `x (op y)*` helpers, without the general loop below
        (a, ea, _), *more = include
        if ea and not any(e for _, e, _ in more):      # `__x_star: __x_star op y`
            rest = tuple(i for i, _, _ in more)
            if len(rest) == 1:
                b, = rest

                def left(c):
                    out = c[a].children     # left recursion: take the list over, no copy
                    out.append(c[b])
                    return user(out)
                return left
            if len(rest) == 2:
                b, d = rest

                def left2(c):
                    out = c[a].children
                    out.append(c[b])
                    out.append(c[d])
                    return user(out)
                return left2
        elif len(include) == 2 and not ea and more[0][1]:   # `x: y __x_star`
            b = more[0][0]
            if expand1:
                def head1(c):
                    out = [c[a]]
                    out += c[b].children
                    return out[0] if len(out) == 1 else inner(out)
                return head1

            def head(c):
                out = [c[a]]
                out += c[b].children
                return user(out)
            return head
    steps = tuple((i, e, n) for i, e, n in include)
    tail = [None] * append_none

    def filtered(children):
        out = []
        for i, to_expand, nones in steps:
            if nones:
                out += [None] * nones
            if to_expand:
                if out:
                    out += children[i].children
                else:           # left recursion: take the list over, no copy
                    out = children[i].children
            else:
                out.append(children[i])
        if tail:
            out += tail
        return user(out)
    return filtered
