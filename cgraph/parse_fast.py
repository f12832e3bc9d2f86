"""The parse of a source with no syntax error: lexer, layout and LALR table in tight loops.

`cgraph.parse` drives the table token by token through `cgraph.layout`, with
everything error recovery and diagnostics need. Most sources have no error:
this module does the same work for them (the same lexer, the same layout
rules, the same table, unit-rule jumps and callbacks, so the same AST),
without the per-token method calls. At the first thing that would be
reported (a bad character, a bracket that does not match, an indentation
that matches no level, a token the table refuses, a callback's report), it
gives up and returns None: the caller then parses again the careful way,
which finds and words every diagnostic as before.

Lines repeat their shape: an LR parse is fixed by its state stack and the
token types it is fed, so the table's actions for one line (shifts, and the
reductions with their callbacks) are recorded once per (stack, types) and
replayed for every line of the same shape, without the table lookups.
"""
from __future__ import annotations

from .layout import CLOSES, NAMEISH, OPENS, SOFT

__all__ = ["parse_clean", "unit_run"]

_MAX_KEY_STACK = 64        # deeper stacks at a line's start are parsed, not replayed
MAX_LINE_SHAPES = 4096       # recorded line shapes kept per parser


class _Give(Exception):
    """A bad character: not a clean source."""


def _bad(pos, line, column):
    raise _Give


def unit_run(actions, gotos, end_state, below: int, state: int, ty: str) -> int:
    """The state after every unit reduction (`?rule: other`) that `ty` triggers in
    `state` over `below`, one after another (each replaces the top state only)."""
    while True:
        state = gotos[below][actions[state][ty][2]]
        act = actions[state].get(ty)
        if state == end_state or act is None or act.__class__ is int or act[1] is not None:
            return state


def parse_clean(eng, text: str, source: str):
    """The value of the start rule for `text` (the source plus a final "\\n";
    `source` as given, for the base indentation), or None when the source has
    anything the careful parse would report. The caller sets up the callbacks'
    context and checks that they reported nothing."""
    try:
        lexed = _lex(eng, text)
        return _run(eng, *lexed, source)
    except _Give:
        return None


def _lex(eng, text: str):
    """(types, values) of every token, as `Tables.tokens` makes them; a
    newline's value is its text (the layout needs only its indentation)."""
    types: list = []
    vals: list = []
    match = eng.with_blanks.match if eng.with_blanks is not None else None
    if match is None:                      # not one alternation: the general lexer
        for t in eng.tokens(text, _bad):
            types.append(t.type)
            vals.append(t.value if t.type == "_NEWLINE" else t)
        return types, vals
    tappend, vappend = types.append, vals.append
    newline, ignore = eng.newline_types, eng.ignore_types
    keywords = eng.keywords
    Tok, Short, new_str = eng.Token, eng.LineToken, str.__new__
    pos, line, bol, end = 0, 1, 0, len(text)
    while pos < end:
        m = match(text, pos)
        if m is None:
            raise _Give
        ty = m.lastgroup
        value = m[ty]
        npos = m.end()
        start = npos - len(value)          # the group ends the match: blanks lead
        if ty == "_NEWLINE":
            n = value.count("\n")
            if n:
                line += n
                bol = start + value.rindex("\n") + 1
            tappend(ty)
            vappend(value)
            pos = npos
            continue
        pos = npos
        if ty in newline and "\n" in value:
            sline, scol = line, start - bol + 1
            line += value.count("\n")
            bol = start + value.rindex("\n") + 1
            if ty in ignore:
                continue
            if ty in keywords:
                ty = keywords[ty].get(value, ty)
            t = new_str(Tok, value)        # Token(ty, value, ...), without its call
            t.type, t.value, t.start_pos, t.line, t.column = ty, value, start, sline, scol
            t.end_line, t.end_column, t.end_pos = line, npos - bol + 1, npos
            tappend(ty)
            vappend(t)
            continue
        if ty in ignore:
            continue
        if ty in keywords:
            ty = keywords[ty].get(value, ty)
        t = new_str(Short, value)          # LineToken(ty, value, ...), without its call
        t.type, t.start_pos, t.line, t.column = ty, start, line, start - bol + 1
        tappend(ty)
        vappend(t)
    return types, vals


