"""The Python API: compile a program once, run it many times.

`compile` parses once. A static program builds (and differentiates, and
optimises) one graph per signature of its inputs — names, shapes, dtypes —
like `jax.jit`, and reuses its plan on every later call with that signature.
An eager program builds and runs in one go on every call.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np

from .errors import CgraphError, Diagnostic, nearest
from .records import Record

MODES = ("static", "eager")


def _without_gc(method):
    """Parsing and building make hundreds of thousands of small objects and no
    cycles; Python's cyclic collector rescanning them made a 100,000-statement
    script cost 13x a 10,000-statement one instead of 10x."""
    import functools
    import gc

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        if not gc.isenabled():
            return method(*args, **kwargs)
        gc.disable()
        try:
            return method(*args, **kwargs)
        finally:
            gc.enable()
    return wrapper
DTYPES = ("float64", "float32")


class Result(Record):
    """Everything one run produced; the CLI and the drawing read it."""

    __slots__ = ("graph", "values", "outputs", "output", "gradients", "connected", "grad_ids",
                 "intermediates")
    _defaults = {"output": None}
    _factories = {"gradients": dict, "connected": dict, "grad_ids": dict, "intermediates": dict}
    graph: object
    values: list          # node id -> value (None where not kept)
    outputs: dict         # name -> array
    output: Optional[str]  # the differentiated output
    gradients: dict       # leaf name -> array
    connected: dict       # leaf name -> bool
    grad_ids: dict        # node id -> its gradient node id
    intermediates: dict   # named non-leaf -> gradient array

    def value_of(self, node_id: int):
        return self.values[node_id]

    def named(self) -> dict:
        """Every top-level name and its value, in program order."""
        return {n: self.values[i] for n, i in self.graph.names.items() if self.values[i] is not None}


class Program:
    @_without_gc
    def __init__(self, source: str, file: str = "<expr>", mode: str = "static",
                 dtype: str = "float64", seed: int = 0, max_iterations: int = 100_000,
                 optimize: bool = True, max_memory: Optional[int] = None):
        from .parse import parse

        if mode not in MODES:
            raise CgraphError(f"mode must be static or eager, not {mode!r}", kind="usage")
        if str(dtype) not in DTYPES:
            raise CgraphError(f"dtype must be float64 or float32, not {dtype!r}", kind="usage")
        self.source, self.file, self.mode = source, file, mode
        self.dtype, self.seed, self.max_iterations = str(dtype), int(seed), max_iterations
        self.optimize = optimize
        self.max_memory = max_memory  # bytes one tensor may take (None: half the RAM)
        self.ast = parse(source, file)
        self._plans: dict = {}

    # ---------------------------------------------------------------- public
    def evaluate(self, inputs: Optional[dict] = None) -> dict:
        """Output name -> value."""
        return self.run(inputs).outputs

    def gradients(self, inputs: Optional[dict] = None, of: Optional[str] = None,
                  wrt: Optional[Sequence[str]] = None):
        """(value of the output, {leaf: ∂output/∂leaf})."""
        if self.mode == "static":
            fast = self._fast_gradients(inputs, of, wrt)
            if fast is not None:
                return fast
        r = self.run(inputs, grad=True, of=of, wrt=wrt)
        return r.outputs[r.output], r.gradients

    def build(self, inputs: Optional[dict] = None, grad: bool = False, of=None, wrt=None,
              all_names: bool = False):
        """The graph (static: not run) for these inputs' shapes, with its backward part."""
        feed = self.feed(inputs)
        return self._static(feed, grad, of, wrt, all_names)[0].graph

    @_without_gc
    def check(self):
        """Parse, build and shape-check without values; raise every error found."""
        from .build import Builder

        g = self._graph()
        Builder(self.ast, g, {}, self.max_iterations).build()
        return g

    def _graph(self, feed: Optional[dict] = None):
        from .ir import Graph

        return Graph(dtype=self.dtype, seed=self.seed, eager=feed is not None, feed=feed,
                     max_bytes=self.max_memory)

    def run(self, inputs: Optional[dict] = None, grad: bool = False, of: Optional[str] = None,
            wrt: Optional[Sequence[str]] = None, all_names: bool = False,
            keep_all: bool = False) -> Result:
        """`keep_all` keeps the value of every node the outputs, gradients and
        effects need (not only theirs): what the drawing shows on each node."""
        feed = self.feed(inputs)
        if self.mode == "eager":
            return self._eager(feed, grad, of, wrt, all_names)
        plan, info = self._static(feed, grad, of, wrt, all_names, keep_all)
        try:
            values = plan.run(feed)
        except CgraphError as exc:  # a failed assert, a singular matrix...: show the line
            raise exc.with_source(self.file, self.source) from None
        return self._result(plan.graph, values, info)

    @_without_gc
    def pass_report(self) -> dict:
        """What the optimiser does to this program, without running it: the node
        count after each pass for the forward graph and for forward + backward
        (when the output is a scalar), and the memory plan's peak bytes before
        (nothing freed, nothing reused) and after. Sizes come from the shapes
        known at build time (declared inputs, defaults); unknown ones count 0."""
        from .build import Builder
        from .execute import Plan
        from .optimize import optimize

        out: dict = {}
        for part in ("forward", "backward"):
            g = self._graph()
            Builder(self.ast, g, {}, self.max_iterations).build()
            y = next(iter(g.outputs.values()), None)
            if part == "backward" and (y is None or g.nodes[y].shape != ()):
                out[part] = None  # a non-scalar output has no gradient to plan
                continue
            info = self._differentiate(g, part == "backward", None, None, False)
            targets = list(g.outputs.values()) + list(info["grad_of"].values())
            before = Plan(g, targets).naive_bytes
            passes: list = []
            remap = optimize(g, targets, report=passes)
            plan = Plan(g, [remap.get(t, t) for t in targets])
            unknown = any(n.shape is None or None in n.shape for n in g.nodes)
            out[part] = {"passes": passes, "bytes_before": before, "bytes_after": plan.peak_bytes,
                         "shapes_known": not unknown}
        return out

    @_without_gc
    def build_result(self, inputs: Optional[dict] = None, grad: bool = False, of=None,
                     wrt=None) -> Result:
        """The static graph (with its backward part) as a Result, without running it:
        only constants have values. For drawing a program whose inputs have none."""
        from .build import Builder

        feed = self.feed(inputs)
        g = self._graph()
        Builder(self.ast, g, {n: v.shape for n, v in feed.items()}, self.max_iterations).build()
        info = self._differentiate(g, grad, of, wrt, False)
        if self.optimize:
            from .optimize import optimize

            info = _remap_info(info, optimize(g, list(g.outputs.values()) + list(info["grad_of"].values())), g)
        values = [g.values[i] if g.nodes[i].op.name == "const" else None for i in range(len(g.nodes))]
        return self._result(g, values, info, run=False)

    # --------------------------------------------------------------- helpers
    def feed(self, inputs) -> dict:
        """The given values as arrays of the program's dtype (name -> array)."""
        feed = {}
        dt = np.dtype(self.dtype)
        for name, v in (inputs or {}).items():
            try:
                arr = np.asarray(v)
                if arr.dtype.kind in "iub" or (arr.dtype.kind == "f" and arr.dtype != dt):
                    from .ir import to_dtype

                    arr = to_dtype(arr, dt)  # 1e300 as float32: inf, quietly
                elif arr.dtype.kind not in "f":
                    raise ValueError(f"not numeric ({arr.dtype})")
            except (ValueError, TypeError) as exc:
                raise CgraphError(f"the value given for '{name}' is not a numeric array: {exc}",
                                  kind="value") from None
            feed[name] = arr
        return feed

    @_without_gc
    def _static(self, feed, grad, of, wrt, all_names, keep_all=False):
        key = (tuple((n, v.shape, v.dtype.str) for n, v in sorted(feed.items())),
               grad, of, tuple(wrt) if wrt is not None else None, all_names) \
            + (("keep_all",) if keep_all else ())
        hit = self._plans.get(key)
        if hit is not None:
            return hit
        from .build import Builder
        from .execute import Plan

        g = self._graph()
        Builder(self.ast, g, {n: v.shape for n, v in feed.items()}, self.max_iterations).build()
        self._check_names(g, feed)
        info = self._differentiate(g, grad, of, wrt, all_names)
        targets = list(g.outputs.values()) + list(info["grad_of"].values())
        if all_names:
            targets += list(g.names.values())
        if self.optimize:
            from .optimize import optimize

            remap = optimize(g, targets)
            info = _remap_info(info, remap, g)
            targets = [remap.get(t, t) for t in targets]
        if keep_all:  # every node the targets need, and every gradient, keeps its value (drawing)
            targets = _needed(g, targets + list(info.get("grad_ids", {}).values()))
        plan = Plan(g, targets)
        self._plans[key] = (plan, info)
        return plan, info

    @_without_gc
    def _eager(self, feed, grad, of, wrt, all_names) -> Result:
        from .build import Builder

        g = self._graph(feed)
        Builder(self.ast, g, {}, self.max_iterations).build()
        self._check_names(g, feed)
        info = self._differentiate(g, grad, of, wrt, all_names)
        return self._result(g, g.values, info)

    def _check_names(self, g, feed) -> None:
        errors = []
        known = set(g.leaves) | set(g.inputs)
        unreached = [n for n in feed if n not in known and n not in g.names]
        if unreached:  # an implicit input used only where this run did not go (an untaken
            from .build import free_names  # branch) is still an input: a zero gradient

            free = free_names(self.ast)
            for name in unreached:
                if name in free:
                    g.names.setdefault(name, g.leaf(name, "input", shape=tuple(np.shape(feed[name]))))
            known = set(g.leaves) | set(g.inputs)
        for name in feed:
            if name in known:
                continue
            if name in g.frozen:
                errors.append(Diagnostic(
                    "value", f"'{name}' decides the graph's structure (a range bound, a shape or "
                    "an axis), so it cannot be given a value", g.nodes[g.names[name]].span
                    if name in g.names else None, f"change '{name}' in the program instead"))
            elif name in g.names:
                msg = (f"'{name}' is computed by the program, not a leaf: it cannot be given a value")
                errors.append(Diagnostic("name", msg, None))
            else:
                near = nearest(name, known)
                errors.append(Diagnostic("name", f"a value was given for '{name}', which the program "
                                         "does not have", None,
                                         f"did you mean '{near}'?" if near else
                                         "its leaves are: " + (", ".join(g.leaves) or "none")))
        missing = [n for n in g.inputs if n not in feed]
        if missing:
            givens = [n for n in feed if n not in known]
            hint = None
            for m in missing:
                # a free name may be a typo of a bound one; a declared input is not
                declared = g.nodes[g.inputs[m]].attrs.get("declared")
                near = nearest(m, givens if declared else
                               givens + [n for n in g.names if n not in g.inputs])
                if near:
                    hint = f"'{m}' looks like a misspelling of '{near}'"
                    break
            errors.append(Diagnostic("value", "no value for input" + ("s " if len(missing) > 1 else " ")
                                     + ", ".join(f"'{m}'" for m in missing),
                                     g.nodes[g.inputs[missing[0]]].span,
                                     hint or "give it on the command line (" + " ".join(f"{m}=..." for m in missing)
                                     + ") or with --inputs"))
        if errors:
            raise CgraphError(errors).with_source(self.file, self.source)

    def _differentiate(self, g, grad, of, wrt, all_names) -> dict:
        """Add the backward graph for the chosen output; say which node is which gradient."""
        info = {"output": None, "grad_of": {}, "leaves": {}, "inter": {}, "outputs": dict(g.outputs),
                "names": dict(g.names)}
        if of is not None and of not in g.names and of not in g.outputs:
            near = nearest(of, list(g.names) + list(g.outputs))
            raise CgraphError(f"--of names '{of}', which the program does not have", kind="name",
                              hint=f"did you mean '{near}'?" if near else None)
        out_name = of or next(iter(g.outputs), None)
        if out_name is None:
            raise CgraphError("the program has no output", kind="value",
                              hint="end it with an expression or name one with `output y`")
        info["output"] = out_name
        if of is not None and of not in g.outputs:
            g.outputs = {of: g.names[of]}
            info["outputs"] = dict(g.outputs)
        if not grad:
            return info
        y = g.outputs.get(out_name, g.names.get(out_name))
        node = g.nodes[y]
        if node.shape != ():
            from .shapes import fmt

            raise CgraphError(f"'{out_name}' has shape {fmt(node.shape)}; a gradient needs a scalar output",
                              kind="type", span=node.span,
                              hint="differentiate sum(...) or mean(...) of it, or use `cgraph jacobian`")
        leaves = dict(g.leaves)
        if wrt is not None:
            bad = [w for w in wrt if w not in leaves and w not in g.names]
            if bad:
                near = nearest(bad[0], list(leaves) + list(g.names))
                raise CgraphError(f"--wrt names '{bad[0]}', which the program does not have", kind="name",
                                  hint=f"did you mean '{near}'?" if near else
                                  "its leaves are: " + ", ".join(leaves))
            leaves = {w: leaves.get(w, g.names.get(w)) for w in wrt}
        from .autodiff import backward

        targets = dict(leaves)
        if all_names:
            for n, i in g.names.items():
                if n not in g.leaves and i not in targets.values():
                    targets[n] = i
        g.span = node.span
        grads = backward(g, y, list(targets.values()))
        info["grad_ids"] = dict(grads)  # every visited node -> its gradient node (drawing)
        reach = reaches(g, y)
        for n, i in targets.items():
            (info["leaves"] if n in leaves else info["inter"])[n] = (grads[i], bool(reach[i]))
        info["grad_of"] = {n: gi for n, (gi, _) in {**info["leaves"], **info["inter"]}.items()}
        return info

    def _result(self, g, values, info, run: bool = True) -> Result:
        outs = {n: _arr(values[i]) for n, i in info["outputs"].items()}
        r = Result(graph=g, values=values, outputs=outs, output=info["output"])
        r.grad_ids = dict(info.get("grad_ids", {}))
        if not run:
            return r
        for n, (gi, conn) in info["leaves"].items():
            r.gradients[n] = _arr(values[gi])
            r.connected[n] = conn
        for n, (gi, _) in info["inter"].items():
            r.intermediates[n] = _arr(values[gi])
        return r

    def _fast_gradients(self, inputs, of, wrt):
        """The hot path of `gradients` for a cached static plan: no Result object."""
        if inputs:
            for v in inputs.values():
                if type(v) not in (float, int):
                    return None
            key = (tuple((n, (), "<f8") for n in sorted(inputs)), True, of,
                   tuple(wrt) if wrt is not None else None, False)
        else:
            key = ((), True, of, tuple(wrt) if wrt is not None else None, False)
        hit = self._plans.get(key) if self.dtype == "float64" else None
        if hit is None:
            return None
        plan, info = hit
        values = plan.run({n: np.float64(v) for n, v in inputs.items()} if inputs else {})
        return (_arr(values[info["outputs"][info["output"]]]),
                {n: _arr(values[gi]) for n, (gi, _) in info["leaves"].items()})


