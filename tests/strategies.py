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
- `for` loops with literal bounds (the loop index used in expressions): short
  ones (the builder unrolls them) and long ones (17-60 iterations: a static
  graph holds each as one `loop` node) — nested, inside `def` functions,
  several carried values, captured outer values, bodies that call `grad`;
- data-dependent `while` loops that always end (a static graph: a `while` node);
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
    long_loops=False leave out long for loops (and the loops of functions)
    whiles=False     leave out while loops (export cannot write them yet)
    min_loops=k      at least k top-level long loops, whiles or calls of a
                     function holding one
    derivatives=True use grad(y, x) inside the program
    prints=True      add print(...) statements; asserts=True adds always-true
                     data-dependent asserts
    max_depth, max_statements    size limits
    input_range      inputs are drawn uniformly-ish from [-r, r]

Long loops and whiles stay numerically tame whatever their body draws: every
step is a contraction of the carried values (`s = s*0.8 + 0.1*sin(t) +
0.1*tanh(e)`, `s = sin(s)*0.9 + ...`, a gradient step on a convex function),
`e` not reading the carries, so rounding differences between the modes and
the gradients stay small through many steps; a while shrinks its counter by a
factor in [0.4, 0.8] a step (at most 18 steps).

`programs()` yields `(source, inputs)`; `program_and_shapes()` also yields
the declared input shapes; `loop_programs()` yields `(source, inputs, info)`,
info["expect"] the number of `loop` and `while` nodes the static graph must
hold at least, info["carries"] the names of the loops' results. The generator class `ProgramGen` may be driven
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
    long_loops: bool = True
    whiles: bool = True
    min_loops: int = 0
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
        self.hidden: frozenset = frozenset()           # names expressions may not read
        self.expect = {"loop": 0, "while": 0}          # nodes a static graph must hold
        self.must_use: list[str] = []                  # names `out` must read (loop results)
        self.loop_funcs: list[str] = []                # functions holding a long loop
        self.indices: set = set()                      # for loop variables
        # in a long loop's body, grad only by a carry: grad(y, v) of a captured v
        # that a carry or another capture depends on is unrolled (static while: refused)
        self.in_body = False

    # ---------------------------------------------------------------- utils
    def pick(self, seq):
        return self.draw(st.sampled_from(list(seq)))

    def coin(self, p: float = 0.5) -> bool:
        return self.draw(st.floats(0, 1)) < p

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        if prefix in ("i", "j"):
            self.indices.add(f"{prefix}{self.counter}")
        return f"{prefix}{self.counter}"

    def literal(self) -> str:
        return self.pick(_LITERALS)

    def vars_of(self, shape) -> list[str]:
        env = self.local if self.local is not None else self.env
        return [n for n, s in env.items() if s == shape and n not in self.hidden]

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
            if self.o.derivatives and self.local is None and not self.in_body \
                    and self.vars_of(shape):
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
        # not by a loop index (a constant: zeros, and a for loop that does it is unrolled)
        names = [n for n in self.vars_of(shape) if n not in self.indices]
        if not names:
            return None
        x = self.pick(names)
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
        self.loop_t = None
        if self.o.loops and self.o.long_loops and self.coin(0.4):
            t, j = self.fresh("t"), self.fresh("j")
            self.emit(f"{t} = p * 0.9", 1)  # a node of its own (t = p: unrolled, see aliased)
            self.local[t] = "P"
            self.emit(f"for {j} in range({self.draw(st.integers(17, 40))}):", 1)
            self.local[j] = ()
            self.carry_update(t, "P", {t: "P"}, 2)
            self.loop_funcs.append(name)
            self.loop_t = t
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
        kept = f"{self.loop_t} * 0.5 + " if self.loop_t else ""  # the loop's result is used
        self.emit(f"return {kept}{self.expr('P', 2)}", 1)
        self.local = None
        self.funcs.append(name)

    # ------------------------------------------------------------ long loops
    def tame(self, shape, depth: int, hide) -> str:
        """tanh(e), e of `shape` not reading the names in `hide` (a loop's carries)."""
        saved, self.hidden = self.hidden, self.hidden | frozenset(hide)
        funcs = self.funcs  # (no loop inside a loop's body: eager mode would run n × m steps)
        self.funcs = [f for f in funcs if f not in self.loop_funcs]
        self.in_body, was = True, self.in_body
        try:
            return f"tanh({self.expr(shape, depth)})"
        finally:
            self.hidden, self.funcs, self.in_body = saved, funcs, was

    def input_of(self, shape) -> str:
        """An input that broadcasts to `shape` (a value that is not a constant)."""
        if shape == "P":
            return "p"
        return self.pick([n for n, s in INPUTS.items() if _fits(s, shape)])

    def carry_update(self, name: str, shape, carries: dict, indent: int) -> None:
        """One step of a carried value that moves it at most 0.9x as far as the carries
        moved (a contraction: rounding and gradients stay tame over many steps)."""
        hide = list(carries)
        e = self.tame(shape, self.draw(st.integers(1, 2)), hide)
        forms = ["mix", "mix", "sin"] + (["grad"] if self.o.derivatives else [])
        form = self.pick(forms)
        if form == "sin":
            self.emit(f"{name} = sin({name}) * 0.9 + 0.1 * {e}", indent)
        elif form == "grad":  # a gradient step on a convex function of the carry
            self.emit(f"{name} = {name} - 0.1 * grad(sum({name} * {name}) * 0.5 + "
                      f"sum(sin({name}) * {e}) * 0.3, {name})", indent)
        else:
            other = self.pick(list(carries))
            f = self.pick(["sin", "tanh", "cos"])
            term = f"{f}({other})"
            if not _fits(carries[other], shape):
                term = f"mean({term})"
            if self.coin(0.3):  # a captured value in the carried gradient's path
                term = f"{term} * {self.tame(shape, 1, hide)}"
            rho = self.pick(["0.5", "0.7", "0.8"])
            self.emit(f"{name} = {name} * {rho} + 0.1 * {term} + 0.1 * {e}", indent)

    def loop_body(self, carries: dict, indent: int, inner=None) -> None:
        if self.coin(0.3):  # a value first bound inside the loop, read by the steps
            t, shape = self.fresh("t"), self.pick(SHAPES)
            # (on an input: a value of literals alone would be a leaf, unrolled)
            self.emit(f"{t} = {self.tame(shape, 2, carries)} + 0.1 * {self.input_of(shape)}",
                      indent)
            self.env[t] = shape
        for name in self.draw(st.permutations(list(carries))):
            self.carry_update(name, carries[name], carries, indent)
        if inner:
            idx = self.fresh("i")
            self.emit(f"for {idx} in range({inner}):", indent)
            self.env[idx] = ()
            names = self.draw(st.lists(st.sampled_from(list(carries)), min_size=1, unique=True))
            for name in names:
                self.carry_update(name, carries[name], carries, indent + 1)

    def carried(self, k: int) -> dict:
        """k new names bound to values that depend on an input: {name: shape}."""
        carries = {}
        for _ in range(k):
            shape, name = self.pick(SHAPES), self.fresh("s")
            self.emit(f"{name} = {self.expr(shape, 2)} * 0.5 + 0.1 * {self.input_of(shape)}")
            self.env[name] = shape
            carries[name] = shape
        return carries

    def long_for(self) -> None:
        """A for loop a static graph holds as a loop node: flat, or nested (one of
        the two may be short, unrolled)."""
        kind = self.pick(["flat", "flat", "nested", "short outer", "short inner"])
        n, inner = {"flat": (self.draw(st.integers(17, 60)), None),
                    "nested": (self.draw(st.integers(17, 20)), self.draw(st.integers(17, 20))),
                    "short outer": (self.draw(st.integers(2, 3)), self.draw(st.integers(17, 40))),
                    "short inner": (self.draw(st.integers(17, 30)), self.draw(st.integers(2, 3)))
                    }[kind]
        carries = self.carried(self.draw(st.integers(1, 3)))
        idx = self.fresh("i")
        bounds = self.pick([f"{n}", f"2, {n + 2}", f"{n}, 0, -1"])  # n iterations each
        self.emit(f"for {idx} in range({bounds}):")
        self.env[idx] = ()
        self.loop_body(carries, 1, inner)
        self.must_use += list(carries)
        self.expect["loop"] += 1

    def while_loop(self) -> None:
        """A while whose trip count depends on the data and that always ends: its
        counter starts in [1.25, 2.75] and shrinks by a factor in [0.4, 0.8] a step."""
        carries = self.carried(self.draw(st.integers(0, 2)))
        r = self.fresh("r")
        self.emit(f"{r} = 2 + tanh({self.expr((), 2)}) * 0.5 + 0.25 * tanh({self.input_of(())})")
        self.env[r] = ()
        carries[r] = ()
        others = [c for c in carries if c != r]
        x = self.pick(others) if others else r
        view = x if carries[x] == () else f"mean({x})"
        self.emit(f"while {r} > {self.pick(['0.05', '0.1', '0.3'])}:")
        self.emit(f"{r} = {r} * (0.6 + 0.1 * {self.tame((), 1, carries)} + 0.1 * sin({view}))", 1)
        for name in self.draw(st.permutations(others)):
            self.carry_update(name, carries[name], carries, 1)
        self.must_use += list(carries)
        self.expect["while"] += 1

    def call_loop_func(self) -> None:
        """A top-level call of a function holding a long loop: one loop node per call."""
        f, shape, name = self.pick(self.loop_funcs), self.pick(SHAPES), self.fresh("h")
        self.emit(f"{name} = {f}({self.expr(shape, 1)} + 0.1 * {self.input_of(shape)}, "
                  f"{self.partner(shape, 1)})")
        self.env[name] = shape
        self.must_use.append(name)
        self.expect["loop"] += 1

    def loop_statement(self) -> None:
        kinds = (["for", "for"] if self.o.long_loops else []) + (["while"] if self.o.whiles else [])
        if self.loop_funcs:
            kinds.append("call")
        kind = self.pick(kinds)
        {"for": self.long_for, "while": self.while_loop, "call": self.call_loop_func}[kind]()

    def statement(self, indent: int = 0) -> None:
        kinds = ["assign", "assign", "assign"]
        bound = [n for n in self.env if n not in INPUTS and n not in self.consts]
        if bound:
            kinds.append("augassign")
        if indent == 0:
            if self.o.loops:
                kinds.append("for")
            if self.o.loops and (self.o.long_loops or self.o.whiles):
                kinds.append("long loop")
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
        if kind == "long loop":
            return self.loop_statement()
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
        for _ in range(self.o.min_loops if self.o.loops else 0):
            self.loop_statement()
            if self.coin(0.3):
                self.statement()
        names = [n for n in self.env if n not in self.consts and not n.startswith("i")]
        used = self.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
        used += [n for n in dict.fromkeys(self.must_use) if n not in used]
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


def _fits(src, dst) -> bool:
    """Whether a value of shape src broadcasts to shape dst."""
    return src == dst or src == () or (src == (3,) and dst == (2, 3))


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
def loop_programs(draw, min_loops: int = 1, **options):
    """(source, inputs, info): a program with at least `min_loops` long loops or
    whiles; info["expect"]: {"loop": k, "while": m}, the static graph holds at
    least k loop and m while nodes; info["carries"]: the names of their results."""
    gen = ProgramGen(draw, replace(Options(), min_loops=min_loops, **options))
    src = gen.program()
    info = {"expect": dict(gen.expect), "carries": list(dict.fromkeys(gen.must_use)),
            "shapes": {n: gen.env[n] for n in dict.fromkeys(gen.must_use)}}
    return src, gen.inputs(), info


@st.composite
def expressions(draw, shape=(), depth: int = 3, **options):
    """(expression source, inputs) for an expression of `shape` over INPUTS."""
    gen = ProgramGen(draw, replace(Options(), **options))
    return gen.expr(shape, depth), gen.inputs()
