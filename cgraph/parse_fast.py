"""The parse of a source with no syntax error: layout and LALR table in one loop.

`cgraph.parse` drives the table token by token through `cgraph.layout`, with
everything error recovery and diagnostics need. Most sources have no error:
this loop does the same work for them (the same lexer, the same layout rules,
the same table, unit-rule jumps and callbacks, so the same AST), without the
per-token method calls. At the first thing that would be reported (a bad
character, a bracket that does not match, an indentation that matches no
level, a token the table refuses, a callback's report), it gives up and
returns None: the caller then parses again the careful way, which finds and
words every diagnostic as before.
"""
from __future__ import annotations

from .layout import CLOSES, NAMEISH, OPENS, SOFT

__all__ = ["parse_clean", "unit_run"]


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
        return _run(eng, text, source)
    except _Give:
        return None


def _run(eng, text: str, source: str):
    src = eng.tokens(text, _bad)
    new_borrow_pos = eng.Token.new_borrow_pos
    actions, gotos, end_state, units = eng.actions, eng.gotos, eng.end, eng.units
    ss, vs = [eng.start], []
    levels: list = []          # indentation strings of the open blocks
    brackets: list = []        # types of the open brackets
    pending: list = []         # layout tokens still to feed, last first
    stmt_start = True
    last_type = None
    at_end = False
    nxt = next(src, None)
    while True:
        if pending:
            ty = pending.pop()
            t = None
            at_end = ty == "$END"
        else:
            t = nxt
            if t is None:     # the layout's end: NEWLINE, DEDENTs, $END
                if brackets:
                    return None
                pending.append("$END")
                pending.extend(["_DEDENT"] * (len(levels) - 1))
                if last_type is not None and last_type != "_NEWLINE":
                    pending.append("_NEWLINE")
                continue
            nxt = next(src, None)
            ty = t.type
            if ty == "_NEWLINE":
                if brackets:
                    continue
                stmt_start = True
                last_type = ty
                if nxt is not None:
                    value = t.value
                    ind = value[value.rfind("\n") + 1:]
                    if not levels:
                        levels.append(ind)
                    elif ind != levels[-1]:
                        if ind.startswith(levels[-1]):
                            levels.append(ind)
                            pending.append("_INDENT")
                        else:
                            while len(levels) > 1 and not ind.startswith(levels[-1]):
                                levels.pop()
                                pending.append("_DEDENT")
                            if ind != levels[-1]:
                                return None
                t = None
            else:
                if not levels:
                    start = t.start_pos
                    levels.append(source[start - (t.column - 1):start])
                if ty in OPENS:
                    brackets.append(ty)
                elif ty in CLOSES:
                    if not brackets or OPENS[brackets.pop()][0] != ty:
                        return None
                elif ty in SOFT:
                    if not (stmt_start and nxt is not None and nxt.type in NAMEISH):
                        t = new_borrow_pos("NAME", t.value, t)
                        ty = "NAME"
                stmt_start = ty == "SEMICOLON" or (ty == "COLON" and not brackets)
                last_type = ty
        # -- the table (as cgraph.parse's feed)
        while True:
            act = actions[ss[-1]].get(ty)
            if act is None:
                return None
            if act.__class__ is int:
                if at_end:
                    return None
                ss.append(act)
                vs.append(t)
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
            if at_end and ss[-1] == end_state:
                return vs[-1]
