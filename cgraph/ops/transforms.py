"""grad, jacobian, hessian: the builder expands them with the backward
transform (cgraph/autodiff.py); they are listed here so `cgraph ops` shows them."""
from __future__ import annotations

from ..registry import defop

for _name, _sig, _doc in [
    ("grad", "y, x:name", "∂y/∂x for a scalar y, as a value of x's shape (differentiable again)"),
    ("jacobian", "y, x:name", "∂y/∂x for a tensor y: shape y.shape + x.shape"),
    ("hessian", "y, x:name", "∂²y/∂x² for a scalar y: shape x.shape + x.shape"),
]:
    defop(_name, sig=_sig, forward=None, shape=None, vjp=None, doc=_doc,
          deriv="differentiable again (a graph)",
          family="derivatives", symbol=_name, foldable=False)
