"""Typed, frozen AST of a cgraph program.

Sums and products of many terms are n-ary (`Chain`) so a 100,000-term sum is
one node, not a 100,000-deep tree. Every node carries its source `span`.
"""
from __future__ import annotations

from typing import Optional, Union

from .records import Frozen
from .source import Span


# ---------------------------------------------------------------- expressions
class Num(Frozen):
    __slots__ = ("value", "span")
    value: float
    span: Span


class Bool(Frozen):
    __slots__ = ("value", "span")
    value: bool
    span: Span


class Str(Frozen):
    __slots__ = ("value", "span")
    value: str
    span: Span


class Name(Frozen):
    __slots__ = ("id", "span")
    id: str
    span: Span


class ListLit(Frozen):
    """`[a, b, ...]`: a tensor literal, a shape, or a list argument."""
    __slots__ = ("items", "span")
    items: tuple["Expr", ...]
    span: Span


class Unary(Frozen):
    __slots__ = ("op", "operand", "span")
    op: str  # "-", "+", "not"
    operand: "Expr"
    span: Span


class Binary(Frozen):
    """One binary operator: `^` (right-assoc; `**` is spelled `^` here),
    comparisons (`<`, `<=`, `>`, `>=`, `==`, `!=`)."""
    __slots__ = ("op", "left", "right", "span")
    op: str
    left: "Expr"
    right: "Expr"
    span: Span


class Chain(Frozen):
    """A left-associative run of same-precedence operators:
    `first op1 rest[0] op2 rest[1] ...`. ops are from one level:
    {"+", "-"}, {"*", "/", "@", "%"}, {"and"} or {"or"}."""
    __slots__ = ("first", "ops", "rest", "span")
    first: "Expr"
    ops: tuple[str, ...]
    rest: tuple["Expr", ...]
    span: Span


class Keyword(Frozen):
    __slots__ = ("name", "value", "span")
    name: str
    value: "Expr"
    span: Span


class Call(Frozen):
    __slots__ = ("func", "args", "kwargs", "span", "func_span")
    func: str
    args: tuple["Expr", ...]
    kwargs: tuple[Keyword, ...]
    span: Span
    func_span: Span


class Slice(Frozen):
    __slots__ = ("start", "stop", "step", "span")
    start: Optional["Expr"]
    stop: Optional["Expr"]
    step: Optional["Expr"]
    span: Span


class Index(Frozen):
    """`value[i, a:b, ...]`; each item an Expr or a Slice."""
    __slots__ = ("value", "items", "span")
    value: "Expr"
    items: tuple[Union["Expr", Slice], ...]
    span: Span


class Transpose(Frozen):
    """`value.T`"""
    __slots__ = ("value", "span")
    value: "Expr"
    span: Span


Expr = Union[Num, Bool, Str, Name, ListLit, Unary, Binary, Chain, Call, Index, Transpose]


# ----------------------------------------------------------------- statements
class Assign(Frozen):
    """`target = value`, or `target op= value` when `op` is "+", "-", "*", "/"."""
    __slots__ = ("target", "value", "op", "span", "target_span")
    target: str
    value: Expr
    op: Optional[str]
    span: Span
    target_span: Span


Dim = Union[Num, Name]  # a dim of a declared shape: an integer or a named dim


class Input(Frozen):
    __slots__ = ("name", "shape", "span")
    name: str
    shape: Optional[tuple[Dim, ...]]
    span: Span


class Param(Frozen):
    __slots__ = ("name", "shape", "value", "span")
    name: str
    shape: Optional[tuple[Dim, ...]]
    value: Expr
    span: Span


class Const(Frozen):
    __slots__ = ("name", "value", "span")
    name: str
    value: Expr
    span: Span


class FuncDef(Frozen):
    __slots__ = ("name", "params", "body", "span")
    name: str
    params: tuple[str, ...]
    body: tuple["Stmt", ...]
    span: Span


class Return(Frozen):
    __slots__ = ("value", "span")
    value: Expr
    span: Span


class For(Frozen):
    """`for var in range(args...):` — args are range's 1 to 3 arguments."""
    __slots__ = ("var", "args", "body", "span")
    var: str
    args: tuple[Expr, ...]
    body: tuple["Stmt", ...]
    span: Span


class If(Frozen):
    """`if c0: b0 elif c1: b1 ... else: orelse` as parallel tuples."""
    __slots__ = ("conds", "bodies", "orelse", "span")
    conds: tuple[Expr, ...]
    bodies: tuple[tuple["Stmt", ...], ...]
    orelse: tuple["Stmt", ...]
    span: Span


class While(Frozen):
    __slots__ = ("cond", "body", "span")
    cond: Expr
    body: tuple["Stmt", ...]
    span: Span


class Output(Frozen):
    __slots__ = ("names", "span", "name_spans")
    names: tuple[str, ...]
    span: Span
    name_spans: tuple[Span, ...]


class Print(Frozen):
    __slots__ = ("args", "span")
    args: tuple[Expr, ...]
    span: Span


class Assert(Frozen):
    __slots__ = ("cond", "message", "span")
    cond: Expr
    message: Optional[str]
    span: Span


class ExprStmt(Frozen):
    __slots__ = ("value", "span")
    value: Expr
    span: Span


Stmt = Union[Assign, Input, Param, Const, FuncDef, Return, For, If, While, Output, Print, Assert, ExprStmt]


class Program(Frozen):
    __slots__ = ("body", "file", "source")
    body: tuple[Stmt, ...]
    file: str
    source: str