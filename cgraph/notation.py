"""Derivative notation: a graph node as a value with operators (`Sym`), and
`F.name(...)`, a call of registry op `name`. Both add nodes through the graph's
`add`, so a rule such as `lambda g, out, x: (g * F.cos(x),)` builds the
derivative as a graph. Depends only on the registry: the op families use it.
"""
from __future__ import annotations

from . import registry as R


class Sym:
    """A node of a graph being built, with operators that add nodes.

    Derivative rules in the registry are written with Syms:
    `lambda g, out, x: g * F.cos(x)` adds a cos and a mul node.
    """

    __slots__ = ("g", "id")

    def __init__(self, g, id: int):
        self.g, self.id = g, id

    node = property(lambda self: self.g.nodes[self.id])
    shape = property(lambda self: self.node.shape)
    dtype = property(lambda self: self.node.dtype)
    ndim = property(lambda self: None if self.node.shape is None else len(self.node.shape))

    def _lift(self, v) -> int:
        return v.id if isinstance(v, Sym) else self.g.const(v)

    def _bin(self, op, other, swap=False):
        a, b = self.id, self._lift(other)
        return Sym(self.g, self.g.add(op, (b, a) if swap else (a, b)))

    __add__ = lambda s, o: s._bin("add", o)
    __radd__ = lambda s, o: s._bin("add", o, True)
    __sub__ = lambda s, o: s._bin("sub", o)
    __rsub__ = lambda s, o: s._bin("sub", o, True)
    __mul__ = lambda s, o: s._bin("mul", o)
    __rmul__ = lambda s, o: s._bin("mul", o, True)
    __truediv__ = lambda s, o: s._bin("div", o)
    __rtruediv__ = lambda s, o: s._bin("div", o, True)
    __pow__ = lambda s, o: s._bin("pow", o)
    __rpow__ = lambda s, o: s._bin("pow", o, True)
    __matmul__ = lambda s, o: s._bin("matmul", o)
    __rmatmul__ = lambda s, o: s._bin("matmul", o, True)
    __gt__ = lambda s, o: s._bin("gt", o)
    __ge__ = lambda s, o: s._bin("ge", o)
    __lt__ = lambda s, o: s._bin("lt", o)
    __le__ = lambda s, o: s._bin("le", o)
    __neg__ = lambda s: Sym(s.g, s.g.add("neg", (s.id,)))
    T = property(lambda s: Sym(s.g, s.g.add("transpose", (s.id,), {"axes": None})))


class _Functions:
    """`F.name(*tensors, **attrs)` adds a node of registry op `name`."""

    def __getattr__(self, name: str):
        op = R.get(name)
        names = [a.name for a in op.args]

        def call(*args, **kw):
            g = next((a.g for a in list(args) + list(kw.values()) if isinstance(a, Sym)), None)
            if g is None:
                for a in args:
                    if isinstance(a, (list, tuple)):
                        g = next((x.g for x in a if isinstance(x, Sym)), None)
                        if g:
                            break
            bound = dict(zip(names, args))
            bound.update(kw)
            ins, attrs = [], {}
            for arg in op.args:
                v = bound.get(arg.name, arg.default)
                if arg.kind == "tensor":
                    ins.append(v.id if isinstance(v, Sym) else g.const(v))
                elif arg.kind == "tensors":
                    ins.extend(x.id if isinstance(x, Sym) else g.const(x) for x in v)
                else:
                    attrs[arg.name] = v
            return Sym(g, g.add(op, ins, attrs))

        if all(a.kind == "tensor" for a in op.args):
            call = _tensors_only(op, call)
        self.__dict__[name] = call  # the next F.name is found without __getattr__
        return call


def _tensors_only(op, general):
    """`F.name` for an op of tensor arguments only: called with a Sym for each, by
    position (F.cos(x), most derivative rules), it adds the node without binding
    the arguments by name; anything else goes to the general call."""
    n = len(op.args)

    def call(*args, **kw):
        if kw or len(args) != n:
            return general(*args, **kw)
        for a in args:
            if a.__class__ is not Sym:
                return general(*args, **kw)
        g = args[0].g
        return Sym(g, g.add(op, [a.id for a in args], {}))
    return call


F = _Functions()
