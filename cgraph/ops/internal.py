"""Ops the builder and the autodiff make that are not builtins of the language."""
from __future__ import annotations

import numpy as np

from .. import shape_math as S
from ..notation import F
from ..errors import AssertionFailed
from ..registry import defop


PRINT = {"stream": None}  # where print() writes; None means sys.stdout at call time


def _print(*values, parts=None):
    """parts: ("str", text) or ("val", k) in order, so strings and values mix."""
    import sys

    stream = PRINT["stream"] or sys.stdout
    parts = parts or tuple(("val", k) for k in range(len(values)))
    text = " ".join(p[1] if p[0] == "str" else _fmt(values[p[1]]) for p in parts)
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():  # a program's text never drives the terminal
        from ..errors import visible

        text = visible(text)
    print(text, file=stream, flush=True)
    return np.zeros(())


def _fmt_scalar(x) -> str:
    """Full precision, as tables show integers: 35, not 35.0; 1.4142135623730951."""
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e16 else repr(x)


def _fmt(v):
    v = np.asarray(v)
    if v.ndim == 0:
        return _fmt_scalar(v.item())
    return np.array2string(v, separator=", ", formatter={"all": _fmt_scalar}, threshold=1000)


def _assert(cond, message=None):
    if not np.all(cond):
        raise AssertionFailed(message or "assertion failed")
    return np.zeros(())


def sum_to(x, shape=()):
    """Sum a broadcast value back to `shape` (the inverse of broadcasting)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, d in enumerate(shape) if d == 1 and x.shape[i + lead] != 1)
    out = np.sum(x, axis=axes, keepdims=True) if axes else x
    return out.reshape(shape)


def _no_forward(*_, **__):
    raise RuntimeError("leaves get their values from the feed")


defop("const", sig="", forward=None, shape=None, vjp=None, doc="a constant", foldable=False,
      family="internal")
defop("input", sig="", forward=_no_forward, shape=None, vjp=None,
      doc="an input: its value comes from outside",
      foldable=False, family="internal")
defop("leaf", sig="", forward=_no_forward, shape=None, vjp=None,
      doc="a param or constant top-level binding",
      foldable=False, family="internal")
defop("print", sig="values:tensors, parts:any=none", forward=_print, shape=lambda s, **_: (),
      vjp=None,
      doc="print values", foldable=False, dtype="float", batch="loop", family="internal")
defop("assert", sig="cond, message:str=none", forward=_assert, shape=lambda s, **_: (), vjp=None,
      doc="fail the run when cond is false", foldable=False, batch="assert", family="internal")
defop("sum_to", sig="x, shape:shape", forward=sum_to, shape=lambda s, shape: tuple(shape),
      vjp=lambda g, out, x, shape: (F.broadcast_to(g, shape=list(x.shape)),),
      doc="sum a broadcast value back to a shape", deriv="1 (spread back)", symbol="Σ→",
      batch="sum_to",
      test={"cases": [{"shapes": [(2, 3, 4)], "attrs": {"shape": [3, 1]}},
                      {"shapes": [(2, 3)], "attrs": {"shape": []}}]}, family="internal")
defop("zeros_like", sig="x", forward=np.zeros_like, shape=lambda s: s[0],
      vjp=lambda g, out, x: (None,),
      doc="zeros of x's shape", deriv="0", dtype="float", batch="direct", family="internal",
      scalar=lambda x: 0.0)
defop("matrix_transpose", jvp="linear", sig="x", forward=lambda x: np.swapaxes(x, -1, -2),
      shape=lambda s: s[0][:-2] + (s[0][-1], s[0][-2]) if len(s[0]) >= 2 else _rank2(s[0]),
      vjp=lambda g, out, x: (F.matrix_transpose(g),), doc="swap the last two axes",
      deriv="transpose back", symbol="ᵀ", dtype="same", batch="direct",
      test={"cases": [{"shapes": [(2, 3)]}, {"shapes": [(2, 3, 4)]}]}, family="internal")


def _rank2(shape):
    raise S.ShapeError(f"a matrix transpose needs rank 2 or more, got {S.fmt(shape)}")
defop("ones_like", sig="x", forward=np.ones_like, shape=lambda s: s[0],
      vjp=lambda g, out, x: (None,),
      doc="ones of x's shape (the seed of a backward pass)", deriv="0", dtype="float",
      batch="direct",
      family="internal")
defop("dim_of", sig="x, axis:int", forward=lambda x, axis: np.asarray(float(np.shape(x)[axis])),
      shape=lambda s, axis: (), vjp=None, doc="a named dim of an input, read when it runs",
      dtype="float",
      batch="dim_of", family="internal")
defop("variable", sig="x", forward=lambda x: x, shape=lambda s: s[0],
      vjp=lambda g, out, x: (g,),
      doc="a function's parameter that its body differentiates with respect to: the value "
          "given, held as a variable so a literal argument is not folded away",
      deriv="1", partials=("1",), dtype="same", batch="elementwise", foldable=False,
      family="internal")
defop("error", sig="", forward=None, shape=None, vjp=None,
      doc="stands for a value whose build failed", foldable=False,
      family="internal")
