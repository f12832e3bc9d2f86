"""Neural-network functions: softmax, log_softmax, cross_entropy, mse, one_hot.

The forwards are the numerically stable ones (the maximum is subtracted
before exponentiating); the derivatives are graphs of registry ops, so they
can be differentiated again.
"""
from __future__ import annotations

import numpy as np

from .. import shape_math as S
from ..notation import F
from ..registry import defop
from .shape import check_shape, int_values
from .reductions import quiet_empty

ShapeError = S.ShapeError


def _axis_shape(s, axis=-1):
    shape = s[0]
    if shape is not None:
        if len(shape) == 0:
            raise ShapeError("softmax needs a tensor of rank 1 or more, got a scalar",
                             hint="the softmax of a single value is always 1")
        S.norm_axis(axis, len(shape))
    return shape


def shifted(x, axis):
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # empty: nothing to shift
    return x - np.where(np.isfinite(m), m, 0.0)


def _softmax(x, axis=-1):
    e = np.exp(shifted(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis=-1):
    z = shifted(x, axis)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


defop("softmax", sig="x, axis:int=-1", forward=_softmax, shape=_axis_shape,
      vjp=lambda g, out, x, axis=-1: (out * (g - F.sum(g * out, axis=axis, keepdims=True)),),
      doc="exp(x) / sum(exp(x)) along axis, computed stably",
      deriv="s·(g - sum(g·s)), s = softmax(x)", family="neural", symbol="softmax", batch="axis",
      test={"cases": [{"shapes": [(2, 3)]}, {"shapes": [(3, 2)], "attrs": {"axis": 0}},
                      {"shapes": [(4,)]}]})

defop("log_softmax", sig="x, axis:int=-1", forward=_log_softmax, shape=_axis_shape,
      vjp=lambda g, out, x, axis=-1: (g - F.exp(out) * F.sum(g, axis=axis, keepdims=True),),
      doc="x - logsumexp(x) along axis, computed stably",
      deriv="g - softmax(x)·sum(g)", family="neural", symbol="log_softmax", batch="axis",
      test={"cases": [{"shapes": [(2, 3)]}, {"shapes": [(3, 2)], "attrs": {"axis": 0}}]})


# ------------------------------------------------------------- cross_entropy
def _ce_shape(s):
    logits, labels = s
    if logits is None or labels is None:
        return ()
    if len(logits) == 2:
        if len(labels) != 1 or (None not in (labels[0], logits[0]) and labels[0] != logits[0]):
            raise ShapeError(f"cross_entropy: logits {S.fmt(logits)} need labels of shape "
                             f"[{logits[0] if logits[0] is not None else 'N'}], got {S.fmt(labels)}",
                             hint="logits are [N, C] and labels [N]: one class index per row")
    elif len(logits) == 1:
        if len(labels) != 0:
            raise ShapeError(f"cross_entropy: 1-D logits {S.fmt(logits)} need a scalar label, "
                             f"got {S.fmt(labels)}",
                             hint="logits [C] go with one label; [N, C] with labels [N]")
    else:
        raise ShapeError(f"cross_entropy takes logits [N, C] (or [C]), got {S.fmt(logits)}",
                         hint="labels are integer class indices, one per row of logits")
    return ()


@quiet_empty
def _cross_entropy(logits, labels):
    logits = np.asarray(logits)
    if logits.ndim == 1:
        logits, labels = logits[None, :], np.reshape(labels, (1,))
    n, c = logits.shape
    idx = int_values(labels, c, "class label", allow_negative=False)
    z = shifted(logits, -1)
    lse = np.log(np.sum(np.exp(z), axis=-1))
    return np.mean(lse - z[np.arange(n), idx])


def _ce_vjp(g, out, logits, labels):
    n = 1 if logits.ndim == 1 else logits.shape[0]
    c = logits.shape[-1]
    if c is None or n is None:
        raise ShapeError("cross_entropy: the derivative needs the shape of the logits known "
                         "when the graph is built", hint="give the input a shape: input x: [n, c]")
    p = F.softmax(logits, axis=-1) - F.one_hot(labels, n=int(c))
    return p * (g / float(n)), None


defop("cross_entropy", sig="logits, labels", forward=_cross_entropy, shape=_ce_shape, vjp=_ce_vjp,
      doc="mean over rows of -log softmax(logits)[label] (logits [N, C], integer labels [N])",
      deriv="(softmax(logits) - one_hot(labels))/N; none for labels",
      domain=("real", "labels"), family="neural", symbol="CE", batch="cross_entropy",
      test={"cases": [{"shapes": [(4, 3), (4,)]}, {"shapes": [(3,), ()]}]})


# ----------------------------------------------------------------------- mse
def _mse_shape(s):
    S.broadcast(s[0], s[1])
    return ()


def _mse_vjp(g, out, a, b):
    d = a - b
    n = S.size(S.broadcast(a.shape, b.shape))
    scale = (2.0 / n if n else 0.0) if n is not None else 2.0 / F.sum(F.ones_like(d))
    ga = g * scale * d
    return ga, -ga


defop("mse", sig="a, b", forward=quiet_empty(lambda a, b: np.mean(np.square(np.subtract(a, b)))),
      shape=_mse_shape,
      vjp=_mse_vjp,
      doc="mean squared error: mean((a - b)²) (a and b broadcast)",
      deriv="2(a-b)/n, -2(a-b)/n", partials=("2·({0}-{1})", "-2·({0}-{1})"),
      family="neural", symbol="mse", batch="mse",
      test={"cases": [{"shapes": [(2, 3), (2, 3)]}, {"shapes": [(3, 1), (4,)]},
                      {"shapes": [(), ()]}]})


# ------------------------------------------------------------------- one_hot
def _one_hot_shape(s, n=0):
    (k,) = check_shape([n], "number of classes")
    return None if s[0] is None else tuple(s[0]) + (k,)


def _one_hot(labels, n=0):
    n = int(n)
    idx = int_values(labels, n, "class label", allow_negative=False)
    out = np.zeros(idx.shape + (n,))
    np.put_along_axis(out, idx[..., None], 1.0, axis=-1)
    return out


defop("one_hot", sig="labels, n:int", forward=_one_hot, shape=_one_hot_shape, vjp=None,
      doc="rows of the n×n identity picked by integer labels (float; labels in 0..n-1)",
      deriv="not differentiable", domain=("labels",), family="neural", symbol="one_hot",
      batch="direct")
