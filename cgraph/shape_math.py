"""Shape arithmetic shared by the op registry's shape rules.

A shape is a tuple of dims; a dim is an int, or None when it is not known
until the program runs. A whole shape of None means even the rank is unknown.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

Shape = Optional[tuple]


class ShapeError(Exception):
    """Raised by a shape rule; the builder turns it into a located diagnostic."""

    def __init__(self, message: str, hint: Optional[str] = None, kind: str = "shape"):
        super().__init__(message)
        self.message, self.hint, self.kind = message, hint, kind


def fmt(shape: Shape) -> str:
    if shape is None:
        return "[?]"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def known(shape: Shape) -> bool:
    return shape is not None and None not in shape


def size(shape: Shape) -> Optional[int]:
    if shape is None or None in shape:
        return None
    return math.prod(shape)


def broadcast(*shapes: Shape) -> Shape:
    """NumPy broadcasting of several shapes, with unknown dims allowed."""
    if len(shapes) == 2 and shapes[0] == shapes[1] and shapes[0] is not None \
            and None not in shapes[0]:
        return tuple(shapes[0])  # the common case: two operands of one known shape
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(-rank, 0):
        dim = 1
        for s in shapes:
            if len(s) < -axis:
                continue
            d = s[axis]
            if d == 1:
                continue
            if dim == 1:
                dim = d
            elif d is None or dim is None:
                dim = d if dim is None else dim
            elif d != dim:
                pos = rank + axis
                raise ShapeError(
                    "shapes " + " and ".join(fmt(s) for s in shapes) + " do not broadcast",
                    hint=f"dim {pos} (from the right: {-axis}) is {dim} in one and {d} in the other; "
                         "sizes must be equal or 1")
        out.append(dim)
    return tuple(out)


def norm_axis(axis: int, ndim: int, what: str = "axis") -> int:
    if not -ndim <= axis < ndim:  # as NumPy: a scalar has no axis at all
        raise ShapeError(f"{what} {axis} is out of range for a tensor of rank {ndim}",
                         hint=f"valid axes are {-ndim}..{ndim - 1}" if ndim else
                         "a scalar has no axes: leave axis out (axis=none)")
    return axis % ndim


def norm_axes(axis, ndim: int) -> tuple:
    """axis: None (all), an int, or a sequence of ints -> sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    out = sorted({norm_axis(a, ndim) for a in axis})
    if len(out) != len(tuple(axis)):
        raise ShapeError(f"repeated axis in {list(axis)}")
    return tuple(out)


def reduce(shape: Shape, axis, keepdims: bool) -> Shape:
    if shape is None:
        return None if (axis is not None or keepdims) else ()
    axes = norm_axes(axis, len(shape))
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def matmul(a: Shape, b: Shape) -> Shape:
    """Shape of a @ b, NumPy semantics (1-D operands promoted and removed)."""
    if a is None or b is None:
        return None
    if len(a) == 0 or len(b) == 0:
        raise ShapeError("@ needs operands of rank 1 or more, got a scalar",
                         hint="use * to multiply by a scalar")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    k1, k2 = a2[-1], b2[-2]
    if k1 is not None and k2 is not None and k1 != k2:
        raise ShapeError(f"matmul of {fmt(a)} and {fmt(b)}: inner dims {k1} and {k2} differ",
                         hint=f"the last dim of the left operand ({k1}) must equal "
                              f"the {'only' if len(b) == 1 else 'second-to-last'} dim of the right ({k2})")
    batch = broadcast(a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def same(shapes: Sequence[Shape]) -> Shape:
    return shapes[0]
