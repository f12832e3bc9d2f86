"""`check_result`: the command line's one warning (or, with --strict, error) when
something a command shows is not finite, naming where the first NaN or infinity
came from (`cgraph.nonfinite`)."""
from __future__ import annotations

from ..errors import Diagnostic
from ..nonfinite import first_nonfinite, nonfinite


def check_result(result, feed: dict, program=None, quiet: bool = False, extra=(),
                 strict: bool = False) -> bool:
    """Warn on stderr when an output or gradient is not finite (with `strict`,
    raise it as an error). True if warned."""
    shown = list(result.outputs.values()) + list(result.gradients.values()) \
        + list(result.intermediates.values()) + list(extra)
    if (quiet and not strict) or not any(v is not None and nonfinite(v) for v in shown):
        return False
    from ..errors import CgraphError
    from .run import warn

    d = first_nonfinite(result, feed, program)
    if d is None:
        d = Diagnostic("value", "a result is not finite (nan or inf)")
    if program is not None:
        d = CgraphError([d]).with_source(program.file, program.source).errors[0]
    if strict:
        raise CgraphError([d])
    warn(d)
    return True
