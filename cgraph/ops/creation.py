"""Tensors made from nothing (or from one value): zeros, ones, full, eye,
arange, linspace, randn, rand.

Outputs are float64 (a float32 run casts them). Random tensors are
reproducible: every call has an integer seed (the builder fills in
`graph.next_seed()` when the program gives none) and draws from
`np.random.default_rng(seed)`.
"""
from __future__ import annotations

import math

import numpy as np

from .. import shape_math as S
from ..registry import defop
from .shape import check_shape

ShapeError = S.ShapeError

def _sized(shape, what="shape") -> tuple:
    # the size limit is Graph.add's, for every op alike (see cgraph.ir)
    return check_shape(shape, what)


def _count(n, what) -> int:
    if isinstance(n, bool) or float(n) != int(n) or int(n) < 0:
        raise ShapeError(f"{what} must be a non-negative integer, got {n!r}", kind="value")
    return int(n)


defop("zeros", sig="shape:shape", forward=lambda shape: np.zeros(check_shape(shape)),
      shape=lambda s, shape: _sized(shape), vjp=None,
      doc="a tensor of zeros", deriv="none (no tensor inputs)", family="creation", symbol="0")
defop("ones", sig="shape:shape", forward=lambda shape: np.ones(check_shape(shape)),
      shape=lambda s, shape: _sized(shape), vjp=None,
      doc="a tensor of ones", deriv="none (no tensor inputs)", family="creation", symbol="1")


def _full_shape(s, shape):
    dims = _sized(shape)
    if s[0] is not None:
        try:
            S.broadcast(s[0], dims)
            bad = len(s[0]) > len(dims) or S.broadcast(s[0], dims) != dims
        except ShapeError:
            bad = True
        if bad:
            raise ShapeError(f"full: the value of shape {S.fmt(s[0])} does not broadcast to "
                             f"{S.fmt(dims)}", hint="give a scalar, or a value that broadcasts")
    return dims


def _full(v, shape):
    v = np.asarray(v)
    dtype = v.dtype if v.dtype.kind in "fb" else np.float64
    return np.array(np.broadcast_to(v, check_shape(shape)), dtype=dtype)


defop("full", sig="shape:shape, v", forward=_full, shape=_full_shape,
      vjp=lambda g, out, v, shape=(): (g,),
      doc="a tensor of the given shape filled with v", deriv="sum(g) (summed back to v's shape)",
      partials=("1",), family="creation", symbol="full", batch="broadcast",
      test={"cases": [{"shapes": [()], "attrs": {"shape": [2, 3]}},
                      {"shapes": [(3,)], "attrs": {"shape": [2, 3]}}]})


def _eye_shape(s, n=0, m=None):
    n = _count(n, "eye's size n")
    m = n if m is None else _count(m, "eye's column count m")
    return _sized([n, m])


defop("eye", sig="n:int, m:int=none",
      forward=lambda n=0, m=None: np.eye(int(n), None if m is None else int(m)), shape=_eye_shape,
      vjp=None,
      doc="the n×n identity matrix (n×m with m)", deriv="none (no tensor inputs)",
      family="creation", symbol="I")


def _arange_args(a, b, step):
    if b is None:
        a, b = 0.0, a
    if step == 0:
        raise ShapeError("arange: step cannot be 0", kind="value")
    if any(not math.isfinite(v) for v in (a, b, step)):
        raise ShapeError("arange: bounds and step must be finite", kind="value")
    return float(a), float(b), float(step)


def _arange_shape(s, a=0.0, b=None, step=1.0):
    a, b, step = _arange_args(a, b, step)
    return _sized([max(0, math.ceil((b - a) / step))])


def _arange(a=0.0, b=None, step=1.0):
    a, b, step = _arange_args(a, b, step)
    return np.arange(a, b, step, dtype=np.float64)


defop("arange", sig="a:float, b:float=none, step:float=1", forward=_arange, shape=_arange_shape,
      vjp=None,
      doc="evenly spaced values in [a, b) (one argument: [0, a)), as NumPy",
      deriv="none (no tensor inputs)", family="creation", symbol="arange")


def _linspace_shape(s, a=0.0, b=1.0, n=50):
    return _sized([_count(n, "linspace's count n")])


defop("linspace", sig="a:float, b:float, n:int",
      forward=lambda a=0.0, b=1.0, n=50: np.linspace(float(a), float(b), int(n)),
      shape=_linspace_shape, vjp=None,
      doc="n evenly spaced values from a to b, both included",
      deriv="none (no tensor inputs)", family="creation", symbol="linspace")


def _rng(seed):
    return np.random.default_rng(0 if seed is None else int(seed))


defop("randn", sig="shape:shape, seed:int=none",
      forward=lambda shape, seed=None: _rng(seed).standard_normal(check_shape(shape)),
      shape=lambda s, shape, seed=None: _sized(shape), vjp=None,
      doc="standard normal samples (reproducible: seed=k, else the run's seed)",
      deriv="none (no tensor inputs)", family="creation", symbol="randn")
defop("rand", sig="shape:shape, seed:int=none",
      forward=lambda shape, seed=None: _rng(seed).random(check_shape(shape)),
      shape=lambda s, shape, seed=None: _sized(shape), vjp=None,
      doc="uniform samples in [0, 1) (reproducible: seed=k, else the run's seed)",
      deriv="none (no tensor inputs)", family="creation", symbol="rand")
