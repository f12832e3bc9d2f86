"""Linear algebra: matmul (`@`), dot, outer, transpose (`.T`), trace, diag,
inv, det, solve, einsum.

matmul follows NumPy: 1-D operands are promoted to a row (left) or a column
(right) and the added axis removed again; leading (batch) axes broadcast.
The derivatives are written with matmul, transposes and the shape ops, so
they are graphs and can be differentiated again; batch broadcasting in a
cotangent is summed back by the autodiff, never here.
"""
from __future__ import annotations

import numpy as np

from .. import shape_math as S
from ..notation import F, Sym
from ..registry import defop

ShapeError = S.ShapeError


def _ndim(x) -> int:
    """Rank of a Sym; an unknown rank is taken to be a matrix (2)."""
    return 2 if x.ndim is None else x.ndim


# ------------------------------------------------------------------- matmul
def _matmul_vjp(g, out, x, y):
    """NumPy matmul semantics, 1-D operands included.

    With x2, y2 the operands promoted to matrices and g2 the cotangent with
    the removed axes put back: ∂x2 = g2 @ y2ᵀ, ∂y2 = x2ᵀ @ g2, then the
    promoted axes are dropped again.
    """
    xv, yv = _ndim(x) == 1, _ndim(y) == 1
    x2 = F.expand_dims(x, axis=0) if xv else x
    y2 = F.expand_dims(y, axis=-1) if yv else y
    g2 = g
    if xv and yv:
        g2 = F.expand_dims(g, axis=[-2, -1])
    elif xv:
        g2 = F.expand_dims(g, axis=-2)
    elif yv:
        g2 = F.expand_dims(g, axis=-1)
    gx = F.matmul(g2, F.matrix_transpose(y2))
    gy = F.matmul(F.matrix_transpose(x2), g2)
    if xv:
        gx = F.squeeze(gx, axis=-2)
    if yv:
        gy = F.squeeze(gy, axis=-1)
    return gx, gy


def _matmul_jvp(ts, out, x, y):
    """d(x @ y) = dx @ y + x @ dy (the product rule, a matrix product per term)."""
    tx, ty = ts
    terms = ([tx @ y] if tx is not None else []) + ([x @ ty] if ty is not None else [])
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


defop("matmul", sig="x, y", forward=np.matmul, shape=lambda s: S.matmul(s[0], s[1]),
      vjp=_matmul_vjp, jvp=_matmul_jvp,
      doc="matrix product x @ y (NumPy: 1-D operands, batch axes broadcast)",
      deriv="g @ yᵀ, xᵀ @ g", family="linalg", symbol="@", batch="matmul",
      test={"cases": [{"shapes": [(2, 3), (3, 4)]}, {"shapes": [(3,), (3, 2)]},
                      {"shapes": [(2, 3), (3,)]}, {"shapes": [(3,), (3,)]},
                      {"shapes": [(2, 1, 2, 3), (4, 3, 2)]}, {"shapes": [(2, 2, 3), (3,)]}]})


# ---------------------------------------------------------------------- dot
def _dot_shape(s):
    a, b = s
    if a is None or b is None:
        return None
    if len(a) > 2 or len(b) > 2:
        raise ShapeError(f"dot takes vectors or matrices (rank ≤ 2), got {S.fmt(a)} and {S.fmt(b)}",
                         hint="use matmul (@) for batches, or einsum")
    if len(a) == 0 or len(b) == 0:
        return S.broadcast(a, b)
    if len(a) == 1 and len(b) == 1:
        if a[0] is not None and b[0] is not None and a[0] != b[0]:
            raise ShapeError(f"dot of {S.fmt(a)} and {S.fmt(b)}: the vectors' lengths differ",
                             hint=f"{a[0]} vs {b[0]}; both must have the same length")
        return ()
    return S.matmul(a, b)


def _dot_vjp(g, out, x, y):
    if x.ndim == 0 or y.ndim == 0:  # a scalar factor: a product
        return g * y, g * x
    return _matmul_vjp(g, out, x, y)


defop("dot", sig="x, y", forward=np.dot, shape=_dot_shape, vjp=_dot_vjp,
      doc="inner product of vectors (NumPy dot for ranks ≤ 2: matrix products, scalar scaling)",
      deriv="y, x (as matmul for matrices)", partials=("{1}", "{0}"), family="linalg",
      symbol="·", batch="dot",
      test={"cases": [{"shapes": [(4,), (4,)]}, {"shapes": [(2, 3), (3,)]},
                      {"shapes": [(3,), (3, 2)]}, {"shapes": [(2, 3), (3, 2)]},
                      {"shapes": [(), (3,)]}]})


