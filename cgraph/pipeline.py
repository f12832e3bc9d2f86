"""The compile pipeline, assembled once: build → check inputs → choose the
output → differentiate → optimise → plan.

Every caller — `Program` (static and eager), `cgraph check --passes`, batch
runs, `draw`, `jacobian`, `--explain` and `--check` — goes through
`compile_graph`, or through its stages in this order when it transforms the
graph between two of them (a batch run vectorises it before optimising).
The result is a `Compiled`: the graph, its plan, and which node is which
output and which gradient.

`program` is anything with the fields of `cgraph.program.Program`: `ast`,
`file`, `source`, `dtype`, `seed`, `max_iterations`, `max_memory`.
"""
from __future__ import annotations

from typing import Optional, Sequence

from .errors import CgraphError, Diagnostic, MissingInputs, NotScalar, name_list, nearest

MAX_NAMED = 20  # unknown names given a value that get a diagnostic each (the rest: counted)
from .records import Record

MAX_JACOBIAN_ROWS = 10_000  # output elements: one backward pass each


class Grad(Record):
    """Where ∂output/∂name lives, and whether the output depends on name at all."""

    __slots__ = ("node", "connected")
    node: int
    connected: bool


class Compiled(Record):
    """A built (and maybe differentiated, optimised and planned) program."""

    __slots__ = ("graph", "plan", "output", "outputs", "names", "leaves", "inter", "grad_ids",
                 "jacobian", "extra", "jacobian_mode")
    _defaults = {"plan": None, "output": None, "jacobian_mode": None}
    _factories = {"outputs": dict, "names": dict, "leaves": dict, "inter": dict,
                  "grad_ids": dict, "jacobian": dict, "extra": list}
    graph: object
    plan: object            # a cgraph.execute.Plan (static), or None (eager, or not planned)
    output: Optional[str]   # the chosen (differentiated) output
    outputs: dict           # output name -> node
    names: dict             # every top-level name -> node
    leaves: dict            # leaf name -> Grad
    inter: dict             # named non-leaf -> Grad (--all)
    grad_ids: dict          # forward node -> its gradient node (what the drawing shows)
    jacobian: dict          # leaf name -> derivative rows: the Jacobian's (one per output
                            # element), the Hessian's (jacobian="hessian"), or one J·v node
    extra: list             # more nodes to keep (every named value, for --all)
    jacobian_mode: Optional[str]  # "reverse" (rows) or "forward" (columns) for a Jacobian

    def targets(self) -> list:
        """Every node whose value a run must hand back."""
        out = list(self.outputs.values())
        out += [gr.node for gr in self.leaves.values()] + [gr.node for gr in self.inter.values()]
        for rows in self.jacobian.values():
            out += rows
        return out + self.extra

    def remapped(self, remap: dict) -> "Compiled":
        """The same, after a pass that renumbered nodes (`remap`: old id -> new id or None)."""
        m = remap.get
        # Each surviving node's gradient, for drawing. When several nodes became one
        # (x * 1 -> x, two equal exp(x) merged) no single original's gradient is the
        # merged node's, except for a leaf: it keeps its own (it is the total).
        merged: dict = {}
        for f, gi in sorted(self.grad_ids.items()):
            if m(f, f) is not None and m(gi, gi) is not None:
                merged.setdefault(m(f, f), []).append(m(gi, gi))
        nodes = self.graph.nodes
        grad_ids = {n: gis[0] for n, gis in merged.items()
                    if len(gis) == 1 or nodes[n].op.name in ("input", "leaf")}
        return self.replace(
            grad_ids=grad_ids,
            outputs={n: m(i, i) for n, i in self.outputs.items()},
            names={n: m(i, i) for n, i in self.names.items()},
            leaves={n: Grad(m(gr.node, gr.node), gr.connected) for n, gr in self.leaves.items()},
            inter={n: Grad(m(gr.node, gr.node), gr.connected) for n, gr in self.inter.items()},
            jacobian={n: [m(i, i) for i in rows] for n, rows in self.jacobian.items()},
            extra=[m(i, i) for i in self.extra])


# ------------------------------------------------------------------ stages
def new_graph(program, feed: Optional[dict] = None):
    """An empty graph for the program: eager (ops run as added) when `feed` is given."""
    from .ir import Graph

    return Graph(dtype=program.dtype, seed=program.seed, eager=feed is not None, feed=feed,
                 max_bytes=program.max_memory)


