"""Shape ops: reshape, flatten, squeeze, expand_dims, broadcast_to, concat,
stack; and the (internal) indexing ops behind `x[...]` and `x[idx]`.

Every derivative here moves values around without changing them, so each
vjp is another shape op (reshape back, sum back, slice out, scatter back),
and second derivatives come for free.

Indexing is static: `index(x, items)` holds the index as a tuple of entries,
each one of
    ("int", i)                       an integer (negative allowed)
    ("slice", start, stop, step)     Nones allowed, as in Python
    ("newaxis",)                     a new size-1 axis
    ("ellipsis",)                    `...`: as many full slices as needed
(NumPy basic indexing). `take(x, idx)` gathers along the first axis with an
integer-valued tensor index; its gradient scatter-adds back (`np.add.at`), so
repeated indices accumulate.
"""
from __future__ import annotations

import numpy as np

from .. import shape_math as S
from ..notation import F
from ..registry import defop

ShapeError = S.ShapeError


def _prod(dims) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _int_list(shape, what="shape") -> tuple:
    """A shape attribute as a tuple of ints (integer-valued floats accepted)."""
    if isinstance(shape, (int, float, np.integer, np.floating)):
        shape = [shape]
    out = []
    for d in shape:
        if d is None:  # a named dim of an input whose shape is not known yet (cgraph check)
            out.append(None)
            continue
        if isinstance(d, (bool, np.bool_)) or float(d) != int(d):
            raise ShapeError(f"a {what} needs integers, got {d!r}", kind="value")
        out.append(int(d))
    return tuple(out)


def check_shape(shape, what="shape") -> tuple:
    """A shape attribute of an op that makes a tensor: non-negative ints."""
    dims = _int_list(shape, what)
    bad = [d for d in dims if d is not None and d < 0]
    if bad:
        raise ShapeError(f"a {what} cannot have a negative size: {list(dims)}", kind="value",
                         hint="sizes are 0 or more (only reshape infers a -1)")
    return dims


def int_values(values, n=None, what="index", allow_negative=True) -> np.ndarray:
    """Integer-valued tensor values as int64, range-checked against a size `n`.

    Used by take (indices), one_hot and cross_entropy (class labels). Raises
    ValueError (not an integer, or out of range); the executor turns it into a
    located diagnostic.
    """
    arr = np.asarray(values)
    if arr.dtype.kind == "b":
        raise ValueError(f"{what} values must be integers, not booleans")
    if arr.dtype.kind not in "iu":
        bad = ~np.isfinite(arr) | (arr != np.round(arr)) if arr.size else np.zeros(arr.shape, bool)
        if np.any(bad):
            raise ValueError(f"{what} {float(arr[bad].flat[0]):g} is not an integer")
    out = arr.astype(np.int64)
    if n is not None and out.size:
        lo = -n if allow_negative else 0
        wrong = (out < lo) | (out >= n)
        if np.any(wrong):
            v = int(out[wrong].flat[0])
            valid = f"{-n}..{n - 1}" if allow_negative else f"0..{n - 1}"
            raise ValueError(f"{what} {v} is out of range for size {n} (valid: {valid})")
    return out


def reshape_back(g, x):
    """g reshaped to x's shape (a reshape node when x's shape is known)."""
    if S.known(x.shape):
        return F.reshape(g, shape=list(x.shape))
    return F.reshape_like(g, x)


