"""Reductions over `axis` (an int, a list, or none = all) with `keepdims`."""
from __future__ import annotations

import numpy as np

from .. import shape_math as S
from ..notation import F
from ..registry import defop, partial_of_x, reduce_shape

RSIG = "x, axis:axes=none, keepdims:bool=false"


def quiet_empty(fn):
    """A mean (var, std) of nothing is nan, and NumPy says so with a RuntimeWarning
    ("Mean of empty slice"); cgraph reports non-finite results itself, once, with the
    source line, so the forward stays quiet when any input is empty."""
    def forward(*args, **kw):
        if all(np.size(a) for a in args):
            return fn(*args, **kw)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return fn(*args, **kw)
    forward.__name__, forward.__doc__ = fn.__name__, fn.__doc__
    return forward


def keep(g, x, axis, keepdims):
    """g with the reduced axes put back as size-1 dims, ready to broadcast against x."""
    if keepdims or axis is None and g.ndim == x.ndim:
        return g
    axes = S.norm_axes(axis, x.ndim)
    return F.expand_dims(g, axis=list(axes)) if axes else g


def spread(g, x, axis, keepdims):
    """The cotangent of a sum: g copied back over the reduced axes."""
    return F.broadcast_to(keep(g, x, axis, keepdims), shape=list(x.shape))


def over(g, d):
    """g / d, and 0 where d = 0: the gradient at a zero std or norm (as PyTorch's
    subgradient), with no 0/0 for a second derivative to trip on."""
    zero = F.eq(d, 0.0)
    return F.where(zero, 0.0, g / F.where(zero, 1.0, d))


def count(x, axis) -> float:
    axes = S.norm_axes(axis, x.ndim)
    n = 1
    for a in axes:
        n *= x.shape[a]
    return float(n)


def reduction(name, *, forward, vjp, deriv, doc, domain="real", dtype="float", sig=RSIG,
              test=None, jvp=None):
    extra = {"test": test} if test is not None else {}
    if jvp is not None:
        extra["jvp"] = jvp
    return defop(name, sig=sig, forward=forward, shape=reduce_shape, vjp=vjp, doc=doc, deriv=deriv,
                 partials=(partial_of_x(deriv),),
                 domain=(domain,), family="reductions", symbol=name, dtype=dtype, batch="reduce",
                 **extra)


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _sum(x, axis=None, keepdims=False):
    return np.sum(x, axis=_axis(axis), keepdims=keepdims)


@quiet_empty
def _mean(x, axis=None, keepdims=False):
    return np.mean(x, axis=_axis(axis), keepdims=keepdims)


def _empty_check(x, axis, what):
    """max, min, argmax, argmin of nothing have no value (an error, as in PyTorch)."""
    x = np.asarray(x)
    axes = range(x.ndim) if axis is None else [a % max(x.ndim, 1) for a in np.atleast_1d(axis).tolist()]
    if any(x.shape[a] == 0 for a in axes if a < x.ndim):
        raise ValueError(f"{what} of an empty tensor (shape {list(x.shape)}) has no value")


def _extreme(fn, what=None):
    def forward(x, axis=None, keepdims=False):
        if what:
            _empty_check(x, axis, what)
        return fn(x, axis=_axis(axis), keepdims=keepdims)
    return forward


def _extreme_vjp(g, out, x, axis=None, keepdims=False):
    # ties share the gradient equally (PyTorch's convention)
    hit = F.eq(x, keep(out, x, axis, keepdims))
    n = F.sum(hit, axis=axis, keepdims=True)
    return (F.where(hit, keep(g, x, axis, keepdims) / n, 0.0),)


def _logsumexp(x, axis=None, keepdims=False):
    ax = _axis(axis)
    m = np.max(x, axis=ax, keepdims=True, initial=-np.inf)  # empty: log(0) = -inf, as PyTorch
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(x - m), axis=ax, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=ax if ax is not None else None) \
        if np.ndim(out) else out


