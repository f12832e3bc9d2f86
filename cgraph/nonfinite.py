"""Numerical trouble: where did the first NaN or infinity come from?

NumPy's own RuntimeWarnings never reach the user (the engine runs every op
under `np.errstate(all="ignore")`); instead, when something a command shows
is not finite, ONE cgraph warning names the first node that produced a NaN or
an infinity from finite inputs, what went wrong there, and its source line:

    model.cg:4:9: warning: log of a negative value gives nan

- `all_values(result, feed)`: the value of every node of a run's graph
  (a static plan frees intermediates as it goes; this re-runs the graph
  keeping them all, with the program's `print` output silenced).
- `first_nonfinite(result, feed, program=None)`: that `Diagnostic`, or None
  when every value is finite. A static run's graph has been optimised (folded,
  fused: a `fused` node stands for many source lines), so with `program`
  given the same run is repeated in eager mode, where every op of the source
  is its own node with its own location; the static graph is searched only
  when that is not possible.
- `describe(op_name, args, value)`: what went wrong in one op, per op: "log of
  a negative value", "division by zero", "sqrt of a negative value",
  "overflow in exp"...

The command line's warning (or `--strict` error) is `cgraph.cli.nonfinite.check_result`;
`cgraph fit` uses `first_nonfinite` to say where a NaN loss came from.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from .errors import Diagnostic

LEAF_OPS = ("input", "leaf")


def nonfinite(value) -> bool:
    arr = np.asarray(value)
    return arr.dtype.kind in "fc" and arr.size > 0 and not np.isfinite(arr).all()


@contextmanager
def silenced_prints():
    """Run a graph again without repeating its print() output."""
    import io

    from .ops.internal import PRINT

    old = PRINT["stream"]
    PRINT["stream"] = io.StringIO()
    try:
        yield
    finally:
        PRINT["stream"] = old


def all_values(result, feed: dict, upto: int | None = None) -> list:
    """Every node's value (nodes 0..upto, or all). Re-runs a static graph."""
    g = result.graph
    n = len(g.nodes) if upto is None else upto + 1
    values = result.values
    if len(values) >= n and all(values[i] is not None for i in range(n)
                                if g.nodes[i].op.name not in ("print", "assert")):
        return values
    from .execute import Plan

    with silenced_prints():
        return Plan(g, range(n)).run(feed)


# ------------------------------------------------------------ what went wrong
def _kind(value) -> str:
    """'nan', 'inf' or '-inf': the worst non-finite value in `value`."""
    arr = np.asarray(value)
    if np.isnan(arr).any():
        return "nan"
    bad = arr[~np.isfinite(arr)]
    return "-inf" if bad.size and (bad < 0).all() else "inf"


def _at_bad(arg, value):
    """The argument's elements where `value` is not finite (all of it when the
    shapes do not line up elementwise: a reduction, a matrix op)."""
    a = np.asarray(arg)
    out = np.asarray(value)
    if a.dtype.kind not in "biuf":
        return None
    if out.ndim and a.shape != out.shape:
        try:
            a = np.broadcast_to(a, out.shape)
        except ValueError:
            return a.reshape(-1)
    if out.ndim == 0 or a.shape != out.shape:
        return a.reshape(-1)
    return a[~np.isfinite(out)]


def describe(op: str, args, value) -> str:
    """What went wrong in one op whose inputs were finite and whose value is not."""
    what = _kind(value)
    xs = [_at_bad(a, value) for a in args]
    x = xs[0] if xs else None
    y = xs[1] if len(xs) > 1 else None

    def some(v, test) -> bool:
        return v is not None and v.size > 0 and bool(test(v).any())

    if any(np.size(a) == 0 for a in args) and (what == "nan" or op == "logsumexp"):
        return f"{op} of an empty tensor"  # logsumexp: log(0) = -inf
    if op == "log":
        if some(x, lambda v: v < 0):
            return "log of a negative value"
        if some(x, lambda v: v == 0):
            return "log of zero"
    elif op == "log1p":
        if some(x, lambda v: v < -1):
            return "log1p of a value below -1"
        if some(x, lambda v: v == -1):
            return "log1p of -1 (log of zero)"
    elif op == "sqrt" and some(x, lambda v: v < 0):
        return "sqrt of a negative value"
    elif op in ("asin", "acos") and some(x, lambda v: np.abs(v) > 1):
        return f"{op} of a value outside [-1, 1]"
    elif op == "div" and some(y, lambda v: v == 0):
        if what == "nan" and some(x, lambda v: v == 0):
            return "zero divided by zero"
        return "division by zero"
    elif op == "mod" and some(y, lambda v: v == 0):
        return "remainder (%) by zero"
    elif op == "pow" and x is not None and y is not None:
        try:
            xb, yb = np.broadcast_arrays(x, y)
        except ValueError:
            xb, yb = x, y
        if xb.shape == yb.shape:
            if ((xb < 0) & (yb != np.round(yb))).any():
                return "a negative number to a fractional power"
            if ((xb == 0) & (yb < 0)).any():
                return "zero to a negative power"
    elif op == "load":
        return "the data loaded here holds"
    elif op in ("inv", "solve", "det") and what == "nan":
        return f"{op} of a singular (or nearly singular) matrix"
    if what != "nan":
        return f"overflow in {op}"
    return f"{op} of invalid values"


