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


def binary(name, forward, vjp, deriv, partials, doc, symbol, domain=("real", "real"),
           scalar=None, dtype="float"):
    return defop(name, "x, y", forward, broadcast_shape, vjp, doc=doc, deriv=deriv,
                 partials=partials, domain=domain, family="binary", symbol=symbol,
                 scalar=scalar, elementwise=True, dtype=dtype, batch="elementwise")


def _pow_vjp(g, out, x, y):
    # d/dy = x^y·log x; where x == 0 that term is 0 (as in PyTorch), not 0·(-inf)
    safe = F.where(F.eq(x, 0.0), 1.0, x)
    return g * y * x ** (y - 1.0), g * out * F.log(safe)


def _tie_share(a, b):
    """1 where a wins, 0 where it loses, 1/2 on a tie (gradient shared equally)."""
    return F.where(F.gt(a, b), 1.0, F.where(F.eq(a, b), 0.5, 0.0))


def _mod(x, y):
    return np.mod(x, y)


def _scalar_pow(x, y):
    return x ** y if (x >= 0 or float(y).is_integer()) else math.nan


binary("add", np.add, lambda g, out, x, y: (g, g), "1, 1", ("1", "1"), "x + y", "+",
       scalar=operator.add)
binary("sub", np.subtract, lambda g, out, x, y: (g, -g), "1, -1", ("1", "-1"), "x - y", "−",
       scalar=operator.sub)
binary("mul", np.multiply, lambda g, out, x, y: (g * y, g * x), "y, x", ("{1}", "{0}"), "x * y",
       "×", scalar=operator.mul)
binary("div", np.divide, lambda g, out, x, y: (g / y, -g * out / y), "1/y, -x/y²",
       ("1/{1}", "-{0}/{1}²"), "x / y", "÷", domain=("real", "away0"),
       scalar=lambda x, y: x / y if y else (math.copysign(math.inf, x) * math.copysign(1, y) if x else math.nan))
binary("pow", np.power, _pow_vjp, "y·x^(y-1), x^y·log(x)", ("{1}·{0}^({1}-1)", "{0}^{1}·log({0})"),
       "x to the power y (also x ^ y and x ** y)", "^", domain=("pos", "real"), scalar=_scalar_pow)
binary("mod", _mod, lambda g, out, x, y: (g, -g * F.floor(x / y)), "1, -floor(x/y)",
       ("1", "-floor({0}/{1})"), "remainder with the sign of y (x % y, as NumPy and Python)", "%",
       domain=("real", "away0"))
binary("maximum", np.maximum, lambda g, out, x, y: (g * _tie_share(x, y), g * _tie_share(y, x)),
       "1 where x wins, 1/2 on ties", ("[{0} > {1}] + [{0} = {1}]/2", "[{1} > {0}] + [{0} = {1}]/2"), "elementwise maximum", "max",
       scalar=max)
binary("minimum", np.minimum, lambda g, out, x, y: (g * _tie_share(y, x), g * _tie_share(x, y)),
       "1 where x wins, 1/2 on ties", ("[{0} < {1}] + [{0} = {1}]/2", "[{1} < {0}] + [{0} = {1}]/2"), "elementwise minimum", "min",
       scalar=min)


def _atan2_vjp(g, out, y, x):
    r2 = x * x + y * y
    return g * x / r2, -g * y / r2


defop("atan2", "y, x", np.arctan2, broadcast_shape, _atan2_vjp, doc="angle of the point (x, y)",
      deriv="x/(x²+y²), -y/(x²+y²)", partials=("{1}/({0}²+{1}²)", "-{0}/({0}²+{1}²)"),
      domain=("real", "away0"), family="binary", symbol="atan2", elementwise=True, batch="elementwise",
      scalar=math.atan2)

# comparisons and logic: boolean results, not differentiable
for _name, _fn, _sym, _s in [("lt", np.less, "<", operator.lt), ("le", np.less_equal, "≤", operator.le),
                             ("gt", np.greater, ">", operator.gt), ("ge", np.greater_equal, "≥", operator.ge),
                             ("eq", np.equal, "==", operator.eq), ("ne", np.not_equal, "≠", operator.ne)]:
    binary(_name, _fn, None, "not differentiable", (), f"comparison x {_sym} y (boolean)", _sym,
           scalar=_s, dtype="bool")
binary("logical_and", np.logical_and, None, "not differentiable", (), "x and y (booleans)", "and",
       dtype="bool", scalar=lambda x, y: bool(x and y))
binary("logical_or", np.logical_or, None, "not differentiable", (), "x or y (booleans)", "or",
       dtype="bool", scalar=lambda x, y: bool(x or y))
defop("logical_not", "x", np.logical_not, lambda s: s[0], None, doc="not x (booleans)",
      deriv="not differentiable", family="binary", symbol="not", dtype="bool", elementwise=True, batch="elementwise",
      scalar=lambda x: not x)


def _where_vjp(g, out, cond, x, y):
    return None, F.where(cond, g, 0.0), F.where(cond, 0.0, g)


defop("where", "cond, x, y", np.where, broadcast_shape, _where_vjp,
      doc="x where cond is true, else y", deriv="[cond], [not cond]",
      partials=("0", "[{0}]", "[not {0}]"), domain=("bool", "real", "real"), family="binary",
      symbol="where", elementwise=True, batch="elementwise", scalar=lambda c, x, y: x if c else y)