def build(program, feed: Optional[dict] = None, shapes: Optional[dict] = None,
          quiet: bool = False, values_only: bool = False):
    """The program's graph: eager on `feed`'s values, or static for these input shapes.
    `quiet`: the caller holds `np.errstate(all="ignore")`, the graph's ops need not;
    `values_only`: see `Graph.values_only`."""
    from .build import Builder

    g = new_graph(program, feed)
    g.quiet = quiet
    g.values_only = values_only and feed is not None
    Builder(program.ast, g, {} if feed is not None else dict(shapes or {}),
            program.max_iterations, max_depth=program.max_depth).build()
    return g


def check_inputs(program, g, given) -> None:
    """Every name given a value is a leaf of g, and every input has a value.

    An implicit input used only where this build did not go (an untaken branch)
    still is an input: it is added, with a zero gradient. Raises `MissingInputs`
    when the only trouble is inputs without values."""
    import numpy as np

    given = dict(given)
    errors = []
    for name in given:
        if name in g.dims and name not in g.leaves and name not in g.inputs:
            inp, axis = g.dims[name]
            errors.append(Diagnostic(
                "name", f"'{name}' is a named dim of input '{inp}' (its axis {axis}): its size comes "
                f"from the value of '{inp}', so it cannot be given a value", None,
                f"drop {name}=...; give '{inp}' a value with the size you want"))
    given = {k: v for k, v in given.items() if k not in g.dims}
    known = set(g.leaves) | set(g.inputs)
    unreached = [n for n in given if n not in known and n not in g.names]
    if unreached:
        from .ast_walk import free_names
        from .build import CONSTANTS

        free = free_names(program.ast, CONSTANTS)
        for name in unreached:
            if name in free:
                shape = tuple(np.shape(given[name])) if given[name] is not None else ()
                g.names.setdefault(name, g.leaf(name, "input", shape=shape))
        known = set(g.leaves) | set(g.inputs)
    unknown = []
    for name in given:
        if name in known:
            continue
        if name in g.frozen:
            errors.append(Diagnostic(
                "value", f"'{name}' decides the graph's structure (a range bound, a shape or "
                "an axis), so it cannot be given a value", g.nodes[g.names[name]].span
                if name in g.names else None, f"change '{name}' in the program instead"))
        elif name in g.names:
            errors.append(Diagnostic("name", f"'{name}' is computed by the program, not a leaf: "
                                     "it cannot be given a value", None))
        else:
            unknown.append(name)
    for name in unknown[:MAX_NAMED]:
        near = nearest(name, known)
        errors.append(Diagnostic("name", f"a value was given for '{name}', which the program "
                                 "does not have", None,
                                 f"did you mean '{near}'?" if near else
                                 "its leaves are: " + (name_list(g.leaves) or "none")))
    if len(unknown) > MAX_NAMED:
        errors.append(Diagnostic("name", f"… and values for {len(unknown) - MAX_NAMED:,} more names "
                                 "the program does not have", None,
                                 "its leaves are: " + (name_list(g.leaves) or "none")))
    missing = [n for n in g.inputs if n not in given]
    if missing:
        givens = [n for n in given if n not in known]
        hint = None
        for m in missing:
            # a free name may be a typo of a bound one; a declared input is not
            declared = g.nodes[g.inputs[m]].attrs.get("declared")
            near = nearest(m, givens if declared else
                           givens + [n for n in g.names if n not in g.inputs])
            if near in givens:  # the given name is the typo
                hint = f"the value given for '{near}' looks meant for '{m}': did you mean {m}=...?"
                break
            if near:  # the program's free name is the typo
                hint = f"'{m}' looks like a misspelling of '{near}'"
                break
        errors.append(Diagnostic("value", "no value for input" + ("s " if len(missing) > 1 else " ")
                                 + name_list(f"'{m}'" for m in missing),
                                 g.nodes[g.inputs[missing[0]]].span,
                                 hint or "give it a value: " + " ".join(f"{m}=..." for m in missing)
                                 + " on the command line (or --inputs FILE), or in the inputs "
                                 "dict in Python"))
    if errors:
        exc = MissingInputs(errors, missing) if len(errors) == 1 and missing else CgraphError(errors)
        raise exc.with_source(program.file, program.source)


