"""Elementwise functions of one tensor: y = f(x), dy/dx = f'(x)."""
from __future__ import annotations

import math

import numpy as np

from ..notation import F
from ..registry import broadcast_shape, defop, partial_of_x, same_shape

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715


def unary(name, *, forward, dfdx, deriv, doc, domain="real", scalar=None, sig="x", symbol=None,
          infix=None):
    """An elementwise op whose derivative is `dfdx(x, out)` (a graph), or None
    for a zero derivative (sign, floor…)."""
    if dfdx is None:
        vjp = lambda g, out, x, **_: (None,)  # noqa: E731  zero gradient, by convention
    else:
        vjp = lambda g, out, x, **kw: (g * dfdx(x, out, **kw),)  # noqa: E731
    return defop(name, sig=sig, forward=forward, shape=same_shape, vjp=vjp, doc=doc, deriv=deriv,
                 partials=(partial_of_x(deriv),), domain=(domain,), family="elementwise",
                 scalar=scalar, elementwise=True, symbol=symbol or name, batch="elementwise",
                 infix=infix)


def _sigmoid(x):
    # 1/(1+exp(-x)) is accurate everywhere; exp overflowing to inf gives the right 0
    with np.errstate(over="ignore"):
        t = np.exp(np.negative(np.asarray(x, dtype=np.result_type(x, np.float32))))
    if t.ndim == 0:
        return 1.0 / (1.0 + t)
    t += 1.0
    return np.reciprocal(t, out=t)


def _sigmoid_s(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _gelu(x):
    return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x ** 3)))


def _gelu_s(x):
    return 0.5 * x * (1.0 + math.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x ** 3)))


def _gelu_d(x, out):
    t = F.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x ** 3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3 * _GELU_C * x * x)


def _relu(x):
    return np.maximum(x, 0)


def _leaky_relu(x, slope=0.01):
    return np.where(x > 0, x, x * slope)


def _np_round(x):
    return np.round(x)  # half to even, as NumPy and PyTorch


unary("abs", forward=np.abs, dfdx=lambda x, out: F.sign(x), deriv="sign(x)", doc="absolute value",
      scalar=abs)
unary("sign", forward=np.sign, dfdx=None, deriv="0",
      doc="-1, 0 or 1 by the sign of x (zero gradient)",
      scalar=lambda x: float((x > 0) - (x < 0)) if x == x else x)
unary("exp", forward=np.exp, dfdx=lambda x, out: out, deriv="exp(x)", doc="e to the x",
      scalar=math.exp)
unary("log", forward=np.log, dfdx=lambda x, out: 1.0 / x, deriv="1/x", doc="natural logarithm",
      domain="pos", scalar=math.log)
unary("log1p", forward=np.log1p, dfdx=lambda x, out: 1.0 / (1.0 + x), deriv="1/(1+x)",
      doc="log(1 + x), accurate near 0",
      domain="pos", scalar=math.log1p)
unary("expm1", forward=np.expm1, dfdx=lambda x, out: out + 1.0, deriv="exp(x)",
      doc="exp(x) - 1, accurate near 0",
      scalar=math.expm1)
unary("sqrt", forward=np.sqrt, dfdx=lambda x, out: 0.5 / out, deriv="1/(2·sqrt(x))",
      doc="square root (sqrt'(0) = inf)",
      domain="pos", scalar=math.sqrt)
unary("square", forward=np.square, dfdx=lambda x, out: 2.0 * x, deriv="2·x", doc="x squared",
      scalar=lambda x: x * x)
unary("sin", forward=np.sin, dfdx=lambda x, out: F.cos(x), deriv="cos(x)", doc="sine",
      scalar=math.sin)
unary("cos", forward=np.cos, dfdx=lambda x, out: -F.sin(x), deriv="-sin(x)", doc="cosine",
      scalar=math.cos)
unary("tan", forward=np.tan, dfdx=lambda x, out: 1.0 + out * out, deriv="1 + tan(x)²",
      doc="tangent", domain="unit",
      scalar=math.tan)
unary("asin", forward=np.arcsin, dfdx=lambda x, out: 1.0 / F.sqrt(1.0 - x * x),
      deriv="1/sqrt(1-x²)", doc="inverse sine",
      domain="unit", scalar=math.asin)
