"""`--compare-modes` (eval, grad, jacobian): the program run both ways — static (built whole,
optimised, planned) and eager (each op as it is reached) — and the largest
difference per output and per gradient, with a verdict.

The two kinds of graph of the tutorial, side by side on the user's own program.
They must agree to rounding (LANGUAGE.md §7): within rtol 1e-9 (float32: 1e-4)
of the larger magnitude, or atol 1e-12 (1e-6). `compare_modes` returns the
exit status: 1 when any quantity differs beyond that, or one mode cannot run
the program (its diagnostic is shown).
"""
from __future__ import annotations

import numpy as np

TOLERANCES = {"float64": (1e-9, 1e-12), "float32": (1e-4, 1e-6)}


def _run(program, values, grad, of, wrt, mode):
    if grad == "jacobian":
        from types import SimpleNamespace

        from .jacobian import jacobians

        name, y, jac, _, _, _ = jacobians(program.variant(mode=mode), values, of=of, wrt=wrt)
        return SimpleNamespace(outputs={name: y}, output=name, gradients=jac)
    return program.variant(mode=mode).run(values, grad=grad, of=of, wrt=wrt)


def differences(a, b, dtype: str) -> tuple[float, bool]:
    """(the largest |a − b|, whether it is within the tolerance). NaN equals NaN and
    an infinity equals the same infinity, as the IEEE rules of both modes give."""
    rtol, atol = TOLERANCES.get(dtype, TOLERANCES["float64"])
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return float("inf"), False
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(all="ignore"):
        diff = np.where(same, 0.0, np.abs(a - b))
        ok = same | (diff <= atol + rtol * np.maximum(np.abs(a), np.abs(b)))
    return (float(diff.max()) if diff.size else 0.0), bool(ok.all())


def compare_modes(printer, program, values, grad, of=None, wrt=None) -> int:
    """`grad`: False (outputs), True (and gradients) or "jacobian" (and Jacobians)."""
    from ..errors import CgraphError
    from .run import FAILED, OK, report

    runs = {}
    for mode in ("static", "eager"):
        try:
            runs[mode] = _run(program, values, grad, of, wrt, mode)
        except CgraphError as exc:
            if printer.json:
                printer.document({"compare": {"error": {"mode": mode, "message": exc.message}}})
            else:
                printer.line(f"{mode} mode cannot run this program:")
            report(exc)
            return FAILED
    s, e = runs["static"], runs["eager"]
    rows, verdict = [], True
    pairs = [(n, s.outputs[n], e.outputs.get(n)) for n in s.outputs]
    if grad:
        pairs += [(f"∂{s.output}/∂{n}", s.gradients[n], e.gradients.get(n)) for n in s.gradients]
    for name, a, b in pairs:
        if b is None:
            rows.append((name, "missing in eager mode", False, float("inf")))
            verdict = False
            continue
        diff, ok = differences(a, b, program.dtype)
        verdict &= ok
        rows.append((name, printer.show(a), ok, diff))
    if printer.json:
        printer.document({"compare": {"agree": verdict, "quantities": [
            {"name": n, "max_abs_difference": d, "agree": ok} for n, _, ok, d in rows]}})
        return OK if verdict else FAILED
    printer.table(["quantity", "static", "max |static − eager|", "verdict"],
                  [(n, v, f"{d:.3g}", "agree" if ok else "DIFFER") for n, v, ok, d in rows])
    rtol, atol = TOLERANCES.get(program.dtype, TOLERANCES["float64"])
    printer.line(("static and eager mode agree" if verdict else "static and eager mode DIFFER")
                 + f" (rtol {rtol:g}, atol {atol:g})")
    return OK if verdict else FAILED