def choose_output(g, of: Optional[str] = None) -> str:
    """The output to differentiate (`--of`, else the first); `--of` naming a
    non-output value makes it the only output."""
    if of is not None and of not in g.names and of not in g.outputs:
        near = nearest(of, list(g.names) + list(g.outputs))
        raise CgraphError(f"cannot differentiate '{of}': the program has no value of that name",
                          kind="name", hint=f"did you mean '{near}'?" if near else
                          "its outputs are: " + (name_list(g.outputs) or "none"))
    name = of or next(iter(g.outputs), None)
    if name is None:
        raise CgraphError("the program has no output", kind="value",
                          hint="end it with an expression or name one with `output y`")
    if of is not None and of not in g.outputs:
        g.outputs = {of: g.names[of]}
    return name


def output_node(g, name: str) -> int:
    return g.outputs.get(name, g.names.get(name))


def choose_wrt(g, wrt: Optional[Sequence[str]] = None) -> dict:
    """The leaves (or named values) to differentiate with respect to: name -> node."""
    leaves = dict(g.leaves)
    if wrt is None:
        return leaves
    for w in wrt:
        if w not in leaves and w not in g.names:
            near = nearest(w, list(leaves) + list(g.names))
            raise CgraphError(f"cannot differentiate with respect to '{w}': the program has no "
                              "value of that name", kind="name",
                              hint=f"did you mean '{near}'?" if near else
                              "its leaves are: " + (name_list(leaves) or "none"))
        if w not in leaves and g.nodes[g.names[w]].op.name == "const":
            raise CgraphError(f"cannot differentiate with respect to '{w}': it is a constant "
                              "(consts are never differentiated)", kind="value",
                              span=g.nodes[g.names[w]].span,
                              hint=f"bind it with `{w} = ...` or `param {w} = ...` to get its gradient")
    return {w: leaves.get(w, g.names.get(w)) for w in wrt}


def differentiate(c: Compiled, wrt=None, all_names: bool = False,
                  values_only: bool = False) -> Compiled:
    """Add the backward graph of c's (scalar) output; record each gradient's node.
    `values_only`: only the gradients' values are wanted; an eager graph of scalars then
    gets them on Python floats (`cgraph.float_backward`), one constant node each."""
    from .autodiff import backward

    g = c.graph
    y = output_node(g, c.output)
    node = g.nodes[y]
    if node.shape != ():
        from .shape_math import fmt

        raise NotScalar(f"'{c.output}' has shape {fmt(node.shape)}; a gradient needs a scalar "
                        "output", kind="type", span=node.span,
                        hint="differentiate sum(...) or mean(...) of it, or use `cgraph jacobian`")
    leaves = choose_wrt(g, wrt)
    targets = dict(leaves)
    if all_names:
        for n, i in g.names.items():
            if n not in g.leaves and i not in targets.values():
                targets[n] = i
    g.span = node.span
    if values_only and g.scalars and _float_gradients(c, g, y, leaves, targets):
        return c
    grads = backward(g, y, list(targets.values()))
    reach = g.needed([y])
    c.grad_ids = dict(grads)  # every visited node -> its gradient node (drawing)
    for n, i in targets.items():
        (c.leaves if n in leaves else c.inter)[n] = Grad(grads[i], bool(reach[i]))
    return c


def _float_gradients(c: Compiled, g, y: int, leaves: dict, targets: dict) -> bool:
    """c's gradients by `cgraph.float_backward`, each a constant node; False (nothing
    added) where that cannot run them."""
    from .float_backward import gradients

    got = gradients(g, y, list(targets.values()))
    if got is None:
        return False
    reach = None
    for n, i in targets.items():
        v = got[i]
        if v is None:  # no cotangent reached it: zeros, connected or not
            if reach is None:
                reach = g.needed([y])
            gr = Grad(g.add("zeros_like", (i,)), bool(reach[i]))
        else:
            gr = Grad(g.const(v), True)
        (c.leaves if n in leaves else c.inter)[n] = gr
    return True


