"""The Python API: compile a program once, run it many times.

`compile` parses once. A static program builds (and differentiates, and
optimises) one graph per signature of its inputs — names, shapes, dtypes —
like `jax.jit`, and reuses its plan on every later call with that signature.
An eager program builds and runs in one go on every call.
"""
from __future__ import annotations

import re
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from .errors import CgraphError
from .gcpause import without_gc
from .records import Record

MODES = ("static", "eager")
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


def declared_mode(source: str) -> Optional[str]:
    """The mode a program declares in its opening comment block (`# mode: eager`),
    or None."""
    for line in source.splitlines():
        text = line.strip()
        if not text:
            continue
        if not text.startswith("#"):
            return None
        m = _MODE_LINE.match(text)
        if m:
            return m.group(1)
    return None


_MODE_LINE = re.compile(r"#\s*mode:\s*(static|eager)\s*$")


class Program:
    @without_gc
    def __init__(self, source: str, file: str = "<expr>", mode: Optional[str] = None,
                 dtype: str = "float64", seed: int = 0, max_iterations: int = 100_000,
                 optimize: bool = True, max_memory: Optional[int] = None,
                 max_depth: int = 1000):
        from .parse import parse

        if not isinstance(source, str):
            raise CgraphError(f"the source must be a string (the program's text), not "
                              f"{type(source).__name__}", kind="usage")
        try:
            seed = int(seed)
        except (TypeError, ValueError):
            raise CgraphError(f"seed must be an integer, not {seed!r}", kind="usage") from None
        if mode is None:  # as the program declares, else static
            mode = declared_mode(source) if isinstance(source, str) else None
            mode = mode or "static"
        if mode not in MODES:
            raise CgraphError(f"mode must be static or eager, not {mode!r}", kind="usage")
        if str(dtype) not in DTYPES:
            raise CgraphError(f"dtype must be float64 or float32, not {dtype!r}", kind="usage")
        self.source, self.file, self.mode = source, file, mode
        self.dtype, self.seed, self.max_iterations = str(dtype), int(seed), max_iterations
        self.optimize = optimize
        try:
            self.max_depth = int(max_depth)  # user functions calling each other, nested
        except (TypeError, ValueError):
            raise CgraphError(f"max_depth must be an integer, not {max_depth!r}",
                              kind="usage") from None
        self.max_memory = max_memory  # bytes one tensor may take (None: ir.default_max_bytes)
        self.ast = parse(source, file)
        self.source = self.ast.source  # as parsed: line ends "\n", NFC (diagnostics' columns)
        self._plans = PlanCache()

    def __repr__(self) -> str:
        from . import ast as A

        body = self.ast.body
        inputs = [st.name for st in body if isinstance(st, A.Input)]
        params = [st.name for st in body if isinstance(st, A.Param)]
        parts = [f"{len(body)} statement{'s' * (len(body) != 1)}"]
        if inputs:
            parts.append("inputs " + ", ".join(inputs))
        if params:
            parts.append("params " + ", ".join(params))
        return f"<cgraph.Program {self.file} ({self.mode}, {self.dtype}): {'; '.join(parts)}>"

    def variant(self, **changes) -> "Program":
        """The same source and settings with some changed (mode=, dtype=, optimize=...):
        another program (its own plans), the source not parsed again."""
        settings = {"mode": self.mode, "dtype": self.dtype, "seed": self.seed,
                    "max_iterations": self.max_iterations, "optimize": self.optimize,
                    "max_memory": self.max_memory, "max_depth": self.max_depth}
        settings.update(changes)
        if all(settings[k] == getattr(self, k) for k in changes):
            return self
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        for k, v in settings.items():
            setattr(other, k, str(v) if k in ("mode", "dtype") else v)
        other._plans = PlanCache()
        return other

    def _repr_svg_(self) -> str:
        """Jupyter shows a compiled program as the drawing of its graph (structure)."""
        return self.draw().svg()

    def draw(self, inputs: Optional[dict] = None, backward: bool = False, optimized: bool = False,
             **options):
        """The program's graph as a `cgraph.drawing.Drawing` (values and gradients when
        `inputs` give every input; `.svg()`, `.save(path)`, shown by Jupyter). As
        written, unless `optimized`; `options`: rankdir, max_nodes, precision, title."""
        from .drawing import draw_compiled

        return draw_compiled(self.variant(optimize=optimized), inputs, backward=backward,
                             **options)

    def explain(self, inputs: Optional[dict] = None, of: Optional[str] = None,
                wrt: Optional[Sequence[str]] = None, digits: int = 6) -> "Explanation":
        """The chain rule of `grad --explain`: `.text` (the lines) and `.data`
        (forward lines and one record per derivative, as `--json` gives)."""
        from .cli.explain import explain, explain_data

        inputs, of, wrt = api_arguments(inputs, of, wrt)
        result = self.run(inputs, grad=True, of=of, wrt=wrt)
        feed = self.feed(inputs)
        return Explanation("\n".join(explain(result, feed, digits)),
                           explain_data(result, feed, digits))

    # ---------------------------------------------------------------- public
    def evaluate(self, inputs: Optional[dict] = None) -> dict:
        """Output name -> value."""
        return self.run(inputs).outputs

    def gradients(self, inputs: Optional[dict] = None, of: Optional[str] = None,
                  wrt: Optional[Sequence[str]] = None):
        """(value of the output, {leaf: ∂output/∂leaf})."""
        inputs, of, wrt = api_arguments(inputs, of, wrt)
        if self.mode == "static":
            fast = self._fast_gradients(inputs, of, wrt)
            if fast is not None:
                return fast
        r = self._run(inputs, True, of, wrt, False, False, values_only=True)
        return r.outputs[r.output], r.gradients

    def fit(self, data, **options):
        """Train the params to minimise the (scalar) output on `data` (a .csv/.npz/
        .parquet path or a dict of arrays, rows first); the params are updated in
        the returned `cgraph.train.FitResult` (history, params, steps), the program
        is unchanged. Options as `cgraph.train.fit` (optimizer="adam", lr=...,
        epochs=..., batch_size=...)."""
        from .train import fit

        return fit(self, data, **options)

    def build(self, inputs: Optional[dict] = None, grad: bool = False, of=None, wrt=None,
              all_names: bool = False):
        """The graph (static: not run) for these inputs' shapes, with its backward part."""
        feed = self.feed(inputs)
        return self._static(feed, grad, of, wrt, all_names).graph

    @without_gc
    def check(self):
        """Parse, build and shape-check without values; raise every error found."""
        from . import pipeline

        return pipeline.build(self)

    def run(self, inputs: Optional[dict] = None, grad: bool = False, of: Optional[str] = None,
            wrt: Optional[Sequence[str]] = None, all_names: bool = False,
            keep_all: bool = False) -> Result:
        """`keep_all` keeps the value of every node the outputs, gradients and
        effects need (not only theirs): what the drawing shows on each node."""
        return self._run(inputs, grad, of, wrt, all_names, keep_all)

    def _run(self, inputs, grad, of, wrt, all_names, keep_all, values_only=False) -> Result:
        """`run`; `values_only`: only values are wanted (no backward graph to draw or explain)."""
        inputs, of, wrt = api_arguments(inputs, of, wrt)
        feed = self.feed(inputs)
        try:
            if self.mode == "eager":
                c = self._eager(feed, grad, of, wrt, all_names, values_only=values_only)
                return result_of(c, c.graph.values)
            c = self._static(feed, grad, of, wrt, all_names, keep_all)
            return result_of(c, self.execute(c, feed))
        except MemoryError:  # the API speaks CgraphError only
            raise CgraphError("out of memory", kind="runtime",
                              hint="the values are too large for this machine; lower max_memory "
                                   "to be told before allocating") from None

    def compiled(self, inputs: Optional[dict] = None, grad: bool = False, of=None, wrt=None,
                 all_names: bool = False, jacobian: bool = False):
        """The `cgraph.pipeline.Compiled` program for these inputs (static: built,
        optimised and planned once per signature, not run; eager: built and run).
        `jacobian`: True for the output's Jacobian rows, "hessian" for the Hessian's,
        {leaf: direction} for J·v along each (forward mode), in `Compiled.jacobian`."""
        feed = self.feed(inputs)
        if self.mode == "eager":
            return self._eager(feed, grad, of, wrt, all_names, jacobian)
        return self._static(feed, grad, of, wrt, all_names, jacobian=jacobian)

    def execute(self, c, feed: dict) -> list:
        """Run a static Compiled's plan on these values: every kept node's value."""
        try:
            return c.plan.run(feed)
        except CgraphError as exc:  # a failed assert, a singular matrix...: show the line
            raise exc.with_source(self.file, self.source) from None

    @without_gc
    def pass_report(self) -> dict:
        """What the optimiser does to this program, without running it: the node
        count after each pass for the forward graph and for forward + backward
        (when the output is a scalar), the memory plan's peak bytes before
        (nothing freed, nothing reused) and after, and each static loop's fate
        (unrolled or kept as a loop node, and why: cgraph.optimize.unroll). Sizes come from the shapes
        known at build time (declared inputs, defaults); unknown ones count 0."""
        from . import pipeline
        from .errors import NotScalar
        from .execute import Plan

        out: dict = {}
        for part in ("forward", "backward"):
            try:
                c = pipeline.front(self, grad=part == "backward")
            except NotScalar:
                out[part] = None  # a non-scalar output has no gradient to plan
                continue
            before = Plan(c.graph, c.targets()).naive_bytes
            passes: list = []
            c = pipeline.make_plan(pipeline.optimise(c, report=passes))
            g = c.graph
            unknown = any(n.shape is None or None in n.shape for n in g.nodes)
            out[part] = {"passes": passes, "bytes_before": before,
                         "bytes_after": c.plan.peak_bytes, "shapes_known": not unknown}
            if part == "forward":  # the same choices made for both graphs
                out[part]["loops"] = list(g.loops)
        return out

    @without_gc
    def build_result(self, inputs: Optional[dict] = None, grad: bool = False, of=None,
                     wrt=None) -> Result:
        """The static graph (with its backward part) as a Result, without running it:
        only constants have values. For drawing a program whose inputs have none."""
        from . import pipeline

        feed = self.feed(inputs)
        c = pipeline.front(self, shapes={n: v.shape for n, v in feed.items()}, of=of, grad=grad,
                           wrt=wrt)
        if self.optimize:
            c = pipeline.optimise(c)
        g = c.graph
        values = [g.values[i] if g.nodes[i].op.name == "const" else None for i in range(len(g.nodes))]
        return result_of(c, values, run=False)

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

    @without_gc
    def _static(self, feed, grad, of, wrt, all_names, keep_all=False, jacobian=False):
        key = (tuple((n, v.shape, v.dtype.str) for n, v in sorted(feed.items())),
               grad, of, tuple(wrt) if wrt is not None else None, all_names) \
            + (("keep_all",) if keep_all else ()) \
            + (("jacobian", _hashable(jacobian)) if jacobian else ())
        hit = self._plans.get(key)
        if hit is not None:
            return hit
        from . import pipeline

        c = pipeline.compile_graph(self, shapes={n: v.shape for n, v in feed.items()}, given=feed,
                                   of=of, grad=grad, jacobian=jacobian, wrt=wrt,
                                   all_names=all_names, optimize=self.optimize, keep_all=keep_all)
        self._plans.put(key, c)
        return c

    @without_gc
    def _eager(self, feed, grad, of, wrt, all_names, jacobian=False, values_only=False):
        from . import pipeline

        return pipeline.compile_graph(self, feed=feed, given=feed, of=of, grad=grad,
                                      jacobian=jacobian, wrt=wrt, all_names=all_names,
                                      values_only=values_only)

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
        c = self._plans.get(key) if self.dtype == "float64" else None
        if c is None:
            return None
        values = c.plan.run({n: np.float64(v) for n, v in inputs.items()} if inputs else {})
        return (_arr(values[c.outputs[c.output]]),
                {n: _arr(values[gr.node]) for n, gr in c.leaves.items()})