def _message(desc: str, what: str) -> str:
    if desc.endswith(" holds"):
        return f"{desc} {what}"
    if desc.startswith("overflow in "):
        return f"{desc}: the result is too large for a float ({what})"
    return f"{desc} gives {what}"


# ------------------------------------------------------------ the first one
def _eager_run(result, feed: dict, program):
    """The run of `result` again in eager mode: every op a node with a value and
    its own source location (no folding, no fusion). None if it cannot be done."""
    from .errors import CgraphError

    try:
        again = program.variant(mode="eager")
        grad = bool(result.gradients)
        with silenced_prints():
            return again.run(feed, grad=grad, of=result.output,
                             wrt=list(result.gradients) if grad else None,
                             all_names=bool(result.intermediates))
    except (CgraphError, RecursionError, MemoryError):
        return None


def _search(result, values):
    g = result.graph
    forward_end = max(list(g.names.values()) + list(g.outputs.values()) + [-1])
    for node in g.nodes:
        v = values[node.id] if node.id < len(values) else None
        if v is None or not nonfinite(v):
            continue
        args = [values[j] for j in node.inputs]
        if any(a is None or nonfinite(a) for a in args):
            continue
        what = _kind(v)
        op = node.op.name
        hint = f"the first {what} of the run appears here; values computed from it are not " \
               "finite either"
        if op in LEAF_OPS:
            msg = f"the value of '{node.name}' holds {what}"
            hint = "every value computed from it may be non-finite too"
        elif op == "const":
            msg = f"this value is {what}: a constant of the program" if node.id <= forward_end \
                else f"in the gradient: a constant {what}"
            if node.dtype == "float32" and "inf" in what:
                msg = f"a constant too large for float32 becomes {what}"
        else:
            if op == "fused":
                op, args, v = _inside_fused(node, args, v)
            msg = _message(describe(op, args, v), what)
            if node.id > forward_end:
                of = _forward_op(g, node, forward_end)
                msg = f"in the gradient{f' of {of}' if of else ''}: {msg}"
        return Diagnostic("value", msg, node.span if node.span.line > 0 else None, hint)
    return None


def _inside_fused(node, args, value):
    """(op name, its args, its value) of the first op inside a fused region whose
    value is not finite while its inputs are."""
    try:  # a best effort: the optimiser's private format
        from .ops.fused import run_program

        program = node.attrs["program"]
        shape = tuple(node.attrs["shape"])
        full = [np.broadcast_to(np.asarray(a), shape) if np.ndim(a) else np.asarray(a)
                for a in args]
        with np.errstate(all="ignore"):
            tmp = run_program(program, full)
    except Exception:
        return "fused", args, value
    for k, (opname, refs, _) in enumerate(program):
        ins = [full[r] if r >= 0 else tmp[-r - 1] for r in refs]
        if nonfinite(tmp[k]) and not any(nonfinite(a) for a in ins):
            return opname, ins, tmp[k]
    return "fused", args, value


def _forward_op(g, node, forward_end):
    """The op a gradient node differentiates: the forward node at the same place."""
    ops = {n.op.name for n in g.nodes[:forward_end + 1] if n.span == node.span
           and n.op.name not in LEAF_OPS + ("const",)}
    return ops.pop() if len(ops) == 1 else None


def first_nonfinite(result, feed: dict, program=None):
    """The first node whose value is not finite while its inputs are."""
    if program is not None and getattr(program, "mode", "eager") == "static":
        again = _eager_run(result, feed, program)
        if again is not None:
            found = _search(again, again.values)
            if found is not None:
                return found
    return _search(result, all_values(result, feed))
