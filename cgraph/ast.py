"""Typed, frozen AST of a cgraph program.

Sums and products of many terms are n-ary (`Chain`) so a 100,000-term sum is
one node, not a 100,000-deep tree. Every node carries its source `span`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from .source import Span


# ---------------------------------------------------------------- expressions
@dataclass(frozen=True, slots=True)
class Num:
    value: float
    span: Span


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Str:
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True, slots=True)
class ListLit:
    """`[a, b, ...]`: a tensor literal, a shape, or a list argument."""

    items: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-", "+", "not"
    operand: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    """One binary operator: `^` (right-assoc; `**` is spelled `^` here),
    comparisons (`<`, `<=`, `>`, `>=`, `==`, `!=`)."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class Chain:
    """A left-associative run of same-precedence operators:
    `first op1 rest[0] op2 rest[1] ...`. ops are from one level:
    {"+", "-"}, {"*", "/", "@", "%"}, {"and"} or {"or"}."""

    first: "Expr"
    ops: tuple[str, ...]
    rest: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Keyword:
    name: str
    value: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple["Expr", ...]
    kwargs: tuple[Keyword, ...]
    span: Span
    func_span: Span


@dataclass(frozen=True, slots=True)
class Slice:
    start: Optional["Expr"]
    stop: Optional["Expr"]
    step: Optional["Expr"]
    span: Span


@dataclass(frozen=True, slots=True)
class Index:
    """`value[i, a:b, ...]`; each item an Expr or a Slice."""

    value: "Expr"
    items: tuple[Union["Expr", Slice], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Transpose:
    """`value.T`"""

    value: "Expr"
    span: Span


Expr = Union[Num, Bool, Str, Name, ListLit, Unary, Binary, Chain, Call, Index, Transpose]


# ----------------------------------------------------------------- statements
@dataclass(frozen=True, slots=True)
class Assign:
    """`target = value`, or `target op= value` when `op` is "+", "-", "*", "/"."""

    target: str
    value: Expr
    op: Optional[str]
    span: Span
    target_span: Span


Dim = Union[Num, Name]  # a dim of a declared shape: an integer or a named dim


@dataclass(frozen=True, slots=True)
class Input:
    name: str
    shape: Optional[tuple[Dim, ...]]
    span: Span


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    shape: Optional[tuple[Dim, ...]]
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Const:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class FuncDef:
    name: str
    params: tuple[str, ...]
    body: tuple["Stmt", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Return:
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class For:
    """`for var in range(args...):` — args are range's 1 to 3 arguments."""

    var: str
    args: tuple[Expr, ...]
    body: tuple["Stmt", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class If:
    """`if c0: b0 elif c1: b1 ... else: orelse` as parallel tuples."""

    conds: tuple[Expr, ...]
    bodies: tuple[tuple["Stmt", ...], ...]
    orelse: tuple["Stmt", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class While:
    cond: Expr
    body: tuple["Stmt", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Output:
    names: tuple[str, ...]
    span: Span
    name_spans: tuple[Span, ...]


@dataclass(frozen=True, slots=True)
class Print:
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Assert:
    cond: Expr
    message: Optional[str]
    span: Span


@dataclass(frozen=True, slots=True)
class ExprStmt:
    value: Expr
    span: Span


Stmt = Union[Assign, Input, Param, Const, FuncDef, Return, For, If, While, Output, Print, Assert, ExprStmt]


@dataclass(frozen=True, slots=True)
class Program:
    body: tuple[Stmt, ...]
    file: str
    source: str
