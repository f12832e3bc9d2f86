"""What writing code of a graph needs, whatever the target library: safe names,
safe literals, and the `Site` an op's emitter reads (its inputs' expressions,
shapes and attributes).

Nothing a user wrote reaches the code except through `identifier` (names made
of ASCII letters, digits and `_`) or `literal` (numbers, and strings as
`ascii()` literals), so a program can never place code in the module.
"""
from __future__ import annotations

import builtins
import keyword
import math

import numpy as np

from ..errors import CgraphError

#: ops no emitter writes, and why (tests/test_export.py: every op is covered)
NOT_EXPORTED = {
    "const": "a constant: a literal, or a module-level array",
    "input": "an argument of forward() and gradients()",
    "leaf": "an argument of forward() and gradients(), with the program's default",
    "print": "a statement (cgraph.export.writer)",
    "assert": "a statement (cgraph.export.writer)",
    "loop": "a Python for loop over the body's lines (cgraph.export.writer)",
    "while": "not yet written: a static while loop cannot be exported (its trip count is "
             "known only when it runs); export reports it",
    "index_grad_like": "made only in derivatives through a static while loop's history, "
                       "which cannot be exported",
    "error": "stands for a failed build: never in a graph that is exported",
    "fused": "fusion is a run-time optimisation; the exported graph is optimised unfused",
    "fused_out": "fusion is a run-time optimisation; the exported graph is optimised unfused",
    "grad": "differentiated while building: its graph is exported",
    "jacobian": "differentiated while building: its graph is exported",
    "hessian": "differentiated while building: its graph is exported",
    "jvp": "differentiated while building: its graph is exported",
    "hvp": "differentiated while building: its graph is exported",
    "load": "read while building: the data is a constant",
    "randn": "drawn while building: the values are a constant",
    "rand": "drawn while building: the values are a constant",
}

#: names the generated module defines or imports itself
RESERVED = {"np", "torch", "math", "base64", "inputs", "wrt", "forward", "gradients", "value",
            "grads", "leaves", "names", "name", "found", "SHAPES", "DEFAULTS", "DTYPE",
            "OUTPUT", "WRT", "SOURCE", "show", "read", "run", "array", "pick",
            # the helpers either library may copy into the module
            "sigmoid", "gelu", "shifted", "logsumexp", "softmax", "log_softmax", "labels",
            "cross_entropy", "one_hot", "var", "norm", "index_grad", "scatter_add", "prod"}


class ExportError(CgraphError):
    """The program cannot be written as a module."""


def identifier(name: str, taken: set) -> str:
    """A Python identifier for a program's name, not in `taken` (then added to it):
    ASCII letters, digits and `_` only; other characters spelled by code point."""
    out = []
    for ch in name:
        out.append(ch if (ch.isascii() and (ch.isalnum() or ch == "_")) else f"_u{ord(ch):x}")
    base = "".join(out) or "v"
    if base[0].isdigit():
        base = "v" + base
    if keyword.iskeyword(base) or base in RESERVED or hasattr(builtins, base) \
            or base.startswith("__"):
        base += "_"
    text, k = base, 2
    while text in taken:
        text, k = f"{base}_{k}", k + 1
    taken.add(text)
    return text


