"""Eager mode's fast path for simple assignments: `x = sin(x)*0.999 + 0.1`.

An eager loop builds its body again on every iteration (it runs as it is
built), and interpreting the AST — the builder's task stack, `children`,
`combine`, binding a builtin's arguments — cost more than running the ops.
Here an assignment whose value is made only of numbers, names, operators and
calls of builtins with tensor arguments alone is translated once per builder
into nested closures that make the same calls the builder makes (`const`,
`lookup`, `binop`, `emit`, in the same order, with the same spans), so the
graph, the values and every diagnostic are the builder's own. Anything else
(a user function, a list, an index, keyword arguments, a deep nest) keeps
the builder's general path. A loop whose body is such assignments alone runs
them here, iteration after iteration, without the builder's task machinery.
"""
from __future__ import annotations

from typing import Callable, Optional

from . import ast as A
from . import registry as R
from .errors import CgraphError

MAX_DEPTH = 40  # deeper expressions keep the builder's iterative path (no recursion here)

_SKIP = object()  # a cached "no closure for this expression"


def assign(b, st, tables) -> bool:
    """Run assignment `st` through its closure; False (nothing done) if it has none
    or a call in it names a user function now. `tables`: the builder's operator
    tables (CHAIN_OPS, BINARY_OPS) and SPECIAL_CALLS."""
    hit = _closure_of(b, st, tables)
    if hit is None:
        return False
    _run(b, st, hit[1], tables)
    return True


def _closure_of(b, st, tables):
    """(st, closure, calls) for assignment st, or None if it has none now."""
    cache = b.fast_exprs
    key = id(st)
    hit = cache.get(key)
    if hit is None:
        fn, calls = _compile(st.value, 0, tables)
        hit = (st, fn, tuple(calls)) if fn is not None else (st, _SKIP, ())
        cache[key] = hit  # (st kept alive: its id stays its own)
    if hit[1] is _SKIP:
        return None
    calls = hit[2]
    if calls:
        funcs = b.funcs
        for name in calls:
            if name in funcs:
                return None
    return hit


def _run(b, st, fn, tables) -> None:
    b.g.span = st.span
    value = fn(b)
    if st.op is not None:
        old = b.lookup(st.target, st.target_span)
        value = b.binop(tables[0][st.op], old, value, st.span)
    b.bind(st.target, value if value.__class__ is int else b.tensor(value, st.value.span),
           st.span, leaf_ok=st.op is None)


def iterations(b, st: A.For, rng: range, tables):
    """The iterations of a for loop the builder unrolls (static) or runs (eager), as
    a builder task. An eager body of simple assignments alone runs here, each
    statement through its closure, without a task per iteration; and when only the
    run's values are wanted (`Graph.values_only`) and the body neither reads nor
    assigns the loop variable, that is bound once, after the last iteration, to its
    last value (not a constant node per iteration that nothing reads)."""
    b.loops.append([st.var, None])
    try:
        body = _simple_body(b, st, tables) if b.g.eager else None
        if body is not None:
            _run_simple(b, st, rng, body, tables)
            return
        for i in rng:
            b.loops[-1][1] = i
            b.count_iteration(st.span)
            b.scopes[-1][st.var] = b.g.const(float(i), st.span)
            if b.top:
                b.name_value(st.var, b.scopes[-1][st.var])
            yield b.exec_block(st.body)
    finally:
        b.loops.pop()


def _simple_body(b, st: A.For, tables):
    """[(statement, closure)] for a body of simple assignments only, else None."""
    out = []
    for s in st.body:
        if type(s) is not A.Assign:
            return None
        hit = _closure_of(b, s, tables)
        if hit is None:
            return None
        out.append((s, hit[1]))
    return out


def _run_simple(b, st: A.For, rng: range, body: list, tables) -> None:
    from .ast_walk import names_read

    var = st.var
    hit = b.fast_exprs.get(id(st))
    if hit is None:
        lazy = all(s.target != var for s, _ in body) and var not in names_read(st.body)
        hit = b.fast_exprs[id(st)] = (st, lazy)
    lazy = hit[1] and b.g.values_only
    loop = b.loops[-1]
    span = st.span
    try:
        for i in rng:
            loop[1] = i
            b.count_iteration(span)
            if not lazy:
                b.scopes[-1][var] = b.g.const(float(i), span)
                if b.top:
                    b.name_value(var, b.scopes[-1][var])
            for s, fn in body:
                _run(b, s, fn, tables)
        if lazy and len(rng):
            b.scopes[-1][var] = b.g.const(float(rng[-1]), span)
            if b.top:
                b.name_value(var, b.scopes[-1][var])
    except CgraphError as exc:  # located, as the builder's exec_block does
        raise exc.with_source(b.prog.file, b.prog.source)