# -------------------------------------------------------------------- outer
def _outer_shape(s):
    a, b = s
    if a is None or b is None:
        return None
    return (S.size(a), S.size(b))


def _outer_vjp(g, out, x, y):
    gx = F.matmul(g, F.flatten(y))
    gy = F.matmul(F.flatten(x), g)
    return F.reshape(gx, shape=list(x.shape)), F.reshape(gy, shape=list(y.shape))


defop("outer", sig="x, y", forward=np.outer, shape=_outer_shape, vjp=_outer_vjp,
      doc="outer product of the flattened x and y: a [size(x), size(y)] matrix",
      deriv="g @ y, x @ g (reshaped back)", partials=("{1}", "{0}"), family="linalg",
      symbol="⊗", batch="outer",
      test={"cases": [{"shapes": [(3,), (2,)]}, {"shapes": [(2, 2), ()]}]})


# ---------------------------------------------------------------- transpose
def axes_permutation(axes, ndim):
    """axes (None, an int or a list) as a permutation tuple, or None (reverse)."""
    if axes is None:
        return None
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    if len(axes) != ndim:
        raise ShapeError(f"transpose axes {list(axes)} do not match a tensor of rank {ndim}",
                         hint=f"give a permutation of 0..{ndim - 1}, or none to reverse the axes")
    perm = tuple(S.norm_axis(int(a), ndim) for a in axes)
    if sorted(perm) != list(range(ndim)):
        raise ShapeError(f"transpose axes {list(axes)} are not a permutation of 0..{ndim - 1}",
                         hint="every axis must appear exactly once")
    return perm


def _transpose_shape(s, axes=None):
    shape = s[0]
    if shape is None:
        return None
    perm = axes_permutation(axes, len(shape))
    return tuple(reversed(shape)) if perm is None else tuple(shape[a] for a in perm)


def _transpose(x, axes=None):
    return np.transpose(x, axes_permutation(axes, np.ndim(x)))


def _transpose_vjp(g, out, x, axes=None):
    perm = axes_permutation(axes, _ndim(x))
    if perm is None:
        return (F.transpose(g, axes=None),)
    return (F.transpose(g, axes=[int(i) for i in np.argsort(perm)]),)


defop("transpose", jvp="linear", sig="x, axes:axes=none", forward=_transpose, shape=_transpose_shape,
      vjp=_transpose_vjp,
      doc="permute the axes (none: reverse them; x.T)", deriv="transpose back",
      partials=("1",), family="linalg", symbol="ᵀ", dtype="same", batch="transpose",
      test={"cases": [{"shapes": [(2, 3)]}, {"shapes": [(2, 3, 4)], "attrs": {"axes": [1, -1, 0]}},
                      {"shapes": [(3,)]}]})


# ------------------------------------------------------------- trace, diag
def _matrix(shape, what):
    if shape is not None and len(shape) != 2:
        raise ShapeError(f"{what} needs a matrix (rank 2), got {S.fmt(shape)}")


def _trace_shape(s):
    _matrix(s[0], "trace")
    return ()


defop("eye_like", sig="x",
      forward=lambda x: np.array(np.broadcast_to(np.eye(*np.shape(x)[-2:], dtype=np.result_type(x, np.float32)), np.shape(x))),
      shape=lambda s: s[0] if s[0] is None or len(s[0]) >= 2 else _matrix(s[0], "eye_like"),
      vjp=lambda g, out, x: (None,),
      doc="ones on the diagonal of x's (last two) axes, zeros elsewhere",
      deriv="0 (does not depend on x's values)", family="internal", symbol="I", batch="direct",
      test={"shapes": [(2, 3)]})

defop("trace", jvp="linear", sig="x", forward=np.trace, shape=_trace_shape,
      vjp=lambda g, out, x: (g * F.eye_like(x),),
      doc="sum of the diagonal of a matrix", deriv="identity matrix",
      family="linalg", symbol="tr", batch="trace",
      test={"cases": [{"shapes": [(3, 3)]}, {"shapes": [(2, 3)]}]})