def _run(eng, types: list, vals: list, source: str):
    actions, gotos, end_state, units = eng.actions, eng.gotos, eng.end, eng.units
    programs = eng.programs
    new_borrow_pos = eng.Token.new_borrow_pos
    ss, vs = [eng.start], []

    def feed(seg_t, seg_v, at_end=False):
        """Feed one line's types through the table; its actions, or None when
        the table refuses a token (the value of the start rule at the end).
        The shift/reduce step is written out here as in cgraph/parse.py's careful
        loop, not shared through a function: it runs once a token, and a call a
        token was measurable in the long-script benchmark."""
        ops = []
        record = ops.append
        j = 0
        for ty in seg_t:
            last = at_end and ty == "$END"
            while True:
                act = actions[ss[-1]].get(ty)
                if act is None:
                    raise _Give
                if act.__class__ is int:
                    if last:
                        raise _Give
                    ss.append(act)
                    vs.append(seg_v[j])
                    record(None)
                    break
                size, callback, origin = act
                if callback is None:             # a run of unit rules: one jump
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
                    record((size, callback))
                if last and ss[-1] == end_state:
                    return vs[-1]
            j += 1
        return ops

    def line(seg_t, seg_v):
        """One line: replayed when a line of its shape was parsed over the same stack."""
        if len(ss) > _MAX_KEY_STACK:
            feed(seg_t, seg_v)
            return
        key = (tuple(ss), tuple(seg_t))
        prog = programs.get(key)
        if prog is None:
            ops = feed(seg_t, seg_v)
            if len(programs) >= MAX_LINE_SHAPES:
                programs.clear()
            programs[key] = (tuple(ops), tuple(ss))
            return
        ops, final = prog
        j = 0
        for op in ops:
            if op is None:
                vs.append(seg_v[j])
                j += 1
            else:
                size, callback = op
                if size:
                    children = vs[-size:]
                    del vs[-size:]
                else:
                    children = []
                vs.append(callback(children))
        ss[:] = final

    levels: list = []          # indentation strings of the open blocks
    brackets: list = []        # types of the open brackets
    seg_t: list = []           # the current line's types and values, as fed
    seg_v: list = []
    stmt_start = True
    last_type = None
    n = len(types)
    i = 0
    while i < n:
        ty = types[i]
        t = vals[i]
        i += 1
        if ty == "_NEWLINE":
            if brackets:
                continue
            stmt_start = True
            last_type = ty
            seg_t.append(ty)
            seg_v.append(None)
            after = []
            if i < n:
                ind = t[t.rfind("\n") + 1:]
                if not levels:
                    levels.append(ind)
                elif ind != levels[-1]:
                    if ind.startswith(levels[-1]):
                        levels.append(ind)
                        after.append("_INDENT")
                    else:
                        while len(levels) > 1 and not ind.startswith(levels[-1]):
                            levels.pop()
                            after.append("_DEDENT")
                        if ind != levels[-1]:
                            return None
            line(seg_t, seg_v)
            seg_t, seg_v = after, [None] * len(after)
            continue
        if not levels:
            start = t.start_pos
            levels.append(source[start - (t.column - 1):start])
        if ty in OPENS:
            brackets.append(ty)
        elif ty in CLOSES:
            if not brackets or OPENS[brackets.pop()][0] != ty:
                return None
        elif ty in SOFT:
            if not (stmt_start and i < n and types[i] in NAMEISH):
                t = new_borrow_pos("NAME", t.value, t)
                ty = "NAME"
        stmt_start = ty == "SEMICOLON" or (ty == "COLON" and not brackets)
        last_type = ty
        seg_t.append(ty)
        seg_v.append(t)
    # the layout's end: NEWLINE, DEDENTs, $END
    if brackets:
        return None
    if last_type is not None and last_type != "_NEWLINE":
        seg_t.append("_NEWLINE")
        seg_v.append(None)
    seg_t += ["_DEDENT"] * (len(levels) - 1)
    seg_t.append("$END")
    seg_v += [None] * (len(seg_t) - len(seg_v))
    out = feed(seg_t, seg_v, True)
    return out if out.__class__ is not list else None