def differentiate_rows(c: Compiled, wrt=None, mode_ad: Optional[str] = None) -> Compiled:
    """Add the Jacobian of c's output: one backward pass per output element (its
    rows, reverse mode), or one forward pass per input element (its columns,
    `c.jacobian_mode` = "forward"): forward when the leaves have fewer elements than
    the output, unless `mode_ad` says "forward" or "reverse"."""
    from .autodiff import jacobian_rows
    from .shape_math import fmt, size

    g = c.graph
    y = output_node(g, c.output)
    node = g.nodes[y]
    if node.dtype not in ("float32", "float64"):
        raise CgraphError(f"'{c.output}' is {node.dtype}: it is not differentiable", kind="type",
                          span=node.span)
    m = size(node.shape)
    if m > MAX_JACOBIAN_ROWS:
        raise CgraphError(f"'{c.output}' has {m:,} elements ({fmt(node.shape)}); a Jacobian of "
                          f"more than {MAX_JACOBIAN_ROWS:,} rows is too big to print", kind="value",
                          span=node.span, hint="take a slice or a reduction of the output first")
    leaves = choose_wrt(g, wrt)
    reach = g.needed([y])
    n_in = sum(size(g.nodes[i].shape) for i in leaves.values())
    if mode_ad == "forward" or (mode_ad is None and 0 < n_in < m):
        c.jacobian_mode = "forward"  # fewer inputs than outputs: one J·e_j per input element
        for n, i in leaves.items():
            c.jacobian[n] = _forward_columns(g, y, i, node.span)
            c.leaves[n] = Grad(i, bool(reach[i]))
        return c
    c.jacobian_mode = "reverse"
    rows = jacobian_rows(g, y, list(leaves.values()), node.span)
    for k, (n, i) in enumerate(leaves.items()):
        c.jacobian[n] = [row[k] for row in rows]
        c.leaves[n] = Grad(i, bool(reach[i]))  # the leaf itself: its shape, when m is 0
    return c


def _forward_columns(g, y: int, x: int, span) -> list:
    """The Jacobian's columns for leaf x: J·e_j for every element j of x (forward mode),
    each seed an unfolded one-hot node (as jacobian_rows' are)."""
    import numpy as np

    from .autodiff import forward
    from .shape_math import size

    shape = g.nodes[x].shape
    cols = []
    saved_span, saved_fold = g.span, g.fold
    g.span, g.fold = span, False
    try:
        one = g.const(1.0, span)
        for k in range(size(shape)):
            at = tuple(("int", int(i)) for i in np.unravel_index(k, shape))
            e = g.add("index_grad", (one,), {"shape": list(shape), "items": at})
            cols.append(forward(g, y, x, e) if g.varies[x] else g.add("zeros_like", (y,)))
    finally:
        g.span, g.fold = saved_span, saved_fold
    return cols


def differentiate_twice(c: Compiled, wrt=None) -> Compiled:
    """Add the Hessian of c's scalar output: for each leaf w, the rows of the
    Jacobian of ∂y/∂w with respect to w (reverse over reverse), in c.jacobian."""
    from .autodiff import jacobian_rows
    from .shape_math import size

    differentiate(c, wrt)
    g = c.graph
    for n, gr in c.leaves.items():
        w = g.leaves.get(n, g.names.get(n))
        m = size(g.nodes[w].shape)
        if m > MAX_JACOBIAN_ROWS:
            raise CgraphError(f"'{n}' has {m:,} elements: a Hessian of more than "
                              f"{MAX_JACOBIAN_ROWS:,} rows is too big", kind="value",
                              span=g.nodes[w].span, hint="name fewer leaves with --wrt")
        c.jacobian[n] = [row[0] for row in jacobian_rows(g, gr.node, [w], g.nodes[w].span)]
    return c


def differentiate_along(c: Compiled, along: dict) -> Compiled:
    """Add J·v for each leaf named in `along` (name -> direction, the leaf's shape):
    forward mode, in c.jacobian (one node each)."""
    from .autodiff import forward
    from .shape_math import fmt

    g = c.graph
    y = output_node(g, c.output)
    leaves = choose_wrt(g, list(along))
    reach = g.needed([y])
    for n, i in leaves.items():
        v = along[n]
        if tuple(getattr(v, "shape", ())) != tuple(g.nodes[i].shape or ()):
            raise CgraphError(f"the direction for '{n}' has shape {fmt(getattr(v, 'shape', ()))}, "
                              f"'{n}' has {fmt(g.nodes[i].shape)}", kind="shape",
                              hint="give it the leaf's shape")
        g.span = g.nodes[y].span
        c.jacobian[n] = [forward(g, y, i, g.const(v)) if g.varies[i] else g.add("zeros_like", (y,))]
        c.leaves[n] = Grad(i, bool(reach[i]))
    return c


