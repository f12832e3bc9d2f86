"""Operators and elementwise functions of two (or three) tensors, broadcasting.

Cotangents may come back in the broadcast shape; the autodiff sums them back
to each operand's shape in one place, so rules here never do.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from ..notation import F
from ..registry import broadcast_shape, defop


def binary(name, *, forward, vjp, deriv, partials, doc, symbol, domain=("real", "real"),
           scalar=None, dtype="float", infix=None):
    return defop(name, sig="x, y", forward=forward, shape=broadcast_shape, vjp=vjp, doc=doc,
                 deriv=deriv,
                 partials=partials, domain=domain, family="binary", symbol=symbol,
                 scalar=scalar, elementwise=True, dtype=dtype, batch="elementwise", infix=infix)


def _pow_vjp(g, out, x, y):
    # d/dy = x^y·log x; where x == 0 that term is 0 (as in PyTorch), not 0·(-inf)
    safe = F.where(F.eq(x, 0.0), 1.0, x)
    # d/dx = y·x^(y-1); x^0 is constant, so 0 (PyTorch), not 0·0^(-1) = nan at x = 0
    dx = F.where(F.eq(y, 0.0), 0.0, g * y * x ** (y - 1.0))
    return dx, g * out * F.log(safe)


def _tie_share(a, b):
    """1 where a wins, 0 where it loses, 1/2 on a tie (gradient shared equally)."""
    return F.where(F.gt(a, b), 1.0, F.where(F.eq(a, b), 0.5, 0.0))


def _mod(x, y):
    return np.mod(x, y)


def _scalar_div(x, y):
    if y:
        return x / y
    if not x or x != x:  # 0/0 and nan/0 are nan, as NumPy
        return math.nan
    return math.copysign(math.inf, x) * math.copysign(1, y)


def _nan_wins(pick):
    """max or min on Python floats, with a NaN operand winning (as np.maximum/minimum)."""
    return lambda x, y: x if x != x else y if y != y else pick(x, y)


def _scalar_pow(x, y):
    if -math.inf < x < 0 and math.isfinite(y) and not float(y).is_integer():
        return math.nan  # a negative base to a fractional power (Python: a complex number)
    return x ** y


binary("add", forward=np.add, vjp=lambda g, out, x, y: (g, g), deriv="1, 1", partials=("1", "1"),
       doc="x + y", symbol="+",
       scalar=operator.add, infix="+")
binary("sub", forward=np.subtract, vjp=lambda g, out, x, y: (g, -g), deriv="1, -1",
       partials=("1", "-1"), doc="x - y", symbol="−",
       scalar=operator.sub, infix="-")
binary("mul", forward=np.multiply, vjp=lambda g, out, x, y: (g * y, g * x), deriv="y, x",
       partials=("{1}", "{0}"), doc="x * y",
       symbol="×", scalar=operator.mul, infix="*")
binary("div", forward=np.divide, vjp=lambda g, out, x, y: (g / y, -g * out / y), deriv="1/y, -x/y²",
       partials=("1/{1}", "-{0}/{1}²"), doc="x / y", symbol="÷", domain=("real", "away0"),
       scalar=_scalar_div, infix="/")  # at y == 0 `/` raises: the step loop answers
binary("pow", forward=np.power, vjp=_pow_vjp, deriv="y·x^(y-1), x^y·log(x)",
       partials=("{1}·{0}^({1}-1)", "{0}^{1}·log({0})"),
       doc="x to the power y (also x ^ y and x ** y)", symbol="^", domain=("pos", "real"),
       scalar=_scalar_pow)
binary("mod", forward=_mod, vjp=lambda g, out, x, y: (g, -g * F.floor(x / y)),
       deriv="1, -floor(x/y)",
       partials=("1", "-floor({0}/{1})"),
       doc="remainder with the sign of y (x % y, as NumPy and Python)", symbol="%",
       domain=("real", "away0"))
binary("maximum", forward=np.maximum,
       vjp=lambda g, out, x, y: (g * _tie_share(x, y), g * _tie_share(y, x)),
       deriv="1 where x wins, 1/2 on ties",
       partials=("[{0} > {1}] + [{0} = {1}]/2", "[{1} > {0}] + [{0} = {1}]/2"),
       doc="elementwise maximum", symbol="max",
       scalar=_nan_wins(max))
binary("minimum", forward=np.minimum,
       vjp=lambda g, out, x, y: (g * _tie_share(y, x), g * _tie_share(x, y)),
       deriv="1 where x wins, 1/2 on ties",
       partials=("[{0} < {1}] + [{0} = {1}]/2", "[{1} < {0}] + [{0} = {1}]/2"),
       doc="elementwise minimum", symbol="min",
       scalar=_nan_wins(min))


def _atan2_vjp(g, out, y, x):
    r2 = x * x + y * y
    return g * x / r2, -g * y / r2


defop("atan2", sig="y, x", forward=np.arctan2, shape=broadcast_shape, vjp=_atan2_vjp,
      doc="angle of the point (x, y)",
      deriv="x/(x²+y²), -y/(x²+y²)", partials=("{1}/({0}²+{1}²)", "-{0}/({0}²+{1}²)"),
      domain=("real", "away0"), family="binary", symbol="atan2", elementwise=True,
      batch="elementwise",
      scalar=math.atan2)

# comparisons and logic: boolean results, not differentiable
for _name, _fn, _sym, _s, _infix in [
        ("lt", np.less, "<", operator.lt, "<"), ("le", np.less_equal, "≤", operator.le, "<="),
        ("gt", np.greater, ">", operator.gt, ">"), ("ge", np.greater_equal, "≥", operator.ge, ">="),
        ("eq", np.equal, "==", operator.eq, "=="), ("ne", np.not_equal, "≠", operator.ne, "!=")]:
    binary(_name, forward=_fn, vjp=None, deriv="not differentiable", partials=(),
           doc=f"comparison x {_sym} y (boolean)", symbol=_sym,
           scalar=_s, dtype="bool", infix=_infix)
binary("logical_and", forward=np.logical_and, vjp=None, deriv="not differentiable", partials=(),
       doc="x and y (booleans)", symbol="and",
       dtype="bool", scalar=lambda x, y: bool(x and y))
binary("logical_or", forward=np.logical_or, vjp=None, deriv="not differentiable", partials=(),
       doc="x or y (booleans)", symbol="or",
       dtype="bool", scalar=lambda x, y: bool(x or y))
defop("logical_not", sig="x", forward=np.logical_not, shape=lambda s: s[0], vjp=None,
      doc="not x (booleans)",
      deriv="not differentiable", family="binary", symbol="not", dtype="bool", elementwise=True,
      batch="elementwise",
      scalar=lambda x: not x)


def _where_vjp(g, out, cond, x, y):
    return None, F.where(cond, g, 0.0), F.where(cond, 0.0, g)


defop("where", sig="cond, x, y", forward=np.where, shape=broadcast_shape, vjp=_where_vjp,
      doc="x where cond is true, else y", deriv="[cond], [not cond]",
      partials=("0", "[{0}]", "[not {0}]"), domain=("bool", "real", "real"), family="binary",
      symbol="where", elementwise=True, batch="elementwise", scalar=lambda c, x, y: x if c else y)