def _compile(e, depth: int, tables):
    """(closure, names of the calls in e), or (None, ()) when e needs the builder."""
    if depth > MAX_DEPTH:
        return None, ()
    t = type(e)
    span = e.span
    if t is A.Num:
        value = e.value
        memo: list = [None, None]  # (graph, node): the number's one node in a values-only run

        def num(b):
            g = b.g
            g.span = span
            if g.values_only:  # no graph to show: every iteration may read the same constant
                if memo[0] is g:
                    return memo[1]
                memo[1] = g.const(value, span)
                memo[0] = g
                return memo[1]
            return g.const(value, span)
        return num, ()
    if t is A.Name:
        name = e.id

        def lookup(b):
            b.g.span = span
            scope = b.scopes[-1]
            if name in scope:
                return scope[name]
            return b.lookup(name, span)
        return lookup, ()
    if t is A.Chain:
        chain_ops = tables[0]
        if not all(op in chain_ops for op in e.ops):
            return None, ()
        kids, calls = _compile_all([e.first, *e.rest], depth, tables)
        if kids is None:
            return None, ()
        ops = tuple(chain_ops[op] for op in e.ops)
        return _chain(kids, ops, span), calls
    if t is A.Binary:
        binary_ops = tables[1]
        if e.op not in binary_ops:
            return None, ()
        kids, calls = _compile_all([e.left, e.right], depth, tables)
        if kids is None:
            return None, ()
        return _chain(kids, (binary_ops[e.op],), span), calls
    if t is A.Unary:
        if e.op not in ("-", "+", "not"):
            return None, ()
        kid, calls = _compile(e.operand, depth + 1, tables)
        if kid is None:
            return None, ()
        return _unary(kid, e.op, span), calls
    if t is A.Call:
        return _call(e, depth, tables)
    return None, ()


def _compile_all(exprs, depth, tables):
    kids, calls = [], []
    for x in exprs:
        fn, c = _compile(x, depth + 1, tables)
        if fn is None:
            return None, ()
        kids.append(fn)
        calls.extend(c)
    return kids, calls


def _chain(kids: list, ops: tuple, span) -> Callable:
    ops = tuple(R.get(op) for op in ops)  # resolved once, not by name per node
    if len(kids) == 2:
        first, second = kids
        op = ops[0]

        def chain2(b):
            x = first(b)
            y = second(b)
            b.g.span = span
            if x.__class__ is int and y.__class__ is int:  # binop's own call, without its steps
                return b.emit(op, (x, y), None, span)
            return b.binop(op, x, y, span)
        return chain2

    def chain(b):
        args = [k(b) for k in kids]
        b.g.span = span
        acc = args[0]
        for op, rhs in zip(ops, args[1:]):
            acc = b.binop(op, acc, rhs, span)
        return acc
    return chain


def _unary(kid: Callable, op: str, span) -> Callable:
    name = "neg" if op == "-" else "logical_not"

    def unary(b):
        x = kid(b)
        b.g.span = span
        if op == "+":
            return b.tensor(x, span)
        return b.emit(name, [b.tensor(x, span)], {}, span)
    return unary


def _call(e: A.Call, depth, tables):
    """A builtin called with its tensor arguments only, by position (sin(x), atan2(y, x))."""
    if e.kwargs or e.func in tables[2]:
        return None, ()
    op: Optional[R.OpDef] = R.REGISTRY.get(e.func)
    if op is None or op.family == "internal" or op.name == "load":
        return None, ()
    params = op.args
    if len(params) != len(e.args) or any(p.kind != "tensor" for p in params):
        return None, ()
    kids, calls = _compile_all(e.args, depth, tables)
    if kids is None:
        return None, ()
    spans = tuple(a.span for a in e.args)
    span = e.span
    calls = [e.func, *calls]  # a def of the same name, run later, makes it a user call
    if len(kids) == 1:
        (kid,), (sp,) = kids, spans

        def call1(b):
            x = kid(b)
            b.g.span = span
            return b.emit(op, (x if x.__class__ is int else b.tensor(x, sp),), None, span)
        return call1, calls

    def call(b):
        args = [k(b) for k in kids]
        b.g.span = span
        return b.emit(op, [x if x.__class__ is int else b.tensor(x, sp)
                           for x, sp in zip(args, spans)], {}, span)
    return call, calls
