"""Hypothesis strategies for random, valid cgraph programs (as source text).

    from strategies import programs

    @given(programs())
    def test_something(case):
        source, inputs = case
        ...

A generated program declares a few scalar and small tensor inputs
(`input a`, `input u: [3]`, `input M: [2, 3]`, ...), then uses:

- expressions over the registry's elementwise, binary and reduction ops (and a
  few linear-algebra, shape and neural ops), with NumPy broadcasting, indexing
  and slicing; the op tables are read from `cgraph.registry`, so a new
  elementwise/binary/reduction op is exercised as soon as it is declared;
- assignments and augmented assignments, top-level leaves (`w = 0.75`,
  `param P = randn([3], seed=4)`), `const` names;
- `def` functions (shape-polymorphic, possibly calling earlier functions),
  called from expressions;
- `for` loops with literal bounds (the loop index used in expressions);
- `if`/`elif`/`else` on build-time constants (`const` names and literals);
- optionally in-language `grad(y, x)`, `print` and `assert`.

Every generated program is valid in *both* modes (static and eager) and ends
with a scalar output `out` (so `grad=True` works). Domain-restricted ops get
guarded arguments, chosen from the registry's `domain` field: `log(x*x + 1)`,
`asin(0.9 * tanh(x))`, `a / (b*b + 1)`; ops that grow fast (`exp`, `sinh`,
`pow`'s exponent...) get a bounded argument, so values stay finite.

Options of `programs(...)`:

    smooth=True      leave out ops with kinks or jumps (abs, relu, floor,
                     maximum, max, where, %, ...) so finite differences agree
                     with the gradients everywhere
    functions, loops, branches, leaves, consts   switch those features off
    derivatives=True use grad(y, x) inside the program
    prints=True      add print(...) statements; asserts=True adds always-true
                     data-dependent asserts
    max_depth, max_statements    size limits
    input_range      inputs are drawn uniformly-ish from [-r, r]

`programs()` yields `(source, inputs)`; `program_and_shapes()` also yields
the declared input shapes. The generator class `ProgramGen` may be driven
directly for other strategies (e.g. `ProgramGen(draw, opts).expr((3,), 2)`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
from hypothesis import strategies as st

from cgraph import registry as R
from cgraph.build import BINARY_OPS, CHAIN_OPS

# --------------------------------------------------------------- op tables
#: the inputs every generated program declares, with their shapes
INPUTS: dict[str, tuple] = {"a": (), "b": (), "u": (3,), "v": (2,), "M": (2, 3)}
#: shapes expressions take (everything an input has)
SHAPES = [(), (3,), (2,), (2, 3)]

#: ops with kinks or jumps: excluded when smooth=True (finite differences)
NONSMOOTH = {"abs", "sign", "relu", "leaky_relu", "floor", "ceil", "round", "clip", "mod",
             "maximum", "minimum", "max", "min", "std", "where", "argmax", "argmin"}
#: ops whose value explodes for moderately large real arguments: bounded argument
GROWING = {"exp", "expm1", "sinh", "cosh", "pow"}
#: ops never generated (not float-valued, not differentiable, or need special args)
SKIP = {"neg", "argmax", "argmin"}

_SPELLING = {v: k for k, v in {**CHAIN_OPS, **BINARY_OPS}.items()}  # op name -> operator
_LITERALS = ["0.5", "1.5", "2", "0.25", "3", "0.75", "1.25"]


def _guard(domain: str, e: str, bounded: bool) -> Optional[str]:
    """An argument expression made safe for an op's input domain (None: unsupported)."""
    if domain == "real":
        return f"(2 * tanh({e}))" if bounded else e
    if domain in ("pos", "away0"):
        return f"({e} * {e} + 1)" if not bounded else f"(tanh({e}) ^ 2 + 1)"
    if domain == "unit":
        return f"(0.9 * tanh({e}))"
    return None


