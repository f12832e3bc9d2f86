"""cgraph: compute, differentiate, check and draw computation graphs.

    >>> import cgraph
    >>> cgraph.evaluate("(a+b)*(b-c)", {"a": 2, "b": 3, "c": 4})
    {'Y': array(-5.)}

Heavy modules load on first use, so `import cgraph` stays cheap.
"""
from .errors import CgraphError

__version__ = "0.1.0"
__all__ = ["CgraphError", "compile", "draw", "evaluate", "explain", "fit", "gradients", "Program",
           "__version__"]


def __dir__():
    return sorted(__all__)


def __getattr__(name):
    if name in ("compile", "draw", "evaluate", "explain", "gradients", "Program"):
        from . import program

        return getattr(program, name)
    if name == "fit":
        from .program import fit

        return fit
    raise AttributeError(f"module 'cgraph' has no attribute {name!r}")
