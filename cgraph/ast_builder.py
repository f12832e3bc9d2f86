"""The parser's callbacks: at each LALR reduction, children in, AST node out.

Rules of `grammar/cgraph.lark` name these methods (lark's inline-transformer
convention: a rule or its `-> alias` is the method, its children the list).
The builder never raises: what the grammar lets through but the language
refuses is reported into the current parse's diagnostics (`CONTEXT`).
"""
from __future__ import annotations

import _thread  # threading's C core (importing `threading` costs 0.4 ms)
import re
from typing import Optional

from . import ast as A
from .errors import Diagnostic
from .source import Span

__all__ = ["AstBuilder", "CONTEXT"]

CONTEXT = _thread._local()
"""Per-parse state (`file`, `diags`), set by `cgraph.parse` around a parse:
one builder serves every parse of the process, in any thread."""


class _Shape:
    __slots__ = ("dims", "span")

    def __init__(self, dims, span):
        self.dims, self.span = dims, span


def _span(tok) -> Span:
    # a token the callbacks see never spans lines: it ends where its text does
    return Span(CONTEXT.file, tok.line, tok.column, tok.line, tok.column + len(tok))


def _join(a: Span, b: Span) -> Span:
    return Span(a.file, a.line, a.column, b.end_line, b.end_column)


def _tok_to(tok, b: Span) -> Span:
    return Span(b.file, tok.line, tok.column, b.end_line, b.end_column)


def _report(message: str, span: Span, hint: Optional[str] = None) -> None:
    CONTEXT.diags.append(Diagnostic("syntax", message, span, hint))


def _name(tok) -> str:
    s = str(tok)
    if s.isascii():
        return s
    import unicodedata

    return unicodedata.normalize("NFKC", s)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
_ESCAPE_RE = re.compile(r"\\(.)", re.S)


def _unescape(body: str) -> str:
    if "\\" not in body:
        return body
    # unknown escapes stay as written, so Windows paths like "C:\data" survive
    return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), body)


def _flatten(items) -> tuple:
    out = []
    for it in items:
        if it is None:          # a statement lost to error recovery
            continue
        if isinstance(it, list):
            out.extend(it)
        else:
            out.append(it)
    return tuple(out)


def _end_of(header_tok, *blocks) -> Span:
    """Span from a block header's keyword to the end of its last statement."""
    for body in reversed(blocks):
        if body:
            return _tok_to(header_tok, body[-1].span)
    return _span(header_tok)