class Explanation:
    """The chain rule of one run, as text (`str()`, `.text`) and as data (`.data`)."""

    def __init__(self, text: str, data: dict):
        self.text, self.data = text, data

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<cgraph.Explanation: {len(self.data.get('backward', []))} derivatives>\n{self.text}"

    def _repr_pretty_(self, p, cycle) -> None:  # IPython prints the ledger itself
        p.text(self.text)


class PlanCache:
    """The compiled plans of one Program, one per input signature, the least
    recently used dropped past `size` (a program run over 3,000 input lengths
    does not keep 3,000 plans). Safe to share between threads."""

    def __init__(self, size: int = 64):
        import threading
        from collections import OrderedDict

        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def values(self) -> list:
        """The cached compiled programs (a snapshot), least recently used first."""
        with self._lock:
            return list(self._items.values())


def api_arguments(inputs, of, wrt):
    """The API's inputs, `of` and `wrt`, checked: (dict of name -> value, name or None,
    list of names or None). A str `wrt` is one name; every mistake is a CgraphError."""
    import unicodedata

    if inputs is not None:
        if not isinstance(inputs, Mapping):
            raise CgraphError(f"inputs must be a dict of name -> value, not {type(inputs).__name__}",
                              kind="usage", hint='e.g. {"a": 2, "b": [1, 2]}')
        if not all(type(k) is str and k.isascii() for k in inputs):
            for k in inputs:
                if not isinstance(k, str):
                    raise CgraphError(f"input names must be strings, not {k!r}", kind="usage")
            # names are NFKC-normalised, as in the source ('ﬁ' is 'fi')
            inputs = {unicodedata.normalize("NFKC", k): v for k, v in inputs.items()}
    if of is not None and not isinstance(of, str):
        raise CgraphError(f"of must be an output's name (a string), not {of!r}", kind="usage")
    if wrt is not None:
        wrt = [wrt] if isinstance(wrt, str) else list(wrt) if isinstance(wrt, (list, tuple)) else wrt
        if not isinstance(wrt, list) or not all(isinstance(w, str) for w in wrt):
            raise CgraphError(f"wrt must be a leaf's name or a list of names, not {wrt!r}",
                              kind="usage")
        if not wrt:
            raise CgraphError("wrt names no leaf", kind="usage",
                              hint="leave wrt out (None) for every leaf")
    return inputs, of, wrt