def _diag_shape(s):
    shape = s[0]
    if shape is None:
        return None
    if len(shape) == 1:
        return (shape[0], shape[0])
    if len(shape) == 2:
        n, m = shape
        return (None if n is None or m is None else min(n, m),)
    raise ShapeError(f"diag takes a vector (to make a diagonal matrix) or a matrix (to read its "
                     f"diagonal), got {S.fmt(shape)}")


def _diag_vjp(g, out, x):
    if x.ndim == 1:
        return (F.diag(g),)
    n, m = x.shape
    # g[i] sits at (i, i): spread it along the longer axis, then keep the diagonal
    spread = F.expand_dims(g, axis=1) if (n is None or m is None or n <= m) else g
    return (F.eye_like(x) * spread,)


defop("diag", sig="x", forward=np.diag, shape=_diag_shape, vjp=_diag_vjp,
      doc="a vector -> the diagonal matrix; a matrix -> its diagonal",
      deriv="diag of the gradient (the other way round)", family="linalg",
      symbol="diag", dtype="same", batch="diag",
      test={"cases": [{"shapes": [(3,)]}, {"shapes": [(3, 3)]}, {"shapes": [(2, 3)]},
                      {"shapes": [(3, 2)]}]})


# --------------------------------------------------------- inv, det, solve
def _square(shape, what):
    if shape is None:
        return
    if len(shape) < 2:
        raise ShapeError(f"{what} needs a square matrix, got {S.fmt(shape)}",
                         hint="give a tensor of rank 2 (or more: a batch of matrices)")
    n, m = shape[-2:]
    if n is not None and m is not None and n != m:
        raise ShapeError(f"{what} needs a square matrix, got {S.fmt(shape)}",
                         hint=f"the last two dims are {n} and {m}; they must be equal")


def _inv_shape(s):
    _square(s[0], "inv")
    return s[0]


def _inv_vjp(g, out, x):
    t = F.matrix_transpose(out)
    return (-F.matmul(F.matmul(t, g), t),)


defop("inv", sig="x", forward=np.linalg.inv, shape=_inv_shape, vjp=_inv_vjp,
      doc="matrix inverse (batched over leading axes)", deriv="-A⁻ᵀ g A⁻ᵀ",
      domain=("matrix",), family="linalg", symbol="⁻¹", batch="direct",
      test={"cases": [{"shapes": [(3, 3)]}, {"shapes": [(2, 2, 2)]}]})


def _det_shape(s):
    _square(s[0], "det")
    return None if s[0] is None else s[0][:-2]


#: up to this size det's gradient is the adjugate by Faddeev-LeVerrier (exact for a
#: singular matrix too); beyond, det(A)·A⁻ᵀ (the recurrence loses accuracy as n grows)
ADJUGATE_MAX_N = 6


def _adjugate_t(x, n):
    """adj(A)ᵀ from matmuls and traces (Faddeev-LeVerrier): M_k = A·M_{k-1} + c·I,
    c = -tr(A·M_k)/k; adj(A) = (-1)^(n+1)·M_n. A polynomial in A, so a singular A
    has its adjugate as PyTorch gives, not 'inv: singular matrix'."""
    eye = F.eye_like(x)
    m, c = eye * 0.0, 1.0
    for k in range(1, n + 1):
        m = F.matmul(x, m) + eye * c
        c = F.sum(x * F.matrix_transpose(m), axis=[-2, -1], keepdims=True) * (-1.0 / k)
    return F.matrix_transpose(m) * (1.0 if n % 2 else -1.0)


def _det_vjp(g, out, x):
    n = x.shape[-1] if x.shape is not None else None
    gk, dk = F.expand_dims(g, axis=[-2, -1]), F.expand_dims(out, axis=[-2, -1])
    if n is None or n > ADJUGATE_MAX_N:
        return (gk * dk * F.matrix_transpose(F.inv(x)),)
    # det(A)·A⁻ᵀ where A is invertible (inverted safely: a singular A is swapped for I),
    # the adjugate where det(A) = 0 exactly, which is where inv would fail
    singular = F.eq(dk, 0.0)
    safe = F.where(singular, F.eye_like(x), x)
    return (gk * F.where(singular, _adjugate_t(x, n), dk * F.matrix_transpose(F.inv(safe))),)