def _arr(v):
    """NumPy hands back scalars from 0-d arithmetic; the API promises arrays."""
    return v if type(v) is np.ndarray else np.asarray(v)


def reaches(g, y) -> bytearray:  # public: the CLI marks "not connected" leaves with it
    """1 for every node the output y depends on."""
    mark = bytearray(len(g.nodes))
    mark[y] = 1
    for i in range(y, -1, -1):
        if mark[i]:
            for j in g.nodes[i].inputs:
                mark[j] = 1
    return mark


def _needed(g, targets) -> list:
    """Every node the targets and the side effects depend on, in order."""
    need = bytearray(len(g.nodes))
    for t in list(targets) + list(g.effects):
        need[t] = 1
    for i in range(len(g.nodes) - 1, -1, -1):
        if need[i]:
            for j in g.nodes[i].inputs:
                need[j] = 1
    return [i for i in range(len(g.nodes)) if need[i]]


def _remap_info(info: dict, remap: dict, g=None) -> dict:
    m = lambda i: remap.get(i, i)  # noqa: E731
    out = dict(info)
    # Each surviving node's gradient, for drawing. Dropped nodes map to None. When several
    # nodes became one (x * 1 -> x, or two equal exp(x) merged), no single original's
    # gradient is the merged node's, except for a leaf: it keeps its own (it is the total).
    merged: dict = {}
    for f, gi in sorted(info.get("grad_ids", {}).items()):
        if m(f) is not None and m(gi) is not None:
            merged.setdefault(m(f), []).append(m(gi))
    out["grad_ids"] = {n: gis[0] for n, gis in merged.items()
                       if len(gis) == 1 or (g is not None and g.nodes[n].op.name in ("input", "leaf"))}
    out["outputs"] = {n: m(i) for n, i in info["outputs"].items()}
    out["names"] = {n: m(i) for n, i in info["names"].items()}
    out["leaves"] = {n: (m(gi), c) for n, (gi, c) in info["leaves"].items()}
    out["inter"] = {n: (m(gi), c) for n, (gi, c) in info["inter"].items()}
    out["grad_of"] = {n: m(i) for n, i in info["grad_of"].items()}
    return out


# ------------------------------------------------------------- module API
def compile(source: str, file: str = "<expr>", **options) -> Program:
    """Parse once; run many times with `.evaluate` and `.gradients`."""
    return Program(source, file, **options)


def evaluate(source: str, inputs: Optional[dict] = None, **options) -> dict:
    return Program(source, **options).evaluate(inputs)


def gradients(source: str, inputs: Optional[dict] = None, of: Optional[str] = None,
              wrt: Optional[Iterable[str]] = None, **options):
    return Program(source, **options).gradients(inputs, of=of, wrt=list(wrt) if wrt else None)
