"""Walks over the AST, iterative (deep nesting cannot exhaust the stack):
statements in program order, an expression's children, the names a block
binds, the program's free names (its implicit inputs), every call, the names
grad/jacobian/hessian differentiate by, and the files load() reads."""
from __future__ import annotations

from . import ast as A


def children(e) -> list:
    """The sub-expressions of an expression node."""
    t = type(e)
    if t is A.Chain:
        return [e.first, *e.rest]
    if t is A.Binary:
        return [e.left, e.right]
    if t is A.Unary:
        return [e.operand]
    if t is A.Call:
        return [*e.args, *(k.value for k in e.kwargs)]
    if t is A.ListLit:
        return list(e.items)
    if t is A.Index:
        kids = [e.value]
        for it in e.items:
            if isinstance(it, A.Slice):
                kids.extend(p for p in (it.start, it.stop, it.step) if p is not None)
            else:
                kids.append(it)
        return kids
    if t is A.Transpose:
        return [e.value]
    return []


def statements(body, into_functions: bool = False):
    """Every statement of `body` in program order, blocks included (functions'
    bodies on request); iterative, so deep nesting cannot exhaust the stack."""
    stack = list(reversed(body))
    while stack:
        st = stack.pop()
        yield st
        t = type(st)
        if t in (A.For, A.While) or (t is A.FuncDef and into_functions):
            stack.extend(reversed(st.body))
        elif t is A.If:
            stack.extend(reversed(st.orelse))
            for b in reversed(st.bodies):
                stack.extend(reversed(b))


def bound_names(body) -> set:
    """Every name a top-level statement (or block) binds, for 'used before bound'."""
    out = set()
    for st in statements(body):
        t = type(st)
        if t is A.Assign:
            out.add(st.target)
        elif t in (A.Param, A.Const, A.Input):
            out.add(st.name)
        elif t is A.For:
            out.add(st.var)
    return out


def free_names(program: A.Program, constants=()) -> set:
    """Names used somewhere but bound nowhere: the program's implicit inputs
    (LANGUAGE.md §9), whether or not a run reaches the statement using them."""
    bound = bound_names(program.body) | set(constants)
    exprs = []
    for st in statements(program.body, into_functions=True):
        t = type(st)
        if t is A.FuncDef:
            bound |= set(st.params) | bound_names(st.body)
        elif t is A.For:
            exprs.extend(st.args)
        elif t is A.If:
            exprs.extend(st.conds)
        elif t is A.While:
            exprs.append(st.cond)
        elif t is A.Print:
            exprs.extend(st.args)
        elif t is A.Assert:
            exprs.append(st.cond)
        elif getattr(st, "value", None) is not None:
            exprs.append(st.value)
    return names_in(exprs) - bound


def names_in(exprs) -> set:
    """Every name the expressions (and their sub-expressions) read."""
    exprs, used = list(exprs), set()
    while exprs:
        e = exprs.pop()
        if type(e) is A.Name:
            used.add(e.id)
        exprs.extend(children(e))
    return used


def expressions(body):
    """The expressions of `body`'s statements (functions' bodies included)."""
    for st in statements(body, into_functions=True):
        for k in ("value", "cond", "args", "conds"):
            v = getattr(st, k, None)
            if v is not None:
                yield from (v if isinstance(v, (list, tuple)) else [v])


def names_read(body) -> set:
    """Every name `body` reads (functions defined in it included)."""
    return names_in(expressions(body))


def calls(body):
    """Every call in `body`'s expressions (functions' bodies included)."""
    exprs = list(expressions(body))
    while exprs:
        e = exprs.pop()
        if type(e) is A.Call:
            yield e
        exprs.extend(children(e))


def derivative_targets(body) -> set:
    """The names grad/jacobian/hessian in `body` differentiate by (their x)."""
    return {e.args[1].id for e in calls(body)
            if e.func in ("grad", "jacobian", "hessian") and len(e.args) == 2
            and type(e.args[1]) is A.Name}


def load_paths(body) -> set:
    """The files `load("...")` calls in `body` read (literal paths only)."""
    return {e.args[0].value for e in calls(body)
            if e.func == "load" and e.args and type(e.args[0]) is A.Str}
