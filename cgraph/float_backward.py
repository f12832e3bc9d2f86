"""Eager mode's backward pass on Python floats, for graphs of scalars.

An eager run has every forward value already; when only the gradients' values
are wanted (`Program.gradients`), adding the backward graph node by node
(`autodiff.backward`) costs more than the arithmetic. Here the same walk runs
on floats: each node's cotangents come from its op's VJP in the registry,
traced once (per op and set of live inputs) into closures of the ops' own
Python-float rules, and accumulate in the same order with the same add, so
the numbers are those of the graph backward. Anything the
float rules cannot do (a non-scalar, attributes, an op without a float rule,
log(0)) returns None and the caller builds the graph backward as before.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from . import registry as R
from .notation import Sym

_RULES: dict = {}  # (op name, which inputs are live) -> its specs (`_specs`), or None
_BY_OP: dict = {}  # op name -> its specs by live inputs (bit k: input k), <= 2 inputs


class _NotScalar(Exception):
    """The VJP rule uses something a Python-float step cannot be."""


class _ScalarNode:
    __slots__ = ()
    shape = ()
    dtype = "float64"


class _Scalars:
    """What a rule reading `x.shape` sees: every value on the tape is a scalar."""

    _node = _ScalarNode()

    def __getitem__(self, i):
        return self._node


class _Tape:
    """Stands in for the graph while a VJP rule runs: records each node the rule
    would add as a step (the op's `scalar` rule, its argument slots)."""

    def __init__(self, n: int):
        self.steps: dict = {}  # slot -> ("p", k): parameter k (0: the cotangent, 1: the
        self.size = n          # output, 2...: the inputs) | ("c", value) | (rule, slots)
        for k in range(n):
            self.steps[k] = ("p", k)
        self.nodes = _Scalars()

    def add(self, op, inputs=(), attrs=None, span=None, name=None) -> int:
        op = R.get(op) if op.__class__ is str else op
        if attrs or op.scalar is None or not op.elementwise:
            raise _NotScalar(op.name)
        return self._new((op.scalar, tuple(inputs)))

    def const(self, value, span=None) -> int:
        if not isinstance(value, (int, float)):
            raise _NotScalar("const")
        return self._new(("c", float(value)))

    def _new(self, step) -> int:
        k = self.size
        self.size += 1
        self.steps[k] = step
        return k


#: a cotangent that is the node's own, unchanged (add's, sub's first): nothing to run
CT = object()


def scalar_vjp(op: R.OpDef, live: tuple):
    """op's VJP (its registry rule, traced on scalars) as a Python-float function
    `(ct, out, *inputs) -> cotangents` (None for an input not in `live`), computing
    only what the live inputs need; None when the rule is not all-scalar."""
    specs = _specs(op, live)
    if specs is None:
        return None

    def vjp(*args):
        return tuple(None if f is None else args[0] if f is CT else f(args) for f in specs)
    return vjp


def _specs(op: R.OpDef, live: tuple):
    """Per input: None (no cotangent), CT (the node's cotangent itself) or a closure
    of the arguments' tuple (ct, out, *inputs) giving it; None if not all-scalar."""
    key = (op.name, live)
    if key in _RULES:
        return _RULES[key]
    specs = None
    if op.vjp is None:  # not differentiable (a comparison): no cotangent at all
        specs = (None,) * len(live)
    elif op.elementwise:
        try:
            specs = _trace(op, live)
        except (_NotScalar, TypeError, ValueError, AttributeError, ArithmeticError):
            specs = None
    _RULES[key] = specs
    return specs


def _table(op: R.OpDef, n: int) -> list:
    """op's specs for every set of live inputs (bit k: input k), filed in `_BY_OP`
    (n is 1 or 2; an op taking a list of tensors is not elementwise: all None)."""
    table = [_specs(op, tuple((mask >> k) & 1 for k in range(n))) for mask in range(1 << n)]
    _BY_OP[op.name] = table
    return table


def _trace(op: R.OpDef, live: tuple) -> tuple:
    n = len(live)
    tape = _Tape(2 + n)
    outs = op.vjp(Sym(tape, 0), Sym(tape, 1), *(Sym(tape, 2 + k) for k in range(n)))
    if len(outs) != n:
        raise _NotScalar(op.name)
    specs = []
    for k, o in enumerate(outs):
        if not live[k] or o is None:
            specs.append(None)
        elif o.__class__ is not Sym:
            specs.append(_const(float(o)))
        elif o.id == 0:
            specs.append(CT)
        else:
            kind, f = _closure(tape.steps, o.id)
            specs.append(f if kind == "s" else _const(f) if kind == "c" else _getter(f))
    return tuple(specs)


def _getter(k: int):
    if k == 0:
        return lambda a: a[0]
    # NumPy scalars become Python floats: the same IEEE arithmetic, faster
    return lambda a: float(a[k])


def _closure(steps: dict, slot: int):
    """Slot's value as ("p", k) (parameter k), ("c", value) (a constant: steps of
    constants alone are run here, once) or ("s", closure of the arguments' tuple)."""
    step = steps[slot]
    if step[0] in ("p", "c"):
        return step
    fn, args = step
    parts = [_closure(steps, j) for j in args]  # a rule's few steps: shallow
    if all(kind == "c" for kind, _ in parts):
        return "c", fn(*[v for _, v in parts])
    if len(parts) == 1:
        (kind, x), = parts
        if kind == "s":
            return "s", lambda a: fn(x(a))
        if x == 0:
            return "s", lambda a: fn(a[0])
        return "s", lambda a: fn(float(a[x]))
    if len(parts) == 2:
        (kx, x), (ky, y) = parts
        if kx == "p" and x == 0:
            if ky == "s":
                return "s", lambda a: fn(a[0], y(a))
            if ky == "p":
                return "s", lambda a: fn(a[0], float(a[y]))
            return "s", lambda a: fn(a[0], y)
        if kx == "s" and ky == "s":
            return "s", lambda a: fn(x(a), y(a))
        if kx == "s" and ky == "c":
            return "s", lambda a: fn(x(a), y)
        if kx == "c" and ky == "s":
            return "s", lambda a: fn(x, y(a))
    gets = [v if kind == "s" else _getter(v) if kind == "p" else _const(v) for kind, v in parts]
    return "s", lambda a: fn(*[g(a) for g in gets])


def _const(v):
    return lambda a: v


def gradients(g, y: int, wrt) -> Optional[dict]:
    """∂y/∂w as a Python float for each w in wrt (None: no cotangent reached w), by
    the graph backward's walk and rules (`autodiff.backward`) on floats; None if
    some node on the way is not a scalar with an all-scalar VJP."""
    nodes, values, varies = g.nodes, g.values, g.varies
    for w in wrt:
        if not varies[w]:
            return None
    # a node that depends on no leaf depends on no w (each w depends on a leaf), so
    # `varies` bounds the live nodes: the extra cotangents only reach dead nodes
    lo = min(wrt, default=y)
    cts: list = [None] * (y + 1)
    cts[y] = 1.0
    tables = _BY_OP
    add = R.get("add").scalar  # fan-out sums as the graph backward's add nodes do
    try:
        for i in range(y, lo - 1, -1):
            ct = cts[i]
            if ct is None:
                continue
            node = nodes[i]
            ins = node.inputs
            if node.shape != () or node.attrs:
                if not ins:
                    continue  # a leaf
                return None
            n = len(ins)
            if n > 2:  # where, clip
                specs = _specs(node.op, tuple(varies[j] for j in ins))
                if specs is None:
                    return None
                args = (ct, values[i], *[values[j] for j in ins])
                for j, f in zip(ins, specs):
                    if f is not None:
                        c = ct if f is CT else f(args)
                        old = cts[j]
                        cts[j] = c if old is None else add(old, c)
                continue
            table = tables.get(node.op.name)
            if table is None or len(table) != 1 << n:
                table = _table(node.op, n)
            if n == 2:
                a, b = ins
                specs = table[varies[a] + 2 * varies[b]]
                if specs is None:
                    return None
                fa, fb = specs
                if fa is not None:
                    c = ct if fa is CT else fa((ct, values[i], values[a], values[b]))
                    old = cts[a]
                    cts[a] = c if old is None else add(old, c)
                if fb is not None:
                    c = ct if fb is CT else fb((ct, values[i], values[a], values[b]))
                    old = cts[b]
                    cts[b] = c if old is None else add(old, c)
            elif n == 1:
                a = ins[0]
                specs = table[varies[a]]
                if specs is None:
                    return None
                fa = specs[0]
                if fa is not None:
                    c = ct if fa is CT else fa((ct, values[i], values[a]))
                    old = cts[a]
                    cts[a] = c if old is None else add(old, c)
    except (ArithmeticError, ValueError, TypeError):
        return None  # log(0), an overflow...: the graph backward gives NumPy's inf or nan
    out = {}
    for w in wrt:
        c = cts[w] if w <= y else None
        if c is not None and c.__class__ is not float:
            if not isinstance(c, (int, float, np.floating, np.integer, np.bool_)):
                return None
            c = float(c)
        out[w] = c
    return out