def literal(v, inf: str = 'float("inf")', nan: str = 'float("nan")') -> str:
    """Python source for a number, string, None, bool or (nested) tuple/list of them."""
    if v is None or isinstance(v, (bool, np.bool_)):
        return repr(None if v is None else bool(v))
    if isinstance(v, (int, np.integer)):
        return repr(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return nan
        if math.isinf(f):
            return inf if f > 0 else "-" + inf
        return repr(f)
    if isinstance(v, str):
        return ascii(v)
    if isinstance(v, (tuple, list)):
        items = [literal(x, inf, nan) for x in v]
        if isinstance(v, tuple):
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        return f"[{', '.join(items)}]"
    raise ExportError(f"an attribute of type {type(v).__name__} cannot be written as code",
                      kind="usage")


def atomic(expr: str) -> bool:
    """Whether an expression needs no parentheses as an operand: a name, a
    non-negative number, a call or a subscript (no operator outside brackets)."""
    if not expr or expr[0] in "-+~":
        return False
    depth = 0
    quote = None
    for ch in expr:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch in " +-*/@%<>=!&|^,:":
            return False
    return True


class Library:
    """How one target library spells what the writer needs (see numpy_ops.LIB)."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def literal(self, v) -> str:
        return literal(v, self.inf, self.nan)


class Site:
    """One node as its emitter sees it."""

    def __init__(self, node, args: list, shapes: list, lib, used: set, literals=(),
                 dtypes=(), constant=None):
        self.node, self.args, self.shapes, self.lib, self.used = node, args, shapes, lib, used
        self.out_shape = tuple(node.shape)
        self.literals = literals  # per input: whether its expression is a literal number
        self.dtypes = dtypes      # per input: its dtype name
        self.constant = constant  # array -> the name of a module-level constant

    def t(self, i: int) -> str:
        """Input i where a tensor is needed (a literal number becomes one)."""
        return self.lib.tensor(self.args[i]) if self.literals[i] else self.args[i]

    def __getitem__(self, i: int) -> str:
        return self.args[i]

    def p(self, i: int) -> str:
        """Input i as an operand of an operator (parenthesised when needed)."""
        a = self.args[i]
        return a if atomic(a) else f"({a})"

    def lit(self, v) -> str:
        return self.lib.literal(v)

    def attr(self, name: str, default=None):
        if name in self.node.attrs:
            return self.node.attrs[name]
        for a in self.node.op.args:
            if a.name == name and not a.is_tensor:
                from ..registry import REQUIRED

                return default if a.default is REQUIRED else a.default
        return default

    def attrs_text(self) -> dict:
        """Every attribute (given or default) as a literal, by name."""
        return {a.name: self.lit(_plain(self.attr(a.name))) for a in self.node.op.args
                if not a.is_tensor}

    def use(self, *helpers: str) -> None:
        self.used.update(helpers)

    def axes(self):
        """The reduction's axes as a tuple of non-negative ints, or None (all)."""
        axis = self.attr("axis")
        if axis is None:
            return None
        rank = len(self.shapes[0])
        seq = axis if isinstance(axis, (list, tuple)) else [axis]
        return tuple(int(a) % max(rank, 1) for a in seq)

    def axis_kw(self) -> str:
        """`, axis=..., keepdims=True` for a reduction (in the library's spelling)."""
        axes = self.axes()
        keep = bool(self.attr("keepdims", False))
        if axes is not None and len(axes) == 1 and not isinstance(self.attr("axis"), list):
            axes = axes[0]
        return self.lib.axis_kw(axes, keep, len(self.shapes[0]))

    def permutation(self) -> tuple:
        axes = self.attr("axes")
        rank = len(self.shapes[0])
        if axes is None:
            return tuple(reversed(range(rank)))
        axes = [axes] if isinstance(axes, int) else list(axes)
        return tuple(int(a) % max(rank, 1) for a in axes)

    def index_slices(self) -> str:
        """x[...]'s key as a tuple expression of slice objects (valid anywhere)."""
        parts = []
        for e in self.attr("items") or ():
            if e[0] == "slice":
                parts.append("slice(%s)" % ", ".join(literal(None if v is None else int(v))
                                                      for v in e[1:4]))
            else:
                parts.append({"int": lambda: str(int(e[1])), "newaxis": lambda: "None",
                              "ellipsis": lambda: "Ellipsis"}[e[0]]())
        return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"

    def flat_positions(self, shape) -> np.ndarray:
        """The flat positions x[key] reads of an array of `shape` (int64, x[key]'s shape)."""
        from ..ops.shape import numpy_key

        return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)[numpy_key(self.attr("items"))]

    def negative_step(self) -> bool:
        return any(e[0] == "slice" and e[3] is not None and int(e[3]) < 0
                   for e in self.attr("items") or ())

    def index_key(self) -> str:
        """x[...]'s key as source: `1:3, None, 0`."""
        parts = []
        for e in self.attr("items") or ():
            kind = e[0]
            if kind == "int":
                parts.append(str(int(e[1])))
            elif kind == "slice":
                a, b, c = (("" if v is None else str(int(v))) for v in e[1:4])
                parts.append(f"{a}:{b}" + (f":{c}" if c else ""))
            elif kind == "newaxis":
                parts.append("None")
            elif kind == "ellipsis":
                parts.append("...")
            else:
                raise ExportError(f"unknown index entry {e[0]!r}", kind="usage")
        return ", ".join(parts) if parts else "()"


def _plain(v):
    return tuple(v) if isinstance(v, list) and all(isinstance(x, (int, float)) for x in v) else v


def call(fn: str, *extra: str):
    """An op written `fn(input, ..., extra...)`: extras are attribute templates
    ("axis={axis}"); a literal number input becomes a tensor where the library needs one."""
    def emit(s):
        args = [s.t(i) for i in range(len(s.args))]
        return f"{fn}({', '.join(args + [e.format(**s.attrs_text()) for e in extra])})"
    return emit


def helper(name: str, *extra: str):
    """An op written as a call of the module helper `name` (copied in, with the
    helpers it needs, when used)."""
    def emit(s):
        s.use(name, *s.lib.needs.get(name, ()))
        return call(name, *extra)(s)
    return emit


def infix(op: str):
    """An op written `x <op> y`."""
    return lambda s: f"{s.p(0)} {op} {s.p(1)}"


def sum_to_axes(s, sum_text: str, reshape_fn: str) -> str:
    """sum_to(x, shape) with the axes worked out from the known shapes."""
    shape, xs = s.out_shape, tuple(s.shapes[0])
    if xs == shape:
        return s[0]
    lead = len(xs) - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, d in enumerate(shape)
                                      if d == 1 and xs[i + lead] != 1)
    summed = sum_text.format(x=s[0], axes=s.lit(axes)) if axes else s[0]
    return f"{reshape_fn}({summed}, {s.lit(shape)})"