def _shifted(x, axis):
    """x minus its first element along the reduced axes: the variance is the same,
    and values that are all equal give exactly 0 (no rounding in the mean)."""
    x = np.asarray(x)
    if x.size == 0 or x.ndim == 0:
        return x - x if x.ndim == 0 else x
    axes = range(x.ndim) if axis is None else [a % x.ndim for a in np.atleast_1d(axis).tolist()]
    first = tuple(slice(0, 1) if k in axes else slice(None) for k in range(x.ndim))
    return x - x[first]


@quiet_empty
def _var(x, axis=None, keepdims=False, ddof=0):
    return np.var(_shifted(x, axis), axis=_axis(axis), keepdims=keepdims, ddof=ddof)


@quiet_empty
def _std(x, axis=None, keepdims=False, ddof=0):
    return np.std(_shifted(x, axis), axis=_axis(axis), keepdims=keepdims, ddof=ddof)


def _prod_vjp(g, out, x, axis=None, keepdims=False):
    # ∂/∂x_i = ∏_{j≠i} x_j. That is out/x_i when no factor is zero; with one zero,
    # the zero's slot gets the product of the others and every other slot 0;
    # with two or more, all 0 (as PyTorch) — never 0/0. (Derivatives of this one
    # at an exact zero are those of the piecewise formula: second derivatives
    # there come out 0 where PyTorch's cumprod-based rule is exact.)
    is0 = F.eq(x, 0.0)
    nonzero = F.where(is0, 1.0, x)
    others = F.prod(nonzero, axis=axis, keepdims=True)
    zeros = F.sum(is0, axis=axis, keepdims=True)
    d = F.where(F.eq(zeros, 0.0), others / nonzero,
                F.where(F.logical_and(is0, F.eq(zeros, 1.0)), others, 0.0))
    return (keep(g, x, axis, keepdims) * d,)


reduction("sum", forward=_sum, jvp="linear",
          vjp=lambda g, out, x, axis=None, keepdims=False: (spread(g, x, axis, keepdims),),
          deriv="1", doc="sum of the elements")
reduction("mean", forward=_mean, jvp="linear",
          vjp=lambda g, out, x, axis=None, keepdims=False: (spread(g, x, axis, keepdims) / count(x, axis),),
          deriv="1/n", doc="mean of the elements")
reduction("prod", forward=_extreme(np.prod), vjp=_prod_vjp, deriv="product of the others",
          doc="product of the elements",
          domain="away0")
reduction("max", forward=_extreme(np.max, "max"), vjp=_extreme_vjp,
          deriv="1 at the maximum (shared on ties)",
          doc="largest element")
reduction("min", forward=_extreme(np.min, "min"), vjp=_extreme_vjp,
          deriv="1 at the minimum (shared on ties)",
          doc="smallest element")
reduction("logsumexp", forward=_logsumexp,
          vjp=lambda g, out, x, axis=None, keepdims=False:
          (keep(g, x, axis, keepdims) * F.exp(x - keep(out, x, axis, keepdims)),),
          deriv="softmax(x)", doc="log(sum(exp(x))), computed stably")
VAR_SIG = RSIG + ", ddof:int=0"
VAR_TESTS = {"cases": [{"shapes": [(3, 4)]}, {"shapes": [(3, 4)], "attrs": {"axis": 1}},
                       {"shapes": [(5,)], "attrs": {"ddof": 1}},
                       {"shapes": [(3, 4)], "attrs": {"axis": 0, "ddof": 1}}]}

reduction("var", forward=_var, sig=VAR_SIG, test=VAR_TESTS,
          vjp=lambda g, out, x, axis=None, keepdims=False, ddof=0:
          (keep(g, x, axis, keepdims) * 2.0 * (x - F.mean(x, axis=axis, keepdims=True))
           / (count(x, axis) - ddof),),
          deriv="2(x-mean)/(n-ddof)",
          doc="variance: mean squared deviation, divided by n − ddof (ddof=0: population, "
              "1: sample)")