def _ops():
    """The registry's ops, sorted into the tables the generator draws from."""
    unary, binary, reductions = [], [], []
    for op in R.builtins():
        if op.name in SKIP or op.dtype != "float" or not op.differentiable:
            continue
        tensors = op.tensor_args
        needs_attr = [a for a in op.args if not a.is_tensor and a.default is R.REQUIRED]
        if op.family == "elementwise" and not needs_attr:
            if len(tensors) == 1 and _guard(op.domain[0], "x", False) is not None:
                unary.append(op)
            elif op.name == "clip":
                unary.append(op)
        elif op.family == "binary" and len(tensors) == 2 and not needs_attr \
                and all(_guard(d, "x", False) is not None for d in op.domain):
            binary.append(op)
        elif op.family == "reductions" and len(tensors) == 1 and not needs_attr \
                and _guard(op.domain[0], "x", False) is not None \
                and {"axis", "keepdims"} <= {a.name for a in op.args}:
            reductions.append(op)
    return unary, binary, reductions


@dataclass(frozen=True)
class Options:
    smooth: bool = False
    functions: bool = True
    loops: bool = True
    branches: bool = True
    leaves: bool = True
    consts: bool = True
    derivatives: bool = False
    prints: bool = False
    asserts: bool = False
    max_depth: int = 3
    max_statements: int = 6
    input_range: float = 2.0