defop("det", sig="x", forward=np.linalg.det, shape=_det_shape, vjp=_det_vjp,
      doc="determinant (batched over leading axes)", deriv="adj(A)ᵀ (= det(A)·A⁻ᵀ; a singular A too)",
      domain=("matrix",), family="linalg", symbol="det", batch="direct",
      test={"cases": [{"shapes": [(3, 3)]}, {"shapes": [(2, 2, 2)]}]})


def _solve_shape(s):
    a, b = s
    if a is None or b is None:
        return None
    _square(a, "solve")
    n = a[-1]
    if len(b) == 0:
        raise ShapeError(f"solve(a, b): b must be a vector or a matrix, got a scalar",
                         hint=f"a is {S.fmt(a)}; b should be [{n}] or [{n}, k]")
    rows = b[0] if len(b) == 1 else b[-2]
    if n is not None and rows is not None and n != rows:
        raise ShapeError(f"solve(a, b): a is {S.fmt(a)} but b is {S.fmt(b)}",
                         hint=f"b needs {n} rows (its {'only' if len(b) == 1 else 'second-to-last'} "
                              f"dim is {rows})")
    if len(b) == 1:
        return a[:-2] + (n,)
    return S.broadcast(a[:-2], b[:-2]) + (n, b[-1])


def _solve(a, b):
    if np.ndim(b) == 1:
        return np.linalg.solve(a, np.asarray(b)[:, None])[..., 0]
    return np.linalg.solve(a, b)


def _solve_vjp(g, out, a, b):
    at = F.matrix_transpose(a)
    if _ndim(b) == 1:
        gb = F.squeeze(F.solve(at, F.expand_dims(g, axis=-1)), axis=-1)
        ga = -F.matmul(F.expand_dims(gb, axis=-1), F.expand_dims(out, axis=-2))
        return ga, gb
    gb = F.solve(at, g)
    return -F.matmul(gb, F.matrix_transpose(out)), gb


defop("solve", sig="a, b", forward=_solve, shape=_solve_shape, vjp=_solve_vjp,
      doc="x with a @ x = b (b a vector or a matrix; batched over leading axes)",
      deriv="∂b = a⁻ᵀg, ∂a = -∂b·xᵀ",
      domain=("matrix", "real"), family="linalg", symbol="solve", batch="solve",
      test={"cases": [{"shapes": [(3, 3), (3,)]}, {"shapes": [(3, 3), (3, 2)]},
                      {"shapes": [(2, 3, 3), (3,)]}, {"shapes": [(2, 3, 3), (3, 1)]}]})


# ------------------------------------------------------------------- einsum
def parse_einsum(spec: str, nops: int):
    """'ij,jk->ik' -> (('ij', 'jk'), 'ik'); implicit output (no '->') as NumPy."""
    s = "".join(str(spec).split())
    if "." in s:
        raise ShapeError(f"einsum '{spec}': '...' (ellipsis) is not supported",
                         hint="name every axis with a letter", kind="value")
    if s.count("->") > 1:
        raise ShapeError(f"einsum '{spec}': more than one '->'", kind="value")
    lhs, arrow, rhs = s.partition("->")
    ins = tuple(lhs.split(","))
    letters = lhs.replace(",", "")
    if not arrow:
        rhs = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    for c in letters + rhs:
        if c.isalpha() and not c.isascii():
            raise ShapeError(f"einsum '{spec}': '{c}' is not an index letter: indices are the "
                             "ASCII letters a-z and A-Z (as NumPy's)", kind="value")
        if not c.isalpha():
            raise ShapeError(f"einsum '{spec}': '{c}' is not an index letter",
                             hint="indices are letters, operands separated by ',', then '->'",
                             kind="value")
    if len(ins) != nops:
        raise ShapeError(f"einsum '{spec}' names {len(ins)} operand{'s' * (len(ins) != 1)} "
                         f"but {nops} {'were' if nops != 1 else 'was'} given",
                         hint="one comma-separated group of indices per operand")
    for c in rhs:
        if rhs.count(c) > 1:
            raise ShapeError(f"einsum '{spec}': output index '{c}' repeated", kind="value")
        if c not in letters:
            raise ShapeError(f"einsum '{spec}': output index '{c}' is not in any operand",
                             kind="value")
    return ins, rhs