reduction("std", forward=_std, sig=VAR_SIG, test=VAR_TESTS,
          vjp=lambda g, out, x, axis=None, keepdims=False, ddof=0:
          (keep(over(g, out), x, axis, keepdims) * (x - F.mean(x, axis=axis, keepdims=True))
           / (count(x, axis) - ddof),),
          deriv="(x-mean)/((n-ddof)·std) (0 where std = 0)",
          doc="standard deviation: √var (ddof as var)")


def _argext(fn):
    def forward(x, axis=None, keepdims=False):
        if isinstance(axis, list):
            raise ValueError(f"{fn.__name__} takes one axis, not a list")
        _empty_check(x, axis, fn.__name__)
        return fn(x, axis=axis, keepdims=keepdims)
    return forward


def _arg_shape(shapes, axis=None, keepdims=False):
    if isinstance(axis, list):
        raise S.ShapeError("argmax/argmin take one axis, not a list", kind="value")
    return S.reduce(shapes[0], axis, keepdims)


for _n, _f in (("argmax", np.argmax), ("argmin", np.argmin)):
    defop(_n, sig="x, axis:int=none, keepdims:bool=false", forward=_argext(_f), shape=_arg_shape,
          vjp=None,
          doc=f"index of the {'largest' if _n == 'argmax' else 'smallest'} element (flat when axis is none)",
          deriv="not differentiable", family="reductions", symbol=_n, dtype="int",
          batch="argreduce")


def _norm(x, ord=2.0, axis=None, keepdims=False):
    ax = _axis(axis)
    a = np.abs(x)
    if ord == np.inf:
        return np.max(a, axis=ax, keepdims=keepdims)
    if ord == -np.inf:
        return np.min(a, axis=ax, keepdims=keepdims)
    if ord == 0:
        return np.sum(a != 0, axis=ax, keepdims=keepdims).astype(np.result_type(x, 1.0))
    if ord == 1:
        return np.sum(a, axis=ax, keepdims=keepdims)
    if ord == 2:
        return np.sqrt(np.sum(a * a, axis=ax, keepdims=keepdims))
    return np.sum(a ** ord, axis=ax, keepdims=keepdims) ** (1.0 / ord)


def _norm_vjp(g, out, x, ord=2.0, axis=None, keepdims=False):
    gk, ok = keep(g, x, axis, keepdims), keep(out, x, axis, keepdims)
    if ord in (np.inf, -np.inf):
        hit = F.eq(F.abs(x), ok)
        return (F.where(hit, gk * F.sign(x) / F.sum(hit, axis=axis, keepdims=True), 0.0),)
    if ord == 0:
        return (None,)
    if ord == 1:
        return (gk * F.sign(x),)
    if ord == 2:
        return (over(gk, ok) * x,)
    return (over(gk, ok ** (ord - 1.0)) * F.sign(x) * F.abs(x) ** (ord - 1.0),)


defop("norm", sig="x, ord:float=2, axis:axes=none, keepdims:bool=false", forward=_norm,
      shape=lambda s, ord=2.0, axis=None, keepdims=False: S.reduce(s[0], axis, keepdims),
      vjp=_norm_vjp,
      doc="vector p-norm of the flattened values (or along axis); Frobenius for a matrix",
      deriv="x/‖x‖ (ord 2), sign(x) (ord 1), sign(x)|x|^(p-1)/‖x‖^(p-1); 0 at x = 0",
      partials=("{0}/‖{0}‖",), domain=("away0",), family="reductions", symbol="‖·‖", batch="reduce",
      test={"cases": [{"shapes": [(3, 4)]}, {"shapes": [(3, 4)], "attrs": {"axis": 1}},
                      {"shapes": [(3, 4)], "attrs": {"ord": 1, "axis": 0, "keepdims": True}},
                      {"shapes": [(3, 4)], "attrs": {"ord": 3}},
                      {"shapes": [(3, 4)], "attrs": {"ord": float("inf"), "axis": [0, 1]}}]})
