"""Numerical trouble: where did the first NaN or infinity come from?

- `all_values(result, feed)`: the value of every node of a run's graph
  (a static plan frees intermediates as it goes; this re-runs the graph
  keeping them all, with the program's `print` output silenced).
- `first_nonfinite(result, feed)`: a `Diagnostic` naming the first node, in
  graph order, whose value holds NaN or inf while its inputs were finite,
  with its source location: "log of a negative value gives nan" at
  model.cg:4:9. None when every value is finite.
- `check_result(result, feed, quiet)`: print that as a warning on stderr when
  anything the command shows (outputs, gradients) is not finite.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..errors import Diagnostic


def nonfinite(value) -> bool:
    arr = np.asarray(value)
    return arr.dtype.kind in "fc" and arr.size > 0 and not np.isfinite(arr).all()


@contextmanager
def silenced_prints():
    """Run a graph again without repeating its print() output."""
    import io

    from ..ops.internal import PRINT

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
    from ..execute import Plan

    with silenced_prints():
        return Plan(g, range(n)).run(feed)


def _describe(node, args, what: str) -> str:
    """What went wrong in one op, from its registry domain: 'log of a negative value'."""
    op = node.op
    names = [a.name for a in op.tensor_args]
    one = len(args) == 1
    for k, dom in enumerate(op.domain or ()):
        if k >= len(args) or args[k] is None:
            continue
        v = np.asarray(args[k])
        if v.dtype.kind not in "fiu":
            continue
        arg = "" if one else f" {names[k] if k < len(names) else k}"
        if dom == "pos":
            if (v < 0).any():
                return f"{op.name} of a negative value" if one else f"{op.name} with a negative{arg}"
            if (v == 0).any():
                return f"{op.name} of zero" if one else f"{op.name} with a zero{arg}"
        elif dom == "away0" and (v == 0).any():
            return "division by zero" if op.name in ("div", "mod") else f"{op.name} with a zero{arg}"
        elif dom == "unit" and (np.abs(v) > 1).any():
            return f"{op.name} of a value outside [-1, 1]"
    return f"{op.name} overflowed" if what == "inf" else op.name


def first_nonfinite(result, feed: dict):
    """The first node whose value is not finite while its inputs are."""
    g = result.graph
    values = all_values(result, feed)
    forward_end = max(list(g.names.values()) + list(g.outputs.values()) + [-1])
    for node in g.nodes:
        v = values[node.id] if node.id < len(values) else None
        if v is None or not nonfinite(v):
            continue
        args = [values[j] for j in node.inputs]
        if any(a is None or nonfinite(a) for a in args):
            continue
        arr = np.asarray(v)
        what = "nan" if np.isnan(arr).any() else "inf"
        op = node.op.name
        if op in ("input", "leaf"):
            msg = f"the value of '{node.name}' holds {what}"
            hint = "every value computed from it may be non-finite too"
        elif op == "const":
            msg = f"this computes {what} (a constant, folded when the graph was built)"
            hint = None
        else:
            msg = f"{_describe(node, args, what)} gives {what}"
            if node.id > forward_end:
                msg = "in the gradient: " + msg
            hint = f"the first {what} of the run appears here; values computed from it are not " \
                   "finite either"
        return Diagnostic("value", msg, node.span if node.span.line > 0 else None, hint)
    return None


def check_result(result, feed: dict, program=None, quiet: bool = False, extra=()) -> bool:
    """Warn on stderr when an output or gradient is not finite. True if warned."""
    shown = list(result.outputs.values()) + list(result.gradients.values()) \
        + list(result.intermediates.values()) + list(extra)
    if quiet or not any(v is not None and nonfinite(v) for v in shown):
        return False
    from .run import warn

    d = first_nonfinite(result, feed)
    if d is None:
        warn("a result is not finite (nan or inf)")
        return True
    if program is not None:
        from ..errors import CgraphError

        d = CgraphError([d]).with_source(program.file, program.source).errors[0]
    warn(d)
    return True