class AstBuilder:
    """Callbacks run by the LALR parser at each reduction (lark's inline
    transformer): children in, AST node out. Never raises: problems that
    the grammar lets through are reported with `_report`."""

    # -- atoms
    def name(self, c):
        t = c[0]
        s = str(t)
        line, col = t.line, t.column
        return A.Name(s if s.isascii() else _name(s),
                      Span(CONTEXT.file, line, col, line, col + len(s)))

    def number(self, c):
        t = c[0]
        line, col = t.line, t.column
        return A.Num(float(t), Span(CONTEXT.file, line, col, line, col + len(t)))

    def string(self, c):
        return A.Str(_unescape(str(c[0])[1:-1]), _span(c[0]))

    def boolean(self, c):
        return A.Bool(c[0].type == "TRUE", _span(c[0]))

    def list(self, c):
        return A.ListLit(tuple(x for x in c[1:-1] if x is not None), _join(_span(c[0]), _span(c[-1])))

    # -- operators
    def chain(self, c):
        rest = tuple(c[2::2])
        return A.Chain(c[0], tuple(map(str, c[1::2])), rest, _join(c[0].span, rest[-1].span))

    or_test = and_test = arith = term = chain

    def unary(self, c):
        return A.Unary(str(c[0]), c[1], _tok_to(c[0], c[1].span))

    def binary(self, c):
        op = "^" if c[1] == "**" else str(c[1])
        return A.Binary(op, c[0], c[2], _join(c[0].span, c[2].span))

    # -- postfix
    def call(self, c):
        func, _lpar, args, rpar = c
        span = _join(func.span, _span(rpar))
        pos, kws, seen = [], [], set()
        for a in args or ():
            if isinstance(a, A.Keyword):
                if a.name in seen:
                    _report(f"keyword argument '{a.name}' is given twice", a.span)
                seen.add(a.name)
                kws.append(a)
            else:
                if kws:
                    _report("a positional argument cannot follow a keyword argument", a.span,
                            "put the positional arguments first: f(x, y, axis=0)")
                pos.append(a)
        if not isinstance(func, A.Name):
            _report("only a named function can be called", func.span,
                    "call functions by name, as in f(x)")
            return func
        return A.Call(func.id, tuple(pos), tuple(kws), span, func.span)

    def arguments(self, c):
        return c

    def keyword(self, c):
        return A.Keyword(_name(c[0]), c[1], _tok_to(c[0], c[1].span))

    def index(self, c):
        value, items, rsqb = c
        return A.Index(value, tuple(items), _join(value.span, _span(rsqb)))

    def subscripts(self, c):
        return c

    def slice(self, c):
        start, colon1, stop, colon2, step = c
        first = start.span if start is not None else _span(colon1)
        last = next((x.span if not hasattr(x, "type") else _span(x)
                     for x in (step, colon2, stop) if x is not None), _span(colon1))
        return A.Slice(start, stop, step, _join(first, last))

    def attribute(self, c):
        value, attr = c
        span = _join(value.span, _span(attr))
        if attr != "T":
            hint = "did you mean .T?" if attr == "t" else None
            _report(f"unknown attribute '.{attr}'; the only attribute is '.T' (transpose)",
                    _span(attr), hint)
        return A.Transpose(value, span)

    # -- simple statements
    def expr_stmt(self, c):
        v = c[0]
        if isinstance(v, A.Call) and v.func == "print":
            if v.kwargs:
                _report("print takes no keyword arguments", v.kwargs[0].span)
            return A.Print(v.args, v.span)
        if isinstance(v, A.Name) and v.id in ("input", "param", "const", "output"):
            _report(f"expected a name after '{v.id}'", v.span,
                    f"for example: {v.id} x" + (" = 0" if v.id in ("param", "const") else ""))
        return A.ExprStmt(v, v.span)

    def _target(self, t) -> Optional[str]:
        if isinstance(t, A.Name):
            return t.id
        if isinstance(t, A.Index):
            _report("cannot assign to an element: tensors are never changed in place", t.span,
                    "build a new tensor instead, e.g. with where(...) or concat(...)")
        elif isinstance(t, A.Call):
            _report("cannot assign to a function call", t.span,
                    f"to define a function write: def {t.func}(x): return ...")
        else:
            _report("only a name can be assigned to", t.span)
        return None

    def assign(self, c):
        target, value = c
        name = self._target(target)
        return A.Assign(name or "?", value, None, _join(target.span, value.span), target.span)

    def augassign(self, c):
        target, op, value = c
        name = self._target(target)
        return A.Assign(name or "?", value, str(op)[0], _join(target.span, value.span), target.span)

    def shape(self, c):
        dims = tuple(d for d in c[1:-1] if d is not None)
        for d in dims:
            if isinstance(d, A.Num) and not (d.value >= 0 and float(d.value).is_integer()):
                _report("a dimension must be a whole number or a name", d.span)
        return _Shape(dims, _join(_span(c[0]), _span(c[-1])))

    def input_stmt(self, c):
        kw, name, shape = c
        end = shape.span if shape is not None else _span(name)
        return A.Input(_name(name), shape.dims if shape is not None else None, _tok_to(kw, end))

    def param_stmt(self, c):
        kw, name, shape, value = c
        return A.Param(_name(name), shape.dims if shape is not None else None, value,
                       _tok_to(kw, value.span))

    def const_stmt(self, c):
        kw, name, value = c
        return A.Const(_name(name), value, _tok_to(kw, value.span))

    def output_stmt(self, c):
        names = c[1:]
        return A.Output(tuple(_name(n) for n in names), _tok_to(c[0], _span(names[-1])),
                        tuple(_span(n) for n in names))

    def return_stmt(self, c):
        return A.Return(c[1], _tok_to(c[0], c[1].span))

    def assert_stmt(self, c):
        kw, cond, msg = c
        text = None
        if msg is not None:
            if isinstance(msg, A.Str):
                text = msg.value
            else:
                _report("the message of an assert must be a string", msg.span,
                        'for example: assert x > 0, "x must be positive"')
        return A.Assert(cond, text, _tok_to(kw, (msg or cond).span))

    def simple_stmts(self, c):
        return c

    # -- blocks
    def suite(self, c):
        return _flatten(c)

    def elif_clause(self, c):
        return ("elif", c[0], c[1])

    def else_clause(self, c):
        return ("else", c[0])

    def if_stmt(self, c):
        kw, cond, body, *clauses = c
        conds, bodies, orelse = [cond], [body], ()
        for cl in clauses:
            if cl is None:
                continue
            if cl[0] == "elif":
                conds.append(cl[1])
                bodies.append(cl[2])
            else:
                orelse = cl[1]
        return A.If(tuple(conds), tuple(bodies), orelse, _end_of(kw, *bodies, orelse))

    def for_stmt(self, c):
        kw, var, it, body = c
        args: tuple = ()
        if isinstance(it, A.Call) and it.func == "range":
            args = it.args
            if it.kwargs:
                _report("range takes no keyword arguments", it.kwargs[0].span)
            if not 1 <= len(args) <= 3:
                _report(f"range takes 1 to 3 arguments, not {len(args)}", it.span,
                        "range(n), range(start, stop) or range(start, stop, step)")
        else:
            _report("a for loop runs over range(...)", it.span,
                    "for example: for i in range(n):")
        return A.For(_name(var), tuple(args), body, _end_of(kw, body))

    def while_stmt(self, c):
        kw, cond, body = c
        return A.While(cond, body, _end_of(kw, body))

    def params(self, c):
        return c

    def funcdef(self, c):
        kw, name, params, body = c
        names, seen = [], set()
        for p in params or ():
            n = _name(p)
            if n in seen:
                _report(f"parameter '{n}' appears twice", _span(p))
            seen.add(n)
            names.append(n)
        return A.FuncDef(_name(name), tuple(names), body, _end_of(kw, body))

    def start(self, c):
        return _flatten(c)
