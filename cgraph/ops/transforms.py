"""grad, jacobian, hessian, jvp, hvp: the builder expands them with the
derivative transforms of cgraph/autodiff.py (backward, and the tangent pass
of forward mode); they are listed here so `cgraph ops` shows them."""
from __future__ import annotations

from ..registry import defop

for _name, _sig, _doc in [
    ("grad", "y, x:name", "∂y/∂x for a scalar y, as a value of x's shape (differentiable again)"),
    ("jacobian", "y, x:name", "∂y/∂x for a tensor y: shape y.shape + x.shape"),
    ("hessian", "y, x:name", "∂²y/∂x² for a scalar y: shape x.shape + x.shape"),
    ("jvp", "y, x:name, v", "the directional derivative of y along v at x (J·v, forward mode): "
                            "y's shape"),
    ("hvp", "y, x:name, v", "the Hessian of a scalar y times v (forward over reverse): x's shape"),
]:
    defop(_name, sig=_sig, forward=None, shape=None, vjp=None, doc=_doc,
          deriv="differentiable again (a graph)",
          family="derivatives", symbol=_name, foldable=False)
