"""The op registry: every builtin and operator, declared once.

An `OpDef` holds everything cgraph knows about an op: its signature, shape
rule, dtype rule, NumPy forward, derivative (a VJP written with registry ops,
so derivatives are graphs and can be differentiated again), the symbolic
partials `--explain` prints, the input domain the tests sample from, and a
one-line doc. `cgraph ops`, the builder, the autodiff, the executor, the
drawing and the tests all read this table; nothing else knows an op.

This module only holds the table; the op families in `cgraph.ops` fill it
(import `cgraph.ops` to have every op declared).
"""
from __future__ import annotations

from typing import Any, Sequence

from . import shape_math as S
from .records import Frozen, Record

REQUIRED = object()

#: the kinds of argument that are tensors (the others are attributes, known at build time)
TENSOR_KINDS = {"tensor", "tensors"}


class Arg(Frozen):
    __slots__ = ("name", "kind", "default")
    _defaults = {"kind": "tensor", "default": REQUIRED}
    name: str
    kind: str
    default: Any

    @property
    def is_tensor(self) -> bool:
        return self.kind in TENSOR_KINDS

    def __str__(self) -> str:
        if self.default is REQUIRED:
            return self.name
        d = self.default
        text = "none" if d is None else ("true" if d is True else "false" if d is False else repr(d))
        return f"{self.name}={text}"


def partial_of_x(deriv: str) -> str:
    """A one-input derivative text written in `x` ("cos(x)") as the `partials`
    template `--explain` fills in ("cos({0})")."""
    import re

    return re.sub(r"(?<![A-Za-z_0-9])x(?![A-Za-z_0-9])", "{0}", deriv)   # x² too: ² is a \w


def parse_signature(sig: str) -> tuple[Arg, ...]:
    """`"x, axis:axes=none, keepdims:bool=false"` -> Args. A bare name is a tensor."""
    out = []
    for part in filter(None, (p.strip() for p in sig.split(","))):
        default = REQUIRED
        if "=" in part:
            part, text = (s.strip() for s in part.split("=", 1))
            default = {"none": None, "true": True, "false": False}.get(text, None)
            if text not in ("none", "true", "false"):
                default = float(text) if any(c in text for c in ".e") else int(text)
        name, _, kind = part.partition(":")
        out.append(Arg(name.strip(), kind.strip() or "tensor", default))
    return tuple(out)


class OpDef(Record):
    """name, signature (`args`), NumPy `forward(*arrays, **attrs)`, shape rule
    `shape(in_shapes, **attrs)`, `vjp(g, out, *inputs, **attrs)` giving one
    cotangent per input, and what the rest of cgraph needs to know of it."""

    __slots__ = ("name", "args", "forward", "shape", "vjp", "doc", "deriv", "partials", "dtype",
                 "domain", "symbol", "family", "scalar", "elementwise", "foldable",
                 "partial_shapes", "batch", "test", "jvp", "infix")
    _defaults = {"vjp": None, "jvp": None, "infix": None, "doc": "", "deriv": "", "partials": (), "dtype": "float",
                 "domain": (), "symbol": "", "scalar": None,
                 "elementwise": False, "foldable": True, "partial_shapes": False, "batch": None}
    _factories = {"test": dict}
    # deriv: the derivative rule as `cgraph ops` prints it; partials: ∂out/∂input_i as
    # text templates ({0}, {1}, {out}) for --explain; dtype: float | bool | int | same;
    # domain: per tensor input, where the generated tests sample (real pos unit away0…);
    # symbol: how a drawing shows it (+, ×, @); scalar: a Python-float version for
    # all-scalar plans; infix: the Python operator that rule is, for compiled scalar loops
    # (a key of cgraph.loop_compile.INFIX: "+", "<", "neg"…); foldable: may run at build time on constants; partial_shapes:
    # the shape rule copes with unknown dims; batch: how it runs over rows (a rule of
    # cgraph.batch.vectorize, or None: a per-row loop); test: hints for the generated tests;
    # jvp: forward mode — "linear" (the op applied to the tangents), a rule
    # `jvp(tangents, out, *inputs, **attrs)` (None where an input has no tangent), or
    # None: derived from the vjp (cgraph.autodiff.tangent).

    @property
    def differentiable(self) -> bool:
        return self.vjp is not None

    @property
    def tensor_args(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.is_tensor)

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(map(str, self.args))})"

    def infer_shape(self, in_shapes: Sequence, attrs: dict):
        if self.shape is None:
            return None
        if self.partial_shapes or _all_known(in_shapes):
            return self.shape(list(in_shapes), **attrs)
        try:  # many rules still work with unknown dims; fall back to unknown
            return self.shape(list(in_shapes), **attrs)
        except ShapeErrorTypes:
            if any(s is None for s in in_shapes):
                return None
            raise


def _all_known(shapes) -> bool:
    for s in shapes:
        if s is None or None in s:
            return False
    return True


ShapeErrorTypes = (TypeError, IndexError)  # a rule tripping on None dims means "unknown"

REGISTRY: dict[str, OpDef] = {}


def defop(name: str, *, sig: str, forward, shape, vjp=None, family: str, **kw) -> OpDef:
    """Declare an op. This is the one place a builtin is defined. `family`
    is required: "internal" hides an op from users, any other family is a
    builtin that `cgraph ops` lists under that heading."""
    if name in REGISTRY:
        raise ValueError(f"op {name!r} declared twice")
    op = OpDef(name, parse_signature(sig), forward, shape, vjp, family=family, **kw)
    REGISTRY[name] = op
    return op


def get(name: str) -> OpDef:
    """The op called `name` (the table is filled by importing `cgraph.ops`)."""
    return REGISTRY[name]


def builtins() -> list[OpDef]:
    """The user-visible builtins and operators, in declaration order."""
    return [op for op in REGISTRY.values() if op.family != "internal"]


# ---------------------------------------------------------------- shape rules
def same_shape(shapes, **_):
    return shapes[0]


def broadcast_shape(shapes, **_):
    return S.broadcast(*shapes)


def reduce_shape(shapes, axis=None, keepdims=False, **_):
    return S.reduce(shapes[0], axis, keepdims)