unary("acos", forward=np.arccos, dfdx=lambda x, out: -1.0 / F.sqrt(1.0 - x * x),
      deriv="-1/sqrt(1-x²)",
      doc="inverse cosine", domain="unit", scalar=math.acos)
unary("atan", forward=np.arctan, dfdx=lambda x, out: 1.0 / (1.0 + x * x), deriv="1/(1+x²)",
      doc="inverse tangent",
      scalar=math.atan)
unary("sinh", forward=np.sinh, dfdx=lambda x, out: F.cosh(x), deriv="cosh(x)",
      doc="hyperbolic sine", scalar=math.sinh)
unary("cosh", forward=np.cosh, dfdx=lambda x, out: F.sinh(x), deriv="sinh(x)",
      doc="hyperbolic cosine", scalar=math.cosh)
unary("tanh", forward=np.tanh, dfdx=lambda x, out: 1.0 - out * out, deriv="1 - tanh(x)²",
      doc="hyperbolic tangent",
      scalar=math.tanh)
unary("sigmoid", forward=_sigmoid, dfdx=lambda x, out: out * (1.0 - out), deriv="σ(x)·(1-σ(x))",
      doc="logistic function 1/(1+exp(-x))", scalar=_sigmoid_s, symbol="σ")
unary("relu", forward=_relu, dfdx=lambda x, out: F.gt(x, 0.0), deriv="1 if x > 0 else 0",
      doc="max(x, 0) (relu'(0) = 0)", scalar=lambda x: x if x > 0 or x != x else 0.0)
unary("leaky_relu", forward=_leaky_relu,
      dfdx=lambda x, out, slope=0.01: F.where(F.gt(x, 0.0), 1.0, slope),
      deriv="1 if x > 0 else slope", doc="x if x > 0 else slope·x", sig="x, slope:float=0.01")
unary("softplus", forward=lambda x: np.logaddexp(0.0, x), dfdx=lambda x, out: F.sigmoid(x),
      deriv="σ(x)",
      doc="log(1 + exp(x)), computed stably")
unary("gelu", forward=_gelu, dfdx=_gelu_d,
      deriv="0.5(1+t) + 0.5x(1-t²)·√(2/π)(1+3·0.044715x²), t = tanh(…)",
      doc="Gaussian error linear unit, tanh approximation (JAX's default)", scalar=_gelu_s)
unary("silu", forward=lambda x: x * _sigmoid(x),
      dfdx=lambda x, out: F.sigmoid(x) * (1.0 + x * (1.0 - F.sigmoid(x))),
      deriv="σ(x)·(1 + x·(1-σ(x)))", doc="x·σ(x) (swish)")
unary("floor", forward=np.floor, dfdx=None, deriv="0", doc="round down (zero gradient)",
      scalar=lambda x: float(math.floor(x)))
unary("ceil", forward=np.ceil, dfdx=None, deriv="0", doc="round up (zero gradient)",
      scalar=lambda x: float(math.ceil(x)))
unary("round", forward=_np_round, dfdx=None, deriv="0", doc="round half to even (zero gradient)",
      scalar=lambda x: float(round(x)))
unary("neg", forward=np.negative, dfdx=lambda x, out: -1.0, deriv="-1", doc="unary minus: -x",
      symbol="−",
      scalar=lambda x: -x, infix="neg")


def _clip_vjp(g, out, x, lo, hi):
    inside = F.logical_and(F.ge(x, lo), F.le(x, hi))
    return (F.where(inside, g, 0.0), F.where(F.lt(x, lo), g, 0.0), F.where(F.gt(x, hi), g, 0.0))


defop("clip", sig="x, lo, hi", forward=lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
      shape=broadcast_shape, vjp=_clip_vjp,
      doc="limit x to [lo, hi]", deriv="1 where lo ≤ x ≤ hi, else 0 (the bound gets it)",
      partials=("[{1} ≤ {0} ≤ {2}]", "[{0} < {1}]", "[{0} > {2}]"),
      domain=("real", "lo", "hi"), family="elementwise", elementwise=True, batch="elementwise")