def result_of(c, values, run: bool = True) -> Result:
    """A Compiled program's values as a Result (`run=False`: not run, no gradients)."""
    r = Result(graph=c.graph, values=values, outputs={n: _arr(values[i]) for n, i in c.outputs.items()},
               output=c.output, grad_ids=dict(c.grad_ids))
    if run:
        for n, gr in c.leaves.items():
            r.gradients[n] = _arr(values[gr.node])
            r.connected[n] = gr.connected
        for n, gr in c.inter.items():
            r.intermediates[n] = _arr(values[gr.node])
    return r


def _hashable(jacobian):
    """A plan-cache key for the kind of derivative rows (directions by their bytes)."""
    if isinstance(jacobian, dict):
        return tuple((n, v.shape, v.dtype.str, v.tobytes()) for n, v in sorted(jacobian.items()))
    return jacobian


def _arr(v):
    """NumPy hands back scalars from 0-d arithmetic; the API promises arrays."""
    return v if type(v) is np.ndarray else np.asarray(v)


# ------------------------------------------------------------- module API
def compile(source: str, file: str = "<expr>", **options) -> Program:
    """Parse once; run many times with `.evaluate` and `.gradients`."""
    return Program(source, file, **options)


def evaluate(source: str, inputs: Optional[dict] = None, **options) -> dict:
    return Program(source, **options).evaluate(inputs)


def fit(source: str, data, *, mode: Optional[str] = None, dtype: str = "float64", **options):
    """Train a program's params on `data`; see `Program.fit`."""
    return Program(source, mode=mode, dtype=dtype).fit(data, **options)


def draw(source: str, inputs: Optional[dict] = None, backward: bool = False, **options):
    """Draw a program (text) as a `Drawing`; see `Program.draw`."""
    prog_opts = {k: options.pop(k) for k in ("mode", "dtype", "seed", "file") if k in options}
    file = prog_opts.pop("file", "<expr>")
    return Program(source, file, **prog_opts).draw(inputs, backward=backward, **options)


def explain(source: str, inputs: Optional[dict] = None, of: Optional[str] = None,
            wrt: Optional[Iterable[str]] = None, **options) -> Explanation:
    """The chain rule of a program's gradient; see `Program.explain`."""
    return Program(source, **options).explain(inputs, of=of, wrt=wrt)


def gradients(source: str, inputs: Optional[dict] = None, of: Optional[str] = None,
              wrt: Optional[Iterable[str]] = None, **options):
    return Program(source, **options).gradients(inputs, of=of, wrt=wrt)
