"""AST → graph: names resolved, functions inlined, loops made loop nodes (or
unrolled: cgraph.build_loops), shapes inferred.

One builder serves both modes. It interprets the program's statements and
adds a node for every operation through `Graph.add`; a static graph only
folds constants while it builds, an eager graph runs every node as it is
added, so in eager mode `if` and `while` can test real data. Errors found
while building a static graph are collected, not raised one by one.
"""
from __future__ import annotations

import math
import os
from typing import Optional

import numpy as np

from . import ast as A
from . import registry as R
from . import shape_math as S
from .ast_walk import bound_names, children, derivative_targets
from .build_deps import freeze, leaves_only, unknown_dim
from .build_loops import INDEX, leaf_free, note_derivative, static_for, static_while
from .autodiff import backward, forward, jacobian_rows
from .eager_exprs import assign as eager_assign, iterations
from .errors import CgraphError, Diagnostic, OverLimit, nearest
from .records import Record
from .ir import Graph
from .source import Span

CONSTANTS = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan}
CHAIN_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul", "%": "mod",
             "and": "logical_and", "or": "logical_or"}
BINARY_OPS = {"^": "pow", "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}
SPECIAL_CALLS = ("grad", "jacobian", "hessian", "jvp", "hvp")
TABLES = (CHAIN_OPS, BINARY_OPS, SPECIAL_CALLS)
MAX_CALL_DEPTH = 1000  # calls run as tasks (Builder.run), not on Python's stack
MAX_INT = 2 ** 53
MAX_NDIM = 64  # NumPy's limit


class ListVal(Record):
    """A `[...]` literal before it is known to be a tensor, a shape or a list of tensors."""
    __slots__ = ("items", "span")


class StrVal(Record):
    __slots__ = ("value", "span")


class NoneVal(Record):
    """`none`: "not given" for an attribute such as axis=none."""
    __slots__ = ("span",)


class _Return(Exception):
    def __init__(self, value):
        self.value = value


class _Abort(Exception):
    """Stop building: an error that leaves nothing sensible to continue with."""


class Builder:
    Abort = _Abort  # what a task raises to stop building (cgraph.build_loops catches it)

    def __init__(self, program: A.Program, graph: Graph, input_shapes: Optional[dict] = None,
                 max_iterations: int = 100_000, base_dir: Optional[str] = None,
                 max_depth: int = MAX_CALL_DEPTH):
        self.prog = program
        self.max_depth = max_depth
        self.g = graph
        self.input_shapes = input_shapes or {}
        self.max_iterations = max_iterations
        self.iterations = 0  # loop iterations so far, every loop together
        self.loops: list = []  # [var, i] of each for loop being unrolled, outermost first
        self.body_depth = 0    # > 0 while a loop node's body is being built (no leaves there)
        self.base_dir = base_dir or (os.path.dirname(os.path.abspath(program.file))
                                     if program.file not in ("<expr>", "<stdin>") else os.getcwd())
        self.errors: list[Diagnostic] = []
        self.globals: dict[str, object] = {}
        self.scopes: list[dict] = [self.globals]
        self.funcs: dict[str, A.FuncDef] = {}
        self.call_stack: list[str] = []
        self.dims: dict[str, int] = {}
        self._diff_params: dict = {}  # function name -> params its body differentiates by
        self.dim_names: set = set()  # named dims bound to dim_of nodes (sizes not known yet)
        self.output_names: Optional[tuple] = None
        self.last: Optional[tuple] = None      # ("name", n) or ("expr", node id)
        self.bound_anywhere = bound_names(program.body)
        self.fast_exprs: dict = {}  # id(assignment) -> its closure (cgraph.eager_exprs)

    # ================================================================ driver
    def build(self) -> Graph:
        try:
            self.run(self.exec_block(self.prog.body))
        except _Abort:
            pass
        if self.errors:
            raise CgraphError(self.errors).with_source(self.prog.file, self.prog.source)
        self._set_outputs()
        if self.errors:
            raise CgraphError(self.errors).with_source(self.prog.file, self.prog.source)
        return self.g

    def _set_outputs(self) -> None:
        g = self.g
        if self.output_names is not None:
            names, spans = self.output_names
            for n, sp in zip(names, spans):
                v = self.globals.get(n)
                if not isinstance(v, int):
                    self.error("name", f"output '{n}' is not a value of the program", sp,
                               self._did_you_mean(n))
                else:
                    g.outputs[n] = v
        elif self.last is not None:
            kind, what = self.last
            if kind == "name":
                g.outputs[what] = self.globals[what]
            else:
                name = "Y" if "Y" not in g.names else "_"
                g.outputs[name] = what
                if g.nodes[what].name is None:
                    g.nodes[what].name = name

    # ============================================================ diagnostics
    def error(self, kind: str, message: str, span: Optional[Span], hint: Optional[str] = None):
        where = self.where()
        if where:  # the user's own traceback: which call and which iteration
            hint = f"{hint} ({where})" if hint else where
        d = Diagnostic(kind, message, span, hint)
        if self.g.eager:  # an eager run cannot go on past an error
            raise CgraphError([d]).with_source(self.prog.file, self.prog.source)
        self.errors.append(d)
        if len(self.errors) >= 50:
            self.errors.append(Diagnostic(kind, "stopped after 50 errors; there may be more", None,
                                          "fix these first"))
            raise _Abort()

    def where(self) -> str:
        """'in f() called at line 4, column 5; at i = 2': the calls and loop
        iterations the builder is inside, innermost first."""
        parts = [f"at {var} = {i}" for var, i in reversed(self.loops)]
        calls = [f"in {name}() called at line {sp.line}, column {sp.column}"
                 for name, sp in reversed(self.g.scope) if sp is not None]
        if len(calls) > 6:  # a deep chain: the innermost calls, the outermost, and a count
            calls = calls[:3] + [f"… {len(calls) - 4} calls more …"] + calls[-1:]
        return "; ".join(parts + calls)

    def poison(self, span) -> int:
        """A stand-in for a value that failed to build, so building can go on."""
        return self.g.add("error", (), {}, span)

    def lookup_value(self, name: str) -> bool:
        """name is bound to a value here (a local, a global or a constant)."""
        return name in self.scopes[-1] or name in self.globals or name in CONSTANTS

    def _did_you_mean(self, name: str) -> Optional[str]:
        cands = set(self.globals) | set(self.scopes[-1]) | set(CONSTANTS) | set(self.funcs) \
            | {op.name for op in R.builtins()}
        near = nearest(name, cands)
        return f"did you mean '{near}'?" if near else None

    @staticmethod
    def run(task):
        """Run a statement or expression task to its end and return its value.

        Tasks are generators: where one needs another's result (a block its
        statements', a call its body's) it yields that task and is resumed
        with the result, or with the exception it raised. This loop keeps
        the waiting tasks on a list, not on Python's stack, so a block nested
        10,000 deep or a long chain of calls builds without raising the
        interpreter's recursion limit."""
        stack = [task]
        value = error = None
        while True:
            top = stack[-1]
            try:
                if error is not None:
                    exc, error = error, None
                    sub = top.throw(exc)
                else:
                    sub = top.send(value)
            except StopIteration as done:
                stack.pop()
                if not stack:
                    return done.value
                value = done.value
                continue
            except BaseException as exc:    # _Return, _Abort and errors travel up the tasks
                stack.pop()
                if not stack:
                    raise
                error = exc
                continue
            stack.append(sub)
            value = None

    # ============================================================ statements
    def exec_block(self, body):
        fast = self.g.eager  # an eager loop body's assignments: cgraph.eager_exprs
        for st in body:
            try:
                if not (fast and type(st) is A.Assign and eager_assign(self, st, TABLES)):
                    yield self.exec_stmt(st)
            except CgraphError as exc:
                if self.g.eager:
                    raise exc.with_source(self.prog.file, self.prog.source)
                self.errors.extend(exc.errors)
                if isinstance(exc, OverLimit):
                    raise _Abort() from None

    @property
    def top(self) -> bool:
        return len(self.scopes) == 1

    def exec_stmt(self, st):
        g = self.g
        g.span = st.span
        t = type(st)
        if t is A.Assign:
            value = yield self.expr_task(st.value)
            if st.op is not None:
                old = self.lookup(st.target, st.target_span)
                value = self.binop(CHAIN_OPS[st.op], old, value, st.span)
            self.bind(st.target, self.tensor(value, st.value.span), st.span, leaf_ok=st.op is None)
        elif t is A.ExprStmt:
            v = yield self.expr_task(st.value)
            if self.top:
                self.last = ("expr", self.tensor(v, st.span)) if not isinstance(v, StrVal) else self.last
        elif t is A.Input:
            self.exec_input(st)
        elif t is A.Param:
            yield self.exec_param(st)
        elif t is A.Const:
            v = self.tensor((yield self.expr_task(st.value)), st.value.span)
            if g.varies[v]:
                self.error("value", f"const '{st.name}' depends on a leaf or an input", st.value.span,
                           "a const must be computable when the graph is built; use a plain "
                           "assignment for a value that changes")
                v = self.poison(st.span)
            self.scopes[-1][st.name] = v
            self.name_value(st.name, v)
        elif t is A.Print:
            yield self.exec_print(st)
        elif t is A.Assert:
            yield self.exec_assert(st)
        elif t is A.FuncDef:
            self.funcs[st.name] = st
        elif t is A.Return:
            if self.top:
                self.error("syntax", "'return' outside a function", st.span,
                           "return only makes sense inside a def")
                return
            raise _Return((yield self.expr_task(st.value)))
        elif t is A.For:
            yield self.exec_for(st)
        elif t is A.If:
            yield self.exec_if(st)
        elif t is A.While:
            yield self.exec_while(st)
        elif t is A.Output:
            if not self.top:
                self.error("syntax", "'output' inside a function", st.span)
                return
            self.output_names = (st.names, st.name_spans)
        else:  # pragma: no cover
            raise TypeError(f"unknown statement {t.__name__}")

    def bind(self, name: str, v: int, span: Span, leaf_ok: bool = True) -> None:
        g = self.g
        top = len(self.scopes) == 1
        if name in self.dims and top:
            self.error("name", f"'{name}' is a named dim of an input and cannot be reassigned", span)
            return
        if top and leaf_ok and self.body_depth and leaf_free(g, v):  # a leaf, unrolled: no loop node
            raise _Abort()
        if top and leaf_ok and not self.body_depth and not g.varies[v] \
                and g.nodes[v].dtype != "bool" \
                and g.nodes[v].op.name != "error":
            # a top-level name bound to something that depends on no leaf is itself a leaf
            default = g.known(v)  # not g.values: a backward pass leaves constants unfolded
            if default is not None:
                shape = self.input_shapes.get(name, tuple(np.shape(default)))  # a value may override it
                v = g.leaf(name, "leaf", default=default, shape=shape, span=span)
        self.scopes[-1][name] = v
        if top:
            self.name_value(name, v)
            self.last = ("name", name)

    def name_value(self, name: str, v: int) -> None:
        if self.top:
            self.g.names.pop(name, None)
            self.g.names[name] = v
        if self.g.nodes[v].name is None:
            self.g.nodes[v].name = name

    def exec_input(self, st: A.Input) -> None:
        g = self.g
        if not self.top:
            self.error("syntax", "'input' inside a function", st.span)
            return
        actual = self.input_shapes.get(st.name)
        if g.eager and st.name in g.feed:
            actual = tuple(np.shape(g.feed[st.name]))
        declared = None
        if st.shape is not None:
            declared = []
            for d in st.shape:
                if isinstance(d, A.Num):
                    declared.append(self.as_int(d.value, d.span, "a dim"))
                elif d.id in self.dims:
                    declared.append(self.dims[d.id])
                else:
                    declared.append(None)
            declared = tuple(declared)
            if actual is not None:
                self.check_shape(st.name, declared, actual, st.span, st.shape)
        shape = actual if actual is not None else declared
        try:
            v = g.leaf(st.name, "input", shape=shape, span=st.span)
            g.nodes[v].attrs["declared"] = True  # not a free name: never suggested as a typo
        except CgraphError as exc:  # too large: report it, and go on with a stand-in
            if g.eager:
                raise
            self.errors.extend(exc.errors)
            v = self.poison(st.span)
        if st.shape is not None:  # bind the named dims
            for k, d in enumerate(st.shape):
                if isinstance(d, A.Name):
                    g.dims.setdefault(d.id, (st.name, k))
                if isinstance(d, A.Name) and d.id not in self.dims:
                    size = shape[k] if shape is not None and k < len(shape) else None
                    if d.id in self.dim_names:  # shared with an earlier input, size still unknown
                        if size is not None:
                            self.dims[d.id] = size
                        continue
                    if d.id in self.globals:
                        self.error("name", f"named dim '{d.id}' clashes with a value of the same name",
                                   d.span)
                        continue
                    if size is not None:
                        self.dims[d.id] = size
                        self.globals[d.id] = g.const(float(size), d.span)
                    else:
                        self.globals[d.id] = g.add("dim_of", (v,), {"axis": k}, d.span)
                        self.dim_names.add(d.id)
        self.scopes[-1][st.name] = v
        self.name_value(st.name, v)
        self.last = ("name", st.name)

    def check_shape(self, name, declared, actual, span, dims_ast) -> None:
        names = [d.id if isinstance(d, A.Name) else None for d in dims_ast] if dims_ast is not None \
            else [None] * len(declared)
        text = "[" + ", ".join(n if n is not None else str(d) for n, d in zip(names, declared)) + "]"
        if len(declared) != len(actual):
            self.error("shape", f"'{name}' has shape {S.fmt(actual)} but is declared {text}",
                       span, f"the declared rank is {len(declared)}, the value's is {len(actual)}")
            return
        seen: dict = {}
        for k, (d, a) in enumerate(zip(declared, actual)):
            n = names[k]
            if d is None and n is not None:  # a named dim bound here: the same size everywhere
                d = seen.setdefault(n, a)
            if d is not None and d != a:
                self.error("shape", f"'{name}' has shape {S.fmt(actual)} but is declared {text}",
                           span, f"dim {k} is {a}, but the declaration says {n or d}"
                           + (f" (= {d})" if n is not None else ""))
                return

    def exec_param(self, st: A.Param):
        g = self.g
        v = self.tensor((yield self.expr_task(st.value)), st.value.span)
        if g.varies[v]:
            self.error("value", f"the default of param '{st.name}' depends on a leaf or an input",
                       st.value.span, "a param's default must be computable when the graph is built")
            return
        default = g.known(v)
        if st.shape is not None:
            declared = tuple(self.dims.get(d.id) if isinstance(d, A.Name)
                             else self.as_int(d.value, d.span, "a dim") for d in st.shape)
            self.check_shape(st.name, declared, tuple(np.shape(default)), st.value.span, st.shape)
            override = self.input_shapes.get(st.name)
            if override is not None:
                self.check_shape(st.name, declared, override, st.span, st.shape)
        shape = self.input_shapes.get(st.name, tuple(np.shape(default)))
        leaf = g.leaf(st.name, "leaf", default=default, shape=shape, span=st.span)
        self.scopes[-1][st.name] = leaf
        self.name_value(st.name, leaf)
        self.last = ("name", st.name)

    def exec_print(self, st: A.Print):
        parts, ins = [], []
        for a in st.args:
            v = yield self.expr_task(a)
            if isinstance(v, StrVal):
                parts.append(("str", v.value))
            else:
                parts.append(("val", len(ins)))
                ins.append(self.tensor(v, a.span))
        self.g.add("print", ins, {"parts": tuple(parts)}, st.span)

    def exec_assert(self, st: A.Assert):
        g = self.g
        c = self.tensor((yield self.expr_task(st.cond)), st.cond.span)
        known = g.known(c)
        if known is not None and not g.eager:
            if not np.all(known):
                self.error("runtime", "assertion failed" + (f": {st.message}" if st.message else ""),
                           st.span)
            return
        g.add("assert", (c,), {"message": st.message}, st.span)

    def exec_for(self, st: A.For):
        vals = []
        for a in st.args:
            vals.append(self.known_int((yield self.expr_task(a)), a.span, "a range bound"))
        if any(v is None for v in vals):
            return
        if len(vals) > 3:
            self.error("type", f"range takes 1 to 3 arguments, got {len(vals)}", st.span)
            return
        if len(vals) == 3 and vals[2] == 0:
            self.error("value", "range step must not be zero", st.args[2].span)
            return
        rng = range(*vals)
        if len(rng) > self.max_iterations:
            self.error("value", f"this loop would run {len(rng):,} times, more than the limit "
                       f"of {self.max_iterations:,}", st.span, "raise the limit if you mean it (--max-iterations; max_iterations= in Python)")
            return
        if not self.g.eager and (yield static_for(self, st, rng)):
            return  # a loop node (cgraph.loops), or unrolled from its body
        yield iterations(self, st, rng, TABLES)  # unrolled (static) or run (eager)

    def count_iteration(self, span) -> None:
        """The limit holds for the whole run: nested loops multiply their counts."""
        self.iterations += 1
        if self.iterations > self.max_iterations:
            self.error("runtime", f"the loops ran more than {self.max_iterations:,} iterations in all "
                       "(nested loops multiply)", span, "raise the limit if you mean it (--max-iterations; max_iterations= in Python)")
            raise _Abort()

    def exec_if(self, st: A.If):
        for cond, body in zip(st.conds, st.bodies):
            if (yield self.truth(cond, "if")):
                yield self.exec_block(body)
                return
        yield self.exec_block(st.orelse)

    def exec_while(self, st: A.While):
        if not self.g.eager:
            yield static_while(self, st)  # one while node, or the error that says why not
            return
        n = 0
        while (yield self.truth(st.cond, "while")):
            n += 1
            if n > self.max_iterations:
                self.error("runtime", f"the while loop did not end after {self.max_iterations:,} "
                           "iterations", st.span, "check its condition, or raise the limit (--max-iterations; max_iterations= in Python)")
                raise _Abort()
            self.count_iteration(st.span)
            yield self.exec_block(st.body)

    def truth(self, cond: A.Expr, what: str):
        g = self.g
        c = self.tensor((yield self.expr_task(cond)), cond.span)
        value = g.known(c)
        if value is None:
            if g.nodes[c].op.name == "error":
                raise _Abort()
            leaves = leaves_only(self.g, c)
            if leaves:  # `a = 2` at top level is a leaf: it may be given a value, or differentiated
                names = ", ".join(f"'{n}'" for n in leaves)
                self.error("value", f"this {what} condition depends on {names}, a top-level value "
                           "that may be given when the program runs, so a static graph does not "
                           "know it when it is built", cond.span,
                           f"write `const {leaves[0]} = ...` to fix it when the graph is built, "
                           "or run it with --mode eager")
            else:
                self.error("value", f"this {what} condition depends on data, which a static graph "
                           "does not know when it is built", cond.span,
                           "run it with --mode eager (a dynamic graph), or use where(cond, a, b)")
            raise _Abort()
        value = np.asarray(value)
        if value.size != 1:
            self.error("value", f"the {what} condition has shape {S.fmt(value.shape)}; it must be "
                       "a single value", cond.span, "use all(...) style reductions: min(x > 0) or "
                       "max(x > 0)")
            raise _Abort()
        return bool(value.reshape(()))

    # =========================================================== expressions
    def expr(self, root):
        """An expression's node id (or ListVal/StrVal), outside a statement."""
        return self.run(self.expr_task(root))

    def expr_task(self, root):
        """Evaluate an expression to a node id (or a ListVal/StrVal), iteratively:
        a 5,000-deep nest of parentheses must not exhaust Python's stack. A call
        of a user function is a task of its own (see `run`)."""
        stack = [(root, False)]
        results: list = []
        while stack:
            node, ready = stack.pop()
            kids = children(node)
            if not ready and kids:
                stack.append((node, True))
                stack.extend((k, False) for k in reversed(kids))
                continue
            n = len(kids)
            args = results[len(results) - n:] if n else []
            if n:
                del results[len(results) - n:]
            self.g.span = node.span
            try:
                if type(node) is A.Call and node.func in self.funcs:
                    results.append((yield self.call_user(node, args)))
                else:
                    results.append(self.combine(node, args))
            except CgraphError as exc:
                if self.g.eager:
                    raise
                self.errors.extend(exc.errors)
                if isinstance(exc, OverLimit):
                    raise _Abort() from None
                results.append(self.poison(node.span))
        return results[0]

    def combine(self, e, args):
        g = self.g
        t = type(e)
        if t is A.Num:
            return g.const(e.value, e.span)
        if t is A.Name:
            return self.lookup(e.id, e.span)
        if t is A.Chain:
            acc = args[0]
            for op, rhs, sub in zip(e.ops, args[1:], e.rest):
                acc = self.binop(CHAIN_OPS[op], acc, rhs, e.span)
            return acc
        if t is A.Binary:
            return self.binop(BINARY_OPS[e.op], args[0], args[1], e.span)
        if t is A.Unary:
            if e.op == "+":
                return self.tensor(args[0], e.span)
            return self.emit("neg" if e.op == "-" else "logical_not", [self.tensor(args[0], e.span)],
                             {}, e.span)
        if t is A.Call:
            return self.call(e, args)
        if t is A.ListLit:
            return ListVal(list(args), e.span)
        if t is A.Str:
            return StrVal(e.value, e.span)
        if t is A.Bool:
            return g.const(np.asarray(e.value), e.span)
        if t is A.Index:
            return self.index(e, args)
        if t is A.Transpose:
            return self.emit("transpose", [self.tensor(args[0], e.span)], {"axes": None}, e.span)
        raise TypeError(f"unknown expression {t.__name__}")  # pragma: no cover

    def lookup(self, name: str, span: Span) -> int:
        for scope in (self.scopes[-1], self.globals):
            if name in scope:
                return scope[name]
        if name in CONSTANTS:
            return self.g.const(CONSTANTS[name], span)
        if name == "none":
            return NoneVal(span)
        if name in self.funcs or name in R.REGISTRY and R.REGISTRY[name].family != "internal":
            self.error("type", f"'{name}' is a function; call it with (...)", span)
            return self.poison(span)
        if name in self.bound_anywhere:
            self.error("name", f"'{name}' is used before it is bound", span,
                       f"assign '{name}' before this line")
            return self.poison(span)
        # a free name is an implicit input (LANGUAGE.md §9)
        g = self.g
        shape = self.input_shapes.get(name)
        if g.eager and name not in g.feed:
            raise CgraphError([Diagnostic("value", f"no value for input '{name}'", span,
                                          self._did_you_mean(name))])
        v = g.leaf(name, "input", shape=shape, span=span)
        self.globals[name] = v
        g.names.setdefault(name, v)
        return v

    def binop(self, op: str, a, b, span: Span) -> int:
        return self.emit(op, [self.tensor(a, span), self.tensor(b, span)], {}, span)

    def emit(self, op, ins, attrs, span) -> int:
        g = self.g
        nodes = g.nodes
        for i in ins:
            if nodes[i].op.name == "error":
                return self.poison(span)
        try:
            return g.add(op, ins, attrs, span)
        except S.ShapeError as exc:
            self.error(exc.kind, exc.message, span, exc.hint)
            return self.poison(span)

    # ------------------------------------------------------------ conversions
    def tensor(self, v, span: Span) -> int:
        """A value as a tensor node: lists become tensor literals."""
        if isinstance(v, int):
            return v
        if isinstance(v, StrVal):
            self.error("type", "a string cannot be used as a number", v.span,
                       "strings are for messages, file names and einsum specs")
            return self.poison(span)
        if isinstance(v, NoneVal):
            self.error("type", "none cannot be used as a number", v.span,
                       "none only means 'not given', as in axis=none")
            return self.poison(span)
        depth, level = 0, [v]
        while level:        # how deep the literal nests, without recursion
            depth += 1
            level = [x for lv in level for x in lv.items if isinstance(x, ListVal)]
            if depth > MAX_NDIM:
                self.error("shape", f"this tensor literal nests more than {MAX_NDIM} deep: more axes "
                           "than a tensor may have", v.span, "pass large data as an input or load() it")
                return self.poison(span)
        items = [self.tensor(x, getattr(x, "span", v.span)) for x in v.items]
        g = self.g
        if any(g.nodes[i].op.name == "error" for i in items):
            return self.poison(span)
        if not items:
            return g.const(np.zeros((0,)), v.span)
        if all(g.nodes[i].is_const() for i in items):
            vals = [g.values[i] for i in items]
            shapes = {np.shape(x) for x in vals}
            if len(shapes) > 1:
                self.error("shape", "the rows of this tensor literal have different shapes: "
                           + ", ".join(S.fmt(s) for s in sorted(shapes)), v.span,
                           "every element of a [...] literal must have the same shape")
                return self.poison(span)
            try:  # the size limit, before the stack is allocated
                g.check_size((len(vals),) + shapes.pop())
            except S.ShapeError as exc:
                self.error(exc.kind, exc.message, v.span, exc.hint)
                return self.poison(span)
            return g.const(np.stack([np.asarray(x) for x in vals]), v.span)
        return self.emit("stack", items, {"axis": 0}, v.span)

    def static(self, v, span: Span, what: str):
        """A value that must be known when the graph is built (shape, axis, bound…)."""
        if isinstance(v, StrVal):
            return v.value
        if isinstance(v, NoneVal):
            return None
        if isinstance(v, ListVal):
            return [self.static(x, span, what) for x in v.items]
        g = self.g
        if g.varies[v] and not freeze(self.g, v):
            if g.nodes[v].op.name != "error":
                self.error("value", f"{what} must be known when the graph is built, but this one "
                           "depends on an input", span,
                           "run it with --mode eager, or give the value as a number")
            return None
        value = g.known(v)
        if value is None:
            return None
        value = np.asarray(value)
        return value.item() if value.ndim == 0 else value.tolist()

    def as_int(self, value, span: Span, what: str) -> Optional[int]:
        try:
            f = float(value)
        except (TypeError, ValueError):
            self.error("type", f"{what} must be an integer, got {value!r}", span)
            return None
        if not f.is_integer():
            self.error("value", f"{what} must be an integer, got {f:g}", span)
            return None
        if abs(f) > MAX_INT:  # beyond every size, index and bound (and NumPy's C integers)
            self.error("value", f"{what} is too large: {f:g}", span,
                       f"integers here are at most 2^53 ({MAX_INT:,}) in size")
            return None
        return int(f)

    def known_int(self, v, span: Span, what: str) -> Optional[int]:
        value = self.static(v, span, what)
        return None if value is None else self.as_int(value, span, what)

    def attr(self, kind: str, v, span: Span, what: str):
        if isinstance(v, NoneVal):
            return None
        if kind == "str":
            if not isinstance(v, StrVal):
                self.error("type", f"{what} must be a string", span)
                return None
            return v.value
        if kind == "shape" and isinstance(v, ListVal) and any(unknown_dim(self.g, x) for x in v.items):
            # [n, 5] with n an input's named dim whose size is not known yet (cgraph check):
            # the dim stays unknown, as the input's does
            dims = []
            for x in v.items:
                if unknown_dim(self.g, x):
                    dims.append(None)
                    continue
                value = self.static(x, span, what)
                dims.append(None if value is None else self.as_int(value, span, what))
            return dims
        value = self.static(v, span, what)
        if value is None:
            return None
        if kind == "int":
            return self.as_int(value, span, what)
        if kind == "float":
            try:
                return float(value)
            except (TypeError, ValueError):
                self.error("type", f"{what} must be a number", span)
                return None
        if kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            self.error("type", f"{what} must be true or false", span)
            return None
        if kind in ("axes", "shape"):
            if isinstance(value, list):
                out = [self.as_int(x, span, what) for x in value]
                return None if None in out else out
            i = self.as_int(value, span, what)
            return None if i is None else ([i] if kind == "shape" else i)
        return value

    # ------------------------------------------------------------------ calls
    def call(self, e: A.Call, args):
        nargs = len(e.args)
        pos, kw = args[:nargs], dict(zip((k.name for k in e.kwargs), args[nargs:]))
        kw_spans = {k.name: k.span for k in e.kwargs}
        if e.func in SPECIAL_CALLS:
            return self.derivative(e, pos, kw)
        op = R.REGISTRY.get(e.func)
        if op is None or op.family == "internal":
            if self.lookup_value(e.func):
                self.error("type", f"'{e.func}' is a value, not a function: it cannot be called",
                           e.func_span, f"to multiply, write {e.func} * (...)")
                return self.poison(e.span)
            hint = self._did_you_mean(e.func)
            kind = "name"
            self.error(kind, f"unknown function '{e.func}'", e.func_span, hint or
                       "run `cgraph ops` to list the builtins")
            return self.poison(e.span)
        return self.call_builtin(op, e, pos, kw, kw_spans)

    def call_builtin(self, op: R.OpDef, e: A.Call, pos, kw, kw_spans):
        params = op.args
        bound: dict = {}
        spans: dict = {}
        # a last `tensors` parameter takes the rest of the arguments, as *args does in
        # Python: einsum("i->", [1, 2, 3]) has one operand, the vector
        rest_tensors = params and params[-1].kind == "tensors"
        for k, v in enumerate(pos):
            if k < len(params) - 1 or (k == len(params) - 1 and not rest_tensors):
                bound[params[k].name] = v
                spans[params[k].name] = e.args[k].span
            elif rest_tensors:
                bound.setdefault(params[-1].name, []).append(v)
                spans[params[-1].name] = e.args[k].span
            else:
                self.error("type", f"{op.signature} takes {len(params)} argument(s), got {len(pos)}",
                           e.span)
                return self.poison(e.span)
        for name, v in kw.items():
            if name not in {p.name for p in params}:
                near = nearest(name, [p.name for p in params])
                self.error("type", f"{op.name}() has no argument '{name}'", kw_spans[name],
                           f"did you mean '{near}'? " if near else f"its signature is {op.signature}")
                return self.poison(e.span)
            if name in bound:
                self.error("type", f"{op.name}() got '{name}' twice", kw_spans[name])
                return self.poison(e.span)
            bound[name] = v
            spans[name] = kw_spans[name]
        ins, attrs = [], {}
        for p in params:
            if p.name not in bound:
                if p.default is R.REQUIRED:
                    self.error("type", f"{op.name}() is missing its argument '{p.name}'", e.span,
                               f"its signature is {op.signature}")
                    return self.poison(e.span)
                if not p.is_tensor:
                    attrs[p.name] = p.default
                continue
            v, sp = bound[p.name], spans[p.name]
            if p.kind == "tensor":
                ins.append(self.tensor(v, sp))
            elif p.kind == "tensors":
                items = v if isinstance(v, list) else v.items if isinstance(v, ListVal) else None
                if items is None:
                    self.error("type", f"{op.name}() takes a list [x, y, ...] for '{p.name}'", sp)
                    return self.poison(e.span)
                ins.extend(self.tensor(x, sp) for x in items)
            else:
                if isinstance(v, NoneVal) and p.default is not None:
                    self.error("type", f"{op.name}'s '{p.name}' cannot be none", sp,
                               f"its signature is {op.signature}")
                    return self.poison(e.span)
                a = self.attr(p.kind, v, sp, f"{op.name}'s '{p.name}'")
                if a is None and not isinstance(v, NoneVal):
                    return self.poison(e.span)
                attrs[p.name] = a
        if "seed" in attrs and attrs["seed"] is None:
            attrs["seed"] = self.g.next_seed()
        if op.name == "load":
            attrs["path"] = os.path.join(self.base_dir, os.path.expanduser(attrs["path"]))
        return self.emit(op, ins, attrs, e.span)

    def _differentiated_params(self, f) -> set:
        """The parameters of f that grad/jacobian/hessian in its body name as x."""
        hit = self._diff_params.get(f.name)
        if hit is None:
            hit = self._diff_params[f.name] = derivative_targets(f.body) & set(f.params)
        return hit

    def call_user(self, e: A.Call, args):
        """The task of calling a user function: its body runs in a new scope."""
        f = self.funcs[e.func]
        pos = args[:len(e.args)]
        if e.kwargs:
            self.error("type", f"'{e.func}' takes positional arguments only", e.span)
            return self.poison(e.span)
        if len(pos) != len(f.params):
            self.error("type", f"{f.name}() takes {len(f.params)} argument(s), got {len(pos)}", e.span,
                       f"it is defined as def {f.name}({', '.join(f.params)})")
            return self.poison(e.span)
        if f.name in self.call_stack and not self.g.eager:
            self.error("type", f"{f.name}() calls itself: recursion needs eager mode", e.span,
                       "run it with --mode eager, or rewrite the recursion as a for loop")
            return self.poison(e.span)
        if len(self.call_stack) >= self.max_depth:
            self.error("runtime", f"calls nest deeper than {self.max_depth:,} (in {f.name}())", e.span,
                       ("does the recursion have a base case that is reached? " if f.name in self.call_stack
                        else f"a chain of {self.max_depth:,} distinct functions, each calling the next; ")
                       + "raise the limit if you mean it (--max-depth; max_depth= in Python)")
            raise _Abort()
        local = {p: self.tensor(v, e.span) for p, v in zip(f.params, pos)}
        for p in self._differentiated_params(f):
            if p in local and not self.g.varies[local[p]]:
                # grad(t^3, t) in f, called as f(2): t is f's variable, not a constant
                local[p] = self.g.add("variable", (local[p],), span=e.span)
                self.g.varies[local[p]] = 1
        self.scopes.append(local)
        self.call_stack.append(f.name)
        saved_scope, saved_span = self.g.scope, self.g.span
        self.g.scope = saved_scope + ((f.name, e.span),)
        try:
            yield self.exec_block(f.body)
        except _Return as r:
            return self.tensor(r.value, e.span)
        finally:
            self.scopes.pop()
            self.call_stack.pop()
            self.g.scope, self.g.span = saved_scope, saved_span
        self.error("value", f"{f.name}() ended without returning a value", f.span,
                   "add a return statement")
        return self.poison(e.span)

    def derivative(self, e: A.Call, pos, kw):
        """grad, jacobian, hessian (y, x) and jvp, hvp (y, x, v): x must be a name."""
        directional = e.func in ("jvp", "hvp")
        n, form = (3, "y, x, v") if directional else (2, "y, x")
        if kw or len(pos) != n:
            self.error("type", f"{e.func}({form}) takes {'three' if n == 3 else 'two'} arguments",
                       e.span)
            return self.poison(e.span)
        if not isinstance(e.args[1], A.Name):
            self.error("type", f"the second argument of {e.func}() must be a name", e.args[1].span,
                       f"{e.func}({form}) differentiates with respect to the value named x")
            return self.poison(e.span)
        args = [self.tensor(p, a.span) for p, a in zip(pos, e.args)]
        if any(self.g.nodes[i].op.name == "error" for i in args):
            return self.poison(e.span)
        if directional:
            return self.directional(e, *args)
        y, x = note_derivative(self, args)
        if e.func == "grad":
            return self.grad(y, x, e)
        if e.func == "jacobian":
            return self.jacobian(y, x, e)
        return self.jacobian(self.grad(y, x, e), x, e)

    def directional(self, e: A.Call, y: int, x: int, v: int) -> int:
        """jvp(y, x, v) = ∂y/∂x·v; hvp(y, x, v) = jvp(grad(y, x), x, v) for a scalar y."""
        g = self.g
        xs, vs = g.nodes[x].shape, g.nodes[v].shape
        if S.known(xs) and S.known(vs) and tuple(xs) != tuple(vs):
            self.error("shape", f"{e.func}(): the direction v has shape {S.fmt(vs)}, x has "
                       f"{S.fmt(xs)}", e.args[2].span, "v is a change of x: give it x's shape")
            return self.poison(e.span)
        if e.func == "hvp":
            y = self.grad(y, x, e)
            if g.nodes[y].op.name == "error":
                return y
        g.span = e.span
        if not g.varies[x]:
            return g.add("zeros_like", (y,))
        return forward(g, y, x, v)

    def grad(self, y: int, x: int, e: A.Call) -> int:
        shape = self.g.nodes[y].shape
        if shape is not None and shape != ():
            self.error("type", f"{e.func}() needs a scalar to differentiate, got shape {S.fmt(shape)}",
                       e.args[0].span, "take sum(...) or mean(...) first, or use jacobian(y, x)")
            return self.poison(e.span)
        if self.g.nodes[y].dtype == "bool":
            self.error("type", "a boolean is not differentiable", e.args[0].span)
            return self.poison(e.span)
        self.g.span = e.span
        return self._backward(y, x)

    def _backward(self, y: int, x: int) -> int:
        """∂y/∂x as a node. A constant x (a `const`, a loop index, a value computed
        from literals) is never differentiated: zeros, in both modes (a static graph
        has folded such an x into y already; an eager one must not see through it)."""
        if not self.g.varies[x] or self.g.nodes[x].name == INDEX:
            return self.g.add("zeros_like", (x,))
        return backward(self.g, y, [x])[x]

    def jacobian(self, y: int, x: int, e: A.Call) -> int:
        g = self.g
        shape = g.nodes[y].shape
        if not S.known(shape) or not S.known(g.nodes[x].shape):
            self.error("shape", f"{e.func}() needs known shapes", e.span,
                       "declare the input's shape: input x: [3]")
            return self.poison(e.span)
        g.span = e.span
        if shape == ():
            return self._backward(y, x)
        try:  # the size limit before one backward pass per output element is built
            g.check_size(tuple(shape) + tuple(g.nodes[x].shape))
        except S.ShapeError as exc:
            self.error(exc.kind, exc.message, e.span, exc.hint)
            return self.poison(e.span)
        if not g.varies[x]:
            rows = [self._backward(y, x)] * S.size(shape)
        else:
            rows = [row[0] for row in jacobian_rows(g, y, [x], e.span)]
        stacked = self.emit("stack", rows, {"axis": 0}, e.span)
        return self.emit("reshape", [stacked], {"shape": list(shape) + list(g.nodes[x].shape)}, e.span)

    # --------------------------------------------------------------- indexing
    def index(self, e: A.Index, args):
        x = self.tensor(args[0], e.span)
        vals = iter(args[1:])
        items, dynamic = [], None
        for k, it in enumerate(e.items):
            if isinstance(it, A.Slice):
                parts = []
                for sub in (it.start, it.stop, it.step):
                    if sub is None:
                        parts.append(None)
                    else:
                        parts.append(self.known_int(next(vals), sub.span, "a slice bound"))
                if it.step is not None and parts[2] == 0:
                    self.error("value", "slice step must not be zero", it.step.span)
                    return self.poison(e.span)
                items.append(("slice", *parts))
                continue
            v = next(vals)
            if isinstance(v, ListVal) or (isinstance(v, int) and (self.g.varies[v] or self.g.nodes[v].shape)):
                if k != 0:
                    self.error("value", "an index that is a tensor or depends on data is only "
                               "allowed on the first axis", it.span,
                               "index the first axis with it, e.g. x[i] or x[idx, 1:]")
                    return self.poison(e.span)
                dynamic = self.tensor(v, it.span)
                continue
            if isinstance(v, int) and self.g.nodes[v].dtype == "bool":
                self.error("type", "an index must be an integer, not a boolean", it.span,
                           "to select with a mask, use where(mask, x, 0) or x[idx] with integer idx")
                return self.poison(e.span)
            i = self.known_int(v, it.span, "an index")
            if i is None:
                return self.poison(e.span)
            items.append(("int", i))
        if dynamic is not None:
            x = self.emit("take", [x, dynamic], {}, e.span)
            idx_shape = self.g.nodes[dynamic].shape
            if items and idx_shape:  # take put idx's axes first; the other items come after
                items = [("slice", None, None, None)] * len(idx_shape) + items
        if items:
            x = self.emit("index", [x], {"items": tuple(items)}, e.span)
        return x