def _einsum_shape(shapes, spec=""):
    ins, rhs = parse_einsum(spec, len(shapes))
    sizes: dict = {}
    where: dict = {}
    for i, (sub, shape) in enumerate(zip(ins, shapes)):
        if shape is None:
            continue
        if len(shape) != len(sub):
            raise ShapeError(f"einsum '{spec}': operand {i + 1} has shape {S.fmt(shape)} but its "
                             f"indices '{sub}' name {len(sub)} axes",
                             hint="one index letter per axis")
        for c, d in zip(sub, shape):
            if d is None:
                continue
            if c in sizes and sizes[c] != d:
                raise ShapeError(f"einsum '{spec}': index '{c}' is {sizes[c]} in operand "
                                 f"{where[c] + 1} but {d} in operand {i + 1}",
                                 hint=f"shapes {', '.join(S.fmt(s) for s in shapes)}; "
                                      "an index must have the same size everywhere")
            sizes[c], where[c] = d, i
    if any(s is None for s in shapes):
        return tuple(sizes.get(c) for c in rhs) if all(c in sizes for c in rhs) else None
    return tuple(sizes[c] for c in rhs)


def _einsum(*operands, spec=""):
    return np.einsum(spec, *operands, optimize=len(operands) > 2)


def _einsum_vjp(g, out, *ops, spec=""):
    """∂ operand i: an einsum of g and the other operands with the output's
    and operand i's indices swapped. Indices found only in operand i (summed
    within it) come back by broadcasting; an index repeated within operand i
    (a diagonal) is put back on the diagonal with identity matrices."""
    ins, rhs = parse_einsum(spec, len(ops))
    grads = []
    for i, sub in enumerate(ins):
        others = [ins[j] for j in range(len(ops)) if j != i]
        seen = set(rhs).union(*others)
        uniq = "".join(dict.fromkeys(sub))
        kept = "".join(c for c in uniq if c in seen)
        gi = F.einsum(",".join([rhs] + others) + "->" + kept,
                      [g] + [ops[j] for j in range(len(ops)) if j != i])
        sizes = dict(zip(sub, ops[i].shape))
        if kept != uniq:
            lonely = [k for k, c in enumerate(uniq) if c not in seen]
            gi = F.broadcast_to(F.expand_dims(gi, axis=lonely),
                                shape=[sizes[c] for c in uniq])
        if uniq != sub:
            gi = _undiagonal(gi, uniq, sub, sizes, spec)
        grads.append(gi)
    return tuple(grads)


def _undiagonal(gi, uniq, sub, sizes, spec):
    """gi over the distinct indices `uniq` -> a tensor over `sub` (which
    repeats some index) holding gi on the diagonals and zeros elsewhere."""
    free = iter(c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                if c not in sub)
    renamed, eyes, seen = [], [], set()
    for c in sub:
        if c in seen:
            fresh = next(free)
            renamed.append(fresh)
            eyes.append(c + fresh)
        else:
            seen.add(c)
            renamed.append(c)
    mats = []
    for pair in eyes:
        n = sizes[pair[0]]
        if n is None:
            raise ShapeError(f"einsum '{spec}': the derivative through the repeated index "
                             f"'{pair[0]}' needs its size known when the graph is built")
        mats.append(Sym(gi.g, gi.g.add("eye", (), {"n": int(n)})))
    return F.einsum(",".join([uniq] + eyes) + "->" + "".join(renamed), [gi] + mats)


defop("einsum", sig="spec:str, operands:tensors", forward=_einsum, shape=_einsum_shape,
      vjp=_einsum_vjp,
      doc='Einstein summation, e.g. einsum("ij,jk->ik", a, b) (explicit or implicit output, '
          "no ellipsis)",
      deriv="per operand: an einsum of g and the other operands (indices swapped)",
      family="linalg", symbol="einsum", batch="einsum",
      test={"cases": [{"shapes": [(2, 3), (3, 4)], "attrs": {"spec": "ij,jk->ik"}},
                      {"shapes": [(2, 3)], "attrs": {"spec": "ij->"}},
                      {"shapes": [(2, 3), (3,)], "attrs": {"spec": "ij,k->ik"}},
                      {"shapes": [(2, 3), (3, 4), (4,)], "attrs": {"spec": "ij,jk,k->ji"}},
                      {"shapes": [(2, 3), (2, 3)], "attrs": {"spec": "ij,ij"}},
                      {"shapes": [(3, 3), (3,)], "attrs": {"spec": "ii,i->i"}},
                      {"shapes": [(3, 2, 3)], "attrs": {"spec": "iji->j"}}]})