# ------------------------------------------------------------------ reshape
def _reshape_target(in_shape, shape) -> tuple:
    dims = _int_list(shape)
    if None in dims:  # a named dim not known until the program runs
        return tuple(None if d == -1 else d for d in dims)
    free = [i for i, d in enumerate(dims) if d == -1]
    if len(free) > 1:
        raise ShapeError(f"reshape to {list(dims)}: only one dim may be -1",
                         hint="-1 means 'infer this dim from the others'")
    if any(d < -1 for d in dims):
        raise ShapeError(f"reshape to {list(dims)}: sizes must be 0 or more (or one -1)",
                         kind="value")
    n = S.size(in_shape)
    if free:
        rest = _prod(d for d in dims if d != -1)
        if n is None:
            return tuple(None if d == -1 else d for d in dims)
        if rest == 0 or n % rest:
            raise ShapeError(f"cannot reshape {S.fmt(in_shape)} ({n} elements) into {list(dims)}",
                             hint=f"the other dims multiply to {rest}, which does not divide {n}")
        return tuple(n // rest if d == -1 else d for d in dims)
    if n is not None and _prod(dims) != n:
        raise ShapeError(f"cannot reshape {S.fmt(in_shape)} ({n} elements) into {list(dims)} "
                         f"({_prod(dims)} elements)",
                         hint="the number of elements must stay the same; one dim may be -1 to infer it")
    return dims


def _reshape(x, shape):
    return np.reshape(x, _int_list(shape))


defop("reshape", jvp="linear", sig="x, shape:shape", forward=_reshape,
      shape=lambda s, shape: _reshape_target(s[0], shape),
      vjp=lambda g, out, x, shape: (reshape_back(g, x),),
      doc="the same values in a new shape (one dim may be -1: inferred)",
      deriv="reshape the gradient back", partials=("1",), family="shape", symbol="reshape",
      batch="reshape",
      dtype="same", test={"cases": [{"shapes": [(2, 3)], "attrs": {"shape": [3, -1]}},
                                    {"shapes": [(4,)], "attrs": {"shape": [2, 1, 2]}}]})

defop("reshape_like", sig="x, like", forward=lambda x, like: np.reshape(x, np.shape(like)),
      shape=lambda s: s[1], vjp=lambda g, out, x, like: (F.reshape_like(g, x), None),
      doc="x reshaped to like's shape (gradients of reshapes when shapes are unknown)",
      deriv="reshape the gradient back", family="internal", symbol="reshape", dtype="same",
      batch="reshape",
      domain=("real", "real"),
      test={"shapes": [(2, 3), (3, 2)]})


def _flatten_shape(s):
    n = S.size(s[0])
    return (n,)


defop("flatten", jvp="linear", sig="x", forward=lambda x: np.reshape(x, (-1,)), shape=_flatten_shape,
      vjp=lambda g, out, x: (reshape_back(g, x),),
      doc="the values as a 1-D tensor (row-major)", deriv="reshape the gradient back",
      partials=("1",), family="shape", symbol="flatten", dtype="same", batch="reshape",
      test={"cases": [{"shapes": [(2, 3)]}, {"shapes": [()]}]})


# ------------------------------------------------------- squeeze, expand_dims
def _axes_tuple(axis) -> tuple:
    if axis is None:
        return ()
    if isinstance(axis, (int, np.integer)):
        return (int(axis),)
    return tuple(_int_list(axis, "axis list"))


def _squeeze_axes(shape, axis) -> tuple:
    if axis is None:
        return tuple(i for i, d in enumerate(shape) if d == 1)
    axes = S.norm_axes(_axes_tuple(axis), len(shape))
    for a in axes:
        if shape[a] is not None and shape[a] != 1:
            raise ShapeError(f"cannot squeeze axis {a} of {S.fmt(shape)}: its size is {shape[a]}, not 1",
                             hint="only size-1 axes can be squeezed")
    return axes


def _squeeze_shape(s, axis=None):
    shape = s[0]
    if shape is None or (axis is None and not S.known(shape)):
        return None
    axes = _squeeze_axes(shape, axis)
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _squeeze(x, axis=None):
    return np.squeeze(x, axis=_squeeze_axes(x.shape, axis))


defop("squeeze", jvp="linear", sig="x, axis:axes=none", forward=_squeeze, shape=_squeeze_shape,
      vjp=lambda g, out, x, axis=None: (reshape_back(g, x),),
      doc="drop size-1 axes (all of them, or the ones named by axis)",
      deriv="reshape the gradient back", partials=("1",), family="shape", symbol="squeeze",
      batch="reshape",
      dtype="same", test={"cases": [{"shapes": [(3, 1, 2, 1)]},
                                    {"shapes": [(3, 1, 2, 1)], "attrs": {"axis": -1}},
                                    {"shapes": [(1, 3, 1)], "attrs": {"axis": [0, 2]}}]})


def _expand_axes(ndim, axis) -> tuple:
    if axis is None:
        raise ShapeError("expand_dims needs an axis", hint="e.g. expand_dims(x, 0)")
    axes = _axes_tuple(axis)
    return S.norm_axes(axes, ndim + len(axes))


def _expand_shape(s, axis=None):
    shape = s[0]
    if shape is None:
        return None
    axes = _expand_axes(len(shape), axis)
    it = iter(shape)
    return tuple(1 if i in axes else next(it) for i in range(len(shape) + len(axes)))


def _expand_dims(x, axis=None):
    return np.expand_dims(x, _expand_axes(np.ndim(x), axis))


defop("expand_dims", jvp="linear", sig="x, axis:axes", forward=_expand_dims, shape=_expand_shape,
      vjp=lambda g, out, x, axis=None: (reshape_back(g, x),),
      doc="insert size-1 axes at the given positions (an int or a list, as NumPy)",
      deriv="reshape the gradient back", partials=("1",), family="shape", symbol="expand_dims",
      batch="reshape",
      dtype="same", test={"cases": [{"shapes": [(2, 3)], "attrs": {"axis": 1}},
                                    {"shapes": [()], "attrs": {"axis": [0, -1]}},
                                    {"shapes": [(3,)], "attrs": {"axis": [0, 2]}}]})


# --------------------------------------------------------------- broadcast_to
def _broadcast_to_shape(s, shape):
    src, dst = s[0], check_shape(shape)
    if src is None:
        return dst
    bad = len(src) > len(dst)
    for i in range(1, len(src) + 1):
        if bad:
            break
        d, t = src[-i], dst[-i]
        if d is not None and t is not None and d != 1 and d != t:
            raise ShapeError(f"cannot broadcast {S.fmt(src)} to {S.fmt(dst)}",
                             hint=f"dim {len(src) - i} of the value is {d} but the target's "
                                  f"dim {len(dst) - i} is {t}; a dim must match or be 1")
    if bad:
        raise ShapeError(f"cannot broadcast {S.fmt(src)} to {S.fmt(dst)}",
                         hint=f"the target has fewer dims ({len(dst)}) than the value ({len(src)})")
    return dst


defop("broadcast_to", jvp="linear", sig="x, shape:shape",
      forward=lambda x, shape: np.broadcast_to(x, _int_list(shape)),  # a view: no copy
      shape=_broadcast_to_shape,
      vjp=lambda g, out, x, shape: (F.sum_to(g, shape=list(x.shape)),),
      doc="repeat x along new or size-1 axes to the given shape (NumPy broadcasting)",
      deriv="sum the gradient back to x's shape", partials=("1",), family="shape",
      symbol="broadcast", dtype="same", batch="broadcast",
      test={"cases": [{"shapes": [(3, 1)], "attrs": {"shape": [2, 3, 4]}},
                      {"shapes": [()], "attrs": {"shape": [2, 2]}}]})


# ------------------------------------------------------------- concat, stack
def _concat_shape(shapes, axis=0):
    if not shapes:
        raise ShapeError("concat needs at least one tensor", kind="value")
    if any(s is None for s in shapes):
        return None
    rank = len(shapes[0])
    if rank == 0:
        raise ShapeError("concat cannot join scalars", hint="use stack([...]) to make a vector of scalars")
    for s in shapes[1:]:
        if len(s) != rank:
            raise ShapeError(f"concat: shapes {S.fmt(shapes[0])} and {S.fmt(s)} have different ranks",
                             hint="every tensor must have the same number of dims")
    ax = S.norm_axis(axis, rank)
    out = list(shapes[0])
    for s in shapes[1:]:
        for i in range(rank):
            if i == ax:
                continue
            a, b = out[i], s[i]
            if a is not None and b is not None and a != b:
                raise ShapeError(f"concat along axis {ax}: shapes {S.fmt(shapes[0])} and {S.fmt(s)} "
                                 f"differ in dim {i} ({a} vs {b})",
                                 hint=f"all dims except axis {ax} must match")
            out[i] = a if a is not None else b
    sizes = [s[ax] for s in shapes]
    out[ax] = None if any(d is None for d in sizes) else sum(sizes)
    return tuple(out)


def _full_slices(n):
    return (("slice", None, None, None),) * n


def _concat_vjp(g, out, *xs, axis=0):
    ax = S.norm_axis(axis, len(xs[0].shape))
    grads, start = [], 0
    for x in xs:
        stop = start + x.shape[ax]
        grads.append(F.index(g, items=_full_slices(ax) + (("slice", start, stop, None),)))
        start = stop
    return tuple(grads)


defop("concat", jvp="linear", sig="xs:tensors, axis:int=0",
      forward=lambda *xs, axis=0: np.concatenate(xs, axis=axis),
      shape=_concat_shape, vjp=_concat_vjp,
      doc="join tensors along an existing axis", deriv="slice each part of the gradient back",
      family="shape", symbol="concat", dtype="same", batch="concat",
      test={"cases": [{"shapes": [(2, 3), (1, 3)]},
                      {"shapes": [(2, 3), (2, 1), (2, 2)], "attrs": {"axis": -1}}]})


def _stack_shape(shapes, axis=0):
    if not shapes:
        raise ShapeError("stack needs at least one tensor", kind="value")
    if any(s is None for s in shapes):
        return None
    first = shapes[0]
    for s in shapes[1:]:
        if len(s) != len(first) or any(a is not None and b is not None and a != b
                                       for a, b in zip(s, first)):
            raise ShapeError(f"stack: shapes {S.fmt(first)} and {S.fmt(s)} differ",
                             hint="every tensor must have the same shape")
    ax = S.norm_axis(axis, len(first) + 1)
    return first[:ax] + (len(shapes),) + first[ax:]


def _stack_vjp(g, out, *xs, axis=0):
    ax = S.norm_axis(axis, len(xs[0].shape) + 1)
    return tuple(F.index(g, items=_full_slices(ax) + (("int", i),)) for i in range(len(xs)))


defop("stack", jvp="linear", sig="xs:tensors, axis:int=0", forward=lambda *xs, axis=0: np.stack(xs, axis=axis),
      shape=_stack_shape, vjp=_stack_vjp,
      doc="join same-shape tensors along a new axis", deriv="take each slice of the gradient back",
      family="shape", symbol="stack", dtype="same", batch="stack",
      test={"cases": [{"shapes": [(3,), (3,)]},
                      {"shapes": [(2, 3), (2, 3), (2, 3)], "attrs": {"axis": -1}},
                      {"shapes": [(), ()]}]})


# ------------------------------------------------------------------ indexing
def _items(items) -> tuple:
    """Items as a tuple of tuples (hashable), whatever sequence type came in."""
    if items is None:
        return ()
    return tuple(tuple(e) for e in items)


def numpy_key(items) -> tuple:
    key = []
    for e in _items(items):
        kind = e[0]
        if kind == "int":
            key.append(int(e[1]))
        elif kind == "slice":
            key.append(slice(*(None if v is None else int(v) for v in e[1:4])))
        elif kind == "newaxis":
            key.append(None)
        elif kind == "ellipsis":
            key.append(Ellipsis)
        else:
            raise ValueError(f"unknown index entry {e!r}")
    return tuple(key)


def _index_shape(shapes, items=()):
    shape = shapes[0]
    if shape is None:
        return None
    items = _items(items)
    consumed = sum(1 for e in items if e[0] in ("int", "slice"))
    if consumed > len(shape):
        raise ShapeError(f"too many indices for a tensor of shape {S.fmt(shape)}: {consumed} given",
                         hint=f"it has {len(shape)} dim{'s' if len(shape) != 1 else ''}")
    if sum(1 for e in items if e[0] == "ellipsis") > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')")
    out, axis = [], 0
    for e in items:
        kind = e[0]
        if kind == "newaxis":
            out.append(1)
        elif kind == "ellipsis":
            n = len(shape) - consumed
            out.extend(shape[axis:axis + n])
            axis += n
        elif kind == "int":
            d, i = shape[axis], int(e[1])
            if d is not None and not -d <= i < d:
                raise ShapeError(f"index {i} is out of range for dim {axis} of {S.fmt(shape)} (size {d})",
                                 hint=f"valid indices are {-d}..{d - 1}")
            axis += 1
        elif kind == "slice":
            start, stop, step = e[1:4]
            if step == 0:
                raise ShapeError("a slice step cannot be zero", kind="value")
            d = shape[axis]
            out.append(None if d is None else len(range(*slice(start, stop, step).indices(d))))
            axis += 1
        else:
            raise ShapeError(f"unknown index entry {e!r}")
    out.extend(shape[axis:])
    return tuple(out)


def _index(x, items=()):
    return np.array(np.asarray(x)[numpy_key(items)])


def _index_grad(g, shape=(), items=()):
    g = np.asarray(g)
    out = np.zeros(_int_list(shape), dtype=g.dtype if g.dtype.kind == "f" else np.float64)
    out[numpy_key(items)] = g  # basic indexing never repeats a position
    return out


_INDEX_CASES = [
    {"shapes": [(4, 3)], "attrs": {"items": (("int", -1),)}},
    {"shapes": [(4, 3)], "attrs": {"items": (("slice", None, None, -2), ("int", 1))}},
    {"shapes": [(4, 3)], "attrs": {"items": (("slice", 1, 3, None), ("newaxis",),
                                             ("slice", None, None, None))}},
    {"shapes": [(2, 3, 4)], "attrs": {"items": (("ellipsis",), ("slice", 1, None, 2))}},
]

def _index_vjp(g, out, x, items=()):
    if S.known(x.shape):
        return (F.index_grad(g, shape=list(x.shape), items=items),)
    return (F.index_grad_like(g, x, items=items),)  # x's shape known only when it runs


defop("index", sig="x, items:any", forward=_index, shape=_index_shape, vjp=_index_vjp,
      doc="x[...]: NumPy basic indexing (integers, slices, newaxis, ...)",
      deriv="the gradient written back into the indexed region (zeros elsewhere)",
      partials=("1",), family="internal", symbol="[]", dtype="same", batch="index",
      test={"cases": _INDEX_CASES})

defop("index_grad", sig="g, shape:shape, items:any", forward=_index_grad,
      shape=lambda s, shape=(), items=(): check_shape(shape),
      vjp=lambda gg, out, g, shape=(), items=(): (F.index(gg, items=items),),
      doc="zeros of a shape with g written into an indexed region (the gradient of x[...])",
      deriv="index the gradient again", family="internal", symbol="[]ᵀ", batch="index_grad",
      test={"cases": [{"shapes": [(3,)], "attrs": {"shape": [4, 3], "items": (("int", 1),)}},
                      {"shapes": [(2, 3)], "attrs": {"shape": [4, 3],
                                                     "items": (("slice", None, None, -2),)}}]})


defop("index_grad_like", sig="g, like, items:any",
      forward=lambda g, like, items=(): _index_grad(g, np.shape(like), items),
      shape=lambda s, items=(): s[1],
      vjp=lambda gg, out, g, like, items=(): (F.index(gg, items=items), None),
      doc="zeros of like's shape with g written into an indexed region (index_grad when the "
          "shape is known only at run time: a while loop's history)",
      deriv="index the gradient again; none for like", family="internal", symbol="[]ᵀ",
      dtype="same",
      test={"cases": [{"shapes": [(3,), (4, 3)], "attrs": {"items": (("int", 1),)}}]})


def _take_shape(shapes):
    x, idx = shapes
    if x is None or idx is None:
        return None
    if len(x) == 0:
        raise ShapeError("a scalar cannot be indexed by a tensor", hint="index a tensor of rank 1 or more")
    return tuple(idx) + tuple(x[1:])


def _take(x, idx):
    x = np.asarray(x)
    return x[int_values(idx, x.shape[0], "index")]


def _scatter_add(g, idx, shape=()):
    shape = _int_list(shape)
    g = np.asarray(g)
    out = np.zeros(shape, dtype=g.dtype if g.dtype.kind == "f" else np.float64)
    np.add.at(out, int_values(idx, shape[0], "index"), g)  # repeated indices accumulate
    return out


def _take_vjp(g, out, x, idx):
    if S.known(x.shape):
        return F.scatter_add(g, idx, shape=list(x.shape)), None
    return F.scatter_add_like(g, idx, x), None  # x's rows known only when it runs (a while)


defop("take", sig="x, idx", forward=_take, shape=_take_shape, vjp=_take_vjp,
      doc="x[idx] for an integer tensor idx: gather along the first axis (negative allowed)",
      deriv="scatter-add the gradient back (repeated indices accumulate); none for idx",
      partials=("1", "0"), domain=("real", "index"), family="internal", symbol="take", batch="take",
      dtype="same",
      test={"cases": [{"shapes": [(4, 3), (5,)]}, {"shapes": [(4,), (2, 3)]},
                      {"shapes": [(4, 2), ()]}]})

defop("scatter_add", sig="g, idx, shape:shape", forward=_scatter_add,
      shape=lambda s, shape=(): check_shape(shape),
      vjp=lambda gg, out, g, idx, shape=(): (F.take(gg, idx), None),
      doc="zeros of a shape with g added at rows idx (the gradient of x[idx])",
      deriv="take the gradient's rows again; none for idx", domain=("real", "index"),
      family="internal", symbol="scatter+", batch="scatter_add",
      test={"cases": [{"shapes": [(5, 3), (5,)], "attrs": {"shape": [4, 3]}, "index_n": 4},
                      {"shapes": [(2, 3), (2, 3)], "attrs": {"shape": [4]}, "index_n": 4}]})

defop("scatter_add_like", sig="g, idx, like", forward=lambda g, idx, like: _scatter_add(g, idx, np.shape(like)),
      shape=lambda s: s[2],
      vjp=lambda gg, out, g, idx, like: (F.take(gg, idx), None, None),
      doc="zeros of like's shape with g added at rows idx (scatter_add when the shape is "
          "known only at run time: a while loop's history)",
      deriv="take the gradient's rows again; none for idx and like",
      domain=("real", "index", "real"), family="internal", symbol="scatter+", dtype="same",
      test={"cases": [{"shapes": [(3,), (3,), (4,)]}]})