def optimise(c: Compiled, report: Optional[list] = None, fusion: bool = True) -> Compiled:
    """Run the optimiser's passes over c's graph, keeping every target (`fusion`:
    with the run-time fusion of elementwise regions; export writes the graph unfused)."""
    from .optimize import optimize

    return c.remapped(optimize(c.graph, c.targets(), report=report, fusion=fusion))


def make_plan(c: Compiled, keep_all: bool = False) -> Compiled:
    """Plan the run of a static graph. `keep_all` keeps the value of every node
    the targets and gradients need, not only theirs: what a drawing shows."""
    from .execute import Plan

    targets = c.targets()
    if keep_all:
        g = c.graph
        need = g.needed(targets + list(c.grad_ids.values()) + list(g.effects))
        targets = [i for i in range(len(g.nodes)) if need[i]]
    c.plan = Plan(c.graph, targets)
    g = c.graph
    if c.plan.scalar and 8 * len(c.plan.order) + g.held <= g.max_bytes:
        return c  # at most 8 bytes a value: within the limit without planning NumPy memory
    need = c.plan.peak_bytes + g.held
    if need > g.max_bytes:  # the whole run, checked before anything runs
        from .ir import human_bytes

        raise CgraphError(f"the run needs {human_bytes(need)} at its peak (its memory plan: "
                          f"{human_bytes(c.plan.peak_bytes)} of values live at once, "
                          f"{human_bytes(g.held)} of constants), more than the memory limit of "
                          f"{human_bytes(g.max_bytes)}", kind="value",
                          hint="make the values smaller, or raise the limit (--max-memory; "
                               "max_memory= in Python)")
    return c


# ---------------------------------------------------------------- assembled
def front(program, *, feed: Optional[dict] = None, shapes: Optional[dict] = None,
          given: Optional[dict] = None, of: Optional[str] = None, grad: bool = False,
          jacobian: bool = False, wrt=None, all_names: bool = False,
          values_only: bool = False) -> Compiled:
    """Build, check the given names, choose the output and differentiate.

    `feed` (values) builds eagerly; else `shapes` builds a static graph. `given`
    (names -> value or None) is what the caller will supply; None skips the check
    (drawing a structure, `check --passes`). `values_only`: see `differentiate`."""
    if feed is None:
        return _front(program, None, shapes, given, of, grad, jacobian, wrt, all_names)
    import numpy as np

    with np.errstate(all="ignore"):  # once for every op an eager build runs
        return _front(program, feed, shapes, given, of, grad, jacobian, wrt, all_names, values_only)


def _front(program, feed, shapes, given, of, grad, jacobian, wrt, all_names,
           values_only=False) -> Compiled:
    g = build(program, feed=feed, shapes=shapes, quiet=feed is not None,
              values_only=values_only)
    try:
        return _differentiated(program, g, given, of, grad, jacobian, wrt, all_names, values_only)
    finally:
        g.quiet = False


def _differentiated(program, g, given, of, grad, jacobian, wrt, all_names,
                    values_only=False) -> Compiled:
    if given is not None:
        check_inputs(program, g, given)
    try:
        c = Compiled(graph=g, output=choose_output(g, of))
        c.outputs, c.names = dict(g.outputs), dict(g.names)
        if all_names:
            c.extra = list(g.names.values())
        if jacobian == "hessian":
            differentiate_twice(c, wrt)
        elif isinstance(jacobian, dict):  # directions: J·v, forward mode
            differentiate_along(c, jacobian)
        elif jacobian:
            differentiate_rows(c, wrt, jacobian if jacobian in ("forward", "reverse") else None)
        elif grad:
            differentiate(c, wrt, all_names, values_only)
    except CgraphError as exc:
        raise exc.with_source(program.file, program.source) from None
    return c


def compile_graph(program, *, feed: Optional[dict] = None, shapes: Optional[dict] = None,
                  given: Optional[dict] = None, of: Optional[str] = None, grad: bool = False,
                  jacobian: bool = False, wrt=None, all_names: bool = False,
                  optimize: bool = False, plan: bool = True, keep_all: bool = False,
                  values_only: bool = False) -> Compiled:
    """The whole pipeline. An eager build (`feed`) has run already: no plan.
    `values_only`: only the gradients' values are wanted (see `differentiate`)."""
    c = front(program, feed=feed, shapes=shapes, given=given, of=of, grad=grad,
              jacobian=jacobian, wrt=wrt, all_names=all_names, values_only=values_only)
    if feed is not None:
        return c
    if optimize:
        c = optimise(c)
    return make_plan(c, keep_all) if plan else c