# ------------------------------------------------------------- the generator
class ProgramGen:
    """Draws one program; `draw` is Hypothesis's (from @st.composite or data())."""

    def __init__(self, draw, opts: Options = Options()):
        self.draw, self.o = draw, opts
        unary, binary, reductions = _ops()
        keep = (lambda op: op.name not in NONSMOOTH) if opts.smooth else (lambda op: True)
        self.unary = [op for op in unary if keep(op)]
        self.binary = [op for op in binary if keep(op)]
        self.reductions = [op for op in reductions if keep(op)]
        self.names = [op.name for op in R.builtins()]
        self.env: dict[str, tuple] = dict(INPUTS)       # name -> shape, top level
        self.consts: list[str] = []                    # const scalar names (for if)
        self.funcs: list[str] = []                     # def f(p, q), polymorphic
        self.lines: list[str] = []
        self.counter = 0
        self.local: Optional[dict] = None              # inside a def: name -> "P"/"Q"/()

    # ---------------------------------------------------------------- utils
    def pick(self, seq):
        return self.draw(st.sampled_from(list(seq)))

    def coin(self, p: float = 0.5) -> bool:
        return self.draw(st.floats(0, 1)) < p

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def literal(self) -> str:
        return self.pick(_LITERALS)

    def vars_of(self, shape) -> list[str]:
        env = self.local if self.local is not None else self.env
        return [n for n, s in env.items() if s == shape]

    # ----------------------------------------------------------- expressions
    def expr(self, shape, depth: int) -> str:
        """An expression whose value has exactly `shape` ("P": a function's first
        parameter's shape, unknown but fixed)."""
        if depth <= 0 or self.coin(0.25):
            return self.leaf(shape)
        choices = ["unary", "binary", "binary"]
        if shape != "P":
            choices += ["reduce", "linalg", "index"]
            if shape == (2, 3):
                choices.append("stack")
            if shape != ():
                choices.append("softmax")
            if self.o.derivatives and self.local is None and self.vars_of(shape):
                choices.append("grad")
        if self.funcs:
            choices.append("call")
        if not self.o.smooth and "where" in self.names:
            choices.append("where")
        kind = self.pick(choices)
        out = getattr(self, "_" + kind)(shape, depth - 1)
        return out if out is not None else self.leaf(shape)

    def leaf(self, shape) -> str:
        names = self.vars_of(shape)
        if shape == () and (not names or self.coin(0.3)):
            return self.literal()
        if shape in ((3,), (2,)) and (not names or self.coin(0.15)):
            return "[" + ", ".join(self.pick(["0.5", "-1", "2", "0.25", "-0.75"])
                                   for _ in range(shape[0])) + "]"
        if not names:  # (2, 3) with no (2, 3) name in scope
            return f"outer({self.leaf((2,))}, {self.leaf((3,))})"
        return self.pick(names)

    def partner(self, shape, depth: int) -> str:
        """An operand that broadcasts with `shape` to `shape`."""
        if shape == "P":
            opts = [(), "P"] + (["Q"] if self.vars_of("Q") else [])
            s = self.pick(opts)
            return self.pick(self.vars_of("Q")) if s == "Q" else self.expr(s, depth)
        opts = [(), shape]
        if shape == (2, 3):
            opts += [(3,), "keep0", "keep1"]
        s = self.pick(opts)
        if s in ("keep0", "keep1"):
            red = self.pick([r for r in self.reductions] or [R.get("sum")])
            axis = 0 if s == "keep0" else 1
            return f"{red.name}({self.arg(red, 0, self.expr((2, 3), depth))}, axis={axis}, keepdims=true)"
        return self.expr(s, depth)

    def arg(self, op, k: int, e: str) -> str:
        g = _guard(op.domain[k] if k < len(op.domain) else "real", e,
                   op.name in GROWING and (op.name != "pow" or k == 1))
        return g if g is not None else e

    def _unary(self, shape, depth):
        if not self.unary:
            return None
        op = self.pick(self.unary)
        e = self.expr(shape, depth)
        if op.name == "clip":
            return f"clip({e}, -0.5, 0.5)"
        extra = ", slope=0.1" if op.name == "leaky_relu" and self.coin() else ""
        return f"{op.name}({self.arg(op, 0, e)}{extra})"

    def _binary(self, shape, depth):
        if not self.binary:
            return None
        op = self.pick(self.binary)
        x, y = self.expr(shape, depth), self.partner(shape, depth)
        if self.coin() and op.name not in ("pow",):
            x, y = y, x  # the partner may come first, except a pow's base (its shape leads)
        x, y = self.arg(op, 0, x), self.arg(op, 1, y)
        sym = _SPELLING.get(op.name)
        if sym is not None and sym not in ("and", "or"):
            return f"({x} {sym} {y})"
        return f"{op.name}({x}, {y})"

    def _reduce(self, shape, depth):
        if not self.reductions:
            return None
        op = self.pick(self.reductions)
        if shape == ():
            src, axis = self.pick([(3,), (2,), (2, 3)]), None
        elif shape == (3,):
            src, axis = (2, 3), self.pick(["0", "-2"])
        elif shape == (2,):
            src, axis = (2, 3), self.pick(["1", "-1"])
        else:
            return None
        e = self.arg(op, 0, self.expr(src, depth))
        return f"{op.name}({e}" + (f", axis={axis})" if axis is not None else ")")

    def _linalg(self, shape, depth):
        if shape == ():
            n = self.pick([(3,), (2,)])
            return f"({self.expr(n, depth)} @ {self.expr(n, depth)})"
        if shape == (2,):
            return f"({self.expr((2, 3), depth)} @ {self.expr((3,), depth)})"
        if shape == (3,):
            if self.coin():
                return f"({self.expr((2,), depth)} @ {self.expr((2, 3), depth)})"
            return f"(({self.expr((2, 3), depth)}).T @ {self.expr((2,), depth)})"
        if shape == (2, 3):
            return f"outer({self.expr((2,), depth)}, {self.expr((3,), depth)})"
        return None

    def _index(self, shape, depth):
        if shape == ():
            src = self.pick([(3,), (2,)])
            return f"({self.expr(src, depth)})[{self.pick(['0', '1', '-1'])}]"
        if shape == (2,):
            if self.coin():
                return f"({self.expr((3,), depth)})[{self.pick(['1:', ':2', '::2', '-2:'])}]"
            return f"({self.expr((2, 3), depth)})[:, {self.pick(['0', '2', '-1'])}]"
        if shape == (3,):
            if self.coin():
                return f"({self.expr((3,), depth)})[::-1]"
            return f"({self.expr((2, 3), depth)})[{self.pick(['0', '1', '-1'])}]"
        if shape == (2, 3):
            return f"({self.expr((2, 3), depth)})[::-1, :]"
        return None

    def _stack(self, shape, depth):
        return f"stack([{self.expr((3,), depth)}, {self.expr((3,), depth)}])"

    def _softmax(self, shape, depth):
        fn = self.pick([n for n in ("softmax", "log_softmax") if n in self.names] or ["tanh"])
        return f"{fn}({self.expr(shape, depth)})"

    def _where(self, shape, depth):
        cond = f"{self.expr(shape, depth)} > {self.partner(shape, depth)}"
        return f"where({cond}, {self.expr(shape, depth)}, {self.partner(shape, depth)})"

    def _call(self, shape, depth):
        f = self.pick(self.funcs)
        if shape == "P":
            return f"{f}({self.expr('P', depth)}, {self.partner('P', depth)})"
        return f"{f}({self.expr(shape, depth)}, {self.partner(shape, depth)})"

    def _grad(self, shape, depth):
        x = self.pick(self.vars_of(shape))
        return f"grad(sum({self.expr(shape, depth)} * {x}), {x})"

    # ------------------------------------------------------------ statements
    def emit(self, line: str, indent: int = 0) -> None:
        self.lines.append("    " * indent + line)

    def const_cond(self) -> str:
        if self.consts and self.coin(0.7):
            k = self.pick(self.consts)
            return self.pick([f"{k} > 1", f"{k} < 1", f"{k} * 2 >= 3", f"not ({k} > 2)"])
        return self.pick(["true", "false", "2 > 1", "1 > 2", "shape_ok"]).replace(
            "shape_ok", "3 == 3")

    def def_function(self) -> None:
        name = self.fresh("f")
        self.local = {"p": "P", "q": "Q"}
        self.emit(f"def {name}(p, q):")
        for _ in range(self.draw(st.integers(0, 2))):
            t = self.fresh("t")
            if self.o.loops and self.coin(0.3):
                # a local loop: t = p, then t = t * c + ... (t keeps p's shape)
                self.emit(f"{t} = p", 1)
                self.local[t] = "P"
                self.emit(f"for j in range({self.draw(st.integers(1, 3))}):", 1)
                self.emit(f"{t} = {t} * 0.5 + {self.expr('P', 1)}", 2)
            else:
                self.emit(f"{t} = {self.expr('P', 2)}", 1)
                self.local[t] = "P"
        self.emit(f"return {self.expr('P', 2)}", 1)
        self.local = None
        self.funcs.append(name)

    def statement(self, indent: int = 0) -> None:
        kinds = ["assign", "assign", "assign"]
        bound = [n for n in self.env if n not in INPUTS and n not in self.consts]
        if bound:
            kinds.append("augassign")
        if indent == 0:
            if self.o.loops:
                kinds.append("for")
            if self.o.branches:
                kinds.append("if")
            if self.o.leaves:
                kinds.append("leaf")
            if self.o.consts:
                kinds.append("const")
            if self.o.prints:
                kinds.append("print")
            if self.o.asserts:
                kinds.append("assert")
        kind = self.pick(kinds)
        depth = self.draw(st.integers(1, self.o.max_depth))
        if kind == "assign":
            shape = self.pick(SHAPES)
            name = self.fresh("h")
            self.emit(f"{name} = {self.expr(shape, depth)}", indent)
            self.env[name] = shape
        elif kind == "augassign":
            name = self.pick(bound)
            shape = self.env[name]
            op = self.pick(["+=", "-=", "*="])
            self.emit(f"{name} {op} {self.partner(shape, depth)}", indent)
        elif kind == "for":
            args = self.pick([(1,), (2,), (3,), (1, 3), (0, 4, 2), (3, 0, -1)])
            idx = self.fresh("i")
            shape = self.pick(SHAPES)
            name = self.fresh("s")
            self.emit(f"{name} = {self.expr(shape, depth)}")
            self.env[name] = shape
            self.emit(f"for {idx} in range({', '.join(map(str, args))}):")
            self.env[idx] = ()
            self.emit(f"{name} = {name} * 0.5 + {self.partner(shape, depth)} * {idx}", 1)
            for _ in range(self.draw(st.integers(0, 1))):
                self.statement(1)
        elif kind == "if":
            cond = self.const_cond()
            shape = self.pick(SHAPES)
            name = self.fresh("c")
            self.emit(f"if {cond}:")
            self.emit(f"{name} = {self.expr(shape, depth)}", 1)
            if self.coin(0.3):
                self.emit(f"elif {self.const_cond()}:")
                self.emit(f"{name} = {self.expr(shape, depth)}", 1)
            self.emit("else:")
            self.emit(f"{name} = {self.expr(shape, depth)}", 1)
            self.env[name] = shape
        elif kind == "leaf":
            shape = self.pick(SHAPES)
            name = self.fresh("w")
            if shape == ():
                value = self.literal()
            elif self.coin():
                dims = ", ".join(map(str, shape))
                value = f"randn([{dims}], seed={self.draw(st.integers(0, 99))}) * 0.5"
            else:
                value = self.leaf(shape) if shape != (2, 3) else "ones([2, 3]) * 0.5"
                if value in self.env:  # a name would not make a leaf
                    value = f"zeros([{', '.join(map(str, shape))}]) + 0.5"
            self.emit(("param " if self.coin(0.4) else "") + f"{name} = {value}", indent)
            self.env[name] = shape
        elif kind == "const":
            name = self.fresh("k")
            self.emit(f"const {name} = {self.literal()} * {self.literal()} - {self.literal()}", indent)
            self.env[name] = ()
            self.consts.append(name)
        elif kind == "print":
            shape = self.pick(SHAPES)
            self.emit(f'print("value", {self.expr(shape, 1)})', indent)
        elif kind == "assert":
            shape = self.pick(SHAPES)
            self.emit(f'assert min({self.expr(shape, 1)} * 0 + 1) > 0, "always true"', indent)

    def program(self):
        for name, shape in INPUTS.items():
            self.emit(f"input {name}" + (f": [{', '.join(map(str, shape))}]" if shape else ""))
        if self.o.functions:
            for _ in range(self.draw(st.integers(0, 2))):
                self.def_function()
        for _ in range(self.draw(st.integers(1, self.o.max_statements))):
            self.statement()
        names = [n for n in self.env if n not in self.consts and not n.startswith("i")]
        used = self.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
        terms = [f"{self.pick(['sum', 'mean'])}({n})" for n in used]
        terms.append(self.expr((), 2))
        self.emit("out = " + " + ".join(terms))
        self.emit("output out")
        return "\n".join(self.lines) + "\n"

    def inputs(self) -> dict:
        r = self.o.input_range
        out = {}
        for name, shape in INPUTS.items():
            n = int(np.prod(shape)) if shape else 1
            vals = self.draw(st.lists(st.floats(-r, r, allow_nan=False, allow_infinity=False),
                                      min_size=n, max_size=n))
            out[name] = np.asarray(vals, dtype=np.float64).reshape(shape)
        return out


@st.composite
def program_and_shapes(draw, **options):
    """(source, inputs, {input name: shape})."""
    gen = ProgramGen(draw, replace(Options(), **options))
    src = gen.program()
    return src, gen.inputs(), dict(INPUTS)


@st.composite
def programs(draw, **options):
    """(source, inputs): a random valid program and values for its inputs."""
    src, inputs, _ = draw(program_and_shapes(**options))
    return src, inputs


@st.composite
def expressions(draw, shape=(), depth: int = 3, **options):
    """(expression source, inputs) for an expression of `shape` over INPUTS."""
    gen = ProgramGen(draw, replace(Options(), **options))
    return gen.expr(shape, depth), gen.inputs()
