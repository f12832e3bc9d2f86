"""A program exported as a standalone Python module (`cgraph export`).

The module has `forward(inputs) -> {output: value}` and
`gradients(inputs, wrt=None) -> (value, {name: gradient})`, mirroring
`cgraph.Program`. The graphs come from the pipeline (built for the inputs'
shapes, differentiated, optimised without run-time fusion); the NumPy module
writes the backward pass out line by line (the graph autodiff made), the
PyTorch module runs the forward graph and lets `torch.autograd` differentiate
it. The module imports NumPy or torch (and the standard library), never cgraph.
"""
from __future__ import annotations

from typing import Optional

from .code import ExportError, identifier, literal
from .writer import Lines, Module, constants, forward_order, node_names

TARGETS = ("numpy", "torch")


def library(to: str):
    if to == "numpy":
        from . import numpy_ops

        return numpy_ops.LIB
    if to == "torch":
        from . import torch_ops

        return torch_ops.LIB
    raise ExportError(f"cannot export to {to!r}", kind="usage",
                      hint="--to numpy or --to torch")


def graphs(program, inputs: Optional[dict] = None, of: Optional[str] = None):
    """(forward Compiled, gradient Compiled or the NotScalar error) for export."""
    from .. import pipeline
    from ..errors import NotScalar

    feed = program.feed(inputs)
    shapes = {n: v.shape for n, v in feed.items()}
    fwd = pipeline.front(program, shapes=shapes, of=of)
    # an input declared without a shape, and given no example value, is a scalar
    loose = {n: () for n, i in fwd.graph.inputs.items()
             if n not in shapes and fwd.graph.nodes[i].shape is None}
    if loose:
        shapes.update(loose)
        fwd = pipeline.front(program, shapes=shapes, of=of)
    try:
        grad = pipeline.front(program, shapes=shapes, of=of, grad=True)
    except NotScalar as exc:
        grad = exc
    out = []
    for c in (fwd, grad):
        if isinstance(c, Exception):
            out.append(c)
            continue
        c = pipeline.optimise(c, fusion=False)
        _check_known(c, program)
        out.append(c)
    return out[0], out[1]


def _check_known(c, program) -> None:
    g = c.graph
    need = g.needed(c.targets() + list(g.effects))
    for i, n in enumerate(g.nodes):
        if need[i] and (n.shape is None or None in n.shape):
            what = f"'{n.name}'" if n.name else "a value"
            raise ExportError(f"the shape of {what} is not known, and an exported module is "
                              "written for fixed shapes", kind="shape", span=n.span,
                              hint="declare the inputs' shapes (input x: [3]) or give example "
                                   "values: cgraph export model.cg x=[1,2,3]").with_source(
                program.file, program.source)


def export_source(program, to: str = "numpy", inputs: Optional[dict] = None,
                  of: Optional[str] = None) -> str:
    """The module's source text."""
    lib = library(to)
    fwd, grad = graphs(program, inputs, of)
    has_grad = not isinstance(grad, Exception)
    m = Module(lib)
    leaves = _leaves(fwd, grad if has_grad else None)
    for name in leaves:
        m.leaf(name)
    defaults = {n: m.const(node.attrs["default"], hint=n) for n, node in leaves.items()
                if node.attrs.get("default") is not None}
    for c in (fwd, grad) if has_grad else (fwd,):
        constants(m, c.graph, forward_order(c.graph, c.targets()))
    forward_fn = _forward(m, fwd, leaves)
    if not has_grad:
        grad_fn = _no_gradients(grad)
    elif lib.name == "numpy":
        grad_fn = _numpy_gradients(m, grad, leaves)
    else:
        grad_fn = lib.gradients(m, grad, leaves)
    if any(text.startswith("array(") for _, text in m.consts):
        m.used.add("array")
    head = _header(m, program, fwd, grad, leaves, to)
    helpers = [lib.helpers[h].strip("\n") for h in lib.helper_order if h in m.used]
    consts = [f"{name} = {text}" for name, text in m.consts]
    consts.append(f"DEFAULTS = {{{', '.join(f'{literal(n)}: {v}' for n, v in defaults.items())}}}")
    parts = [head] + helpers + ["\n".join(consts), lib.read_fn, forward_fn, grad_fn]
    return "\n\n\n".join(p for p in parts if p) + "\n"


def _leaves(fwd, grad) -> dict:
    """program name -> (leaf node, graph) of every input and param, in program order."""
    out: dict = {}
    for c in (fwd, grad):
        if c is None:
            continue
        g = c.graph
        for i, n in enumerate(g.nodes):
            if n.op.name in ("input", "leaf") and n.name not in out:
                out[n.name] = n
    return out


def _header(m, program, fwd, grad, leaves, to) -> str:
    lib = m.lib
    shapes = {n: tuple(node.shape) for n, node in leaves.items()}
    wrt = list(grad.leaves) if not isinstance(grad, Exception) else []
    out = grad.output if not isinstance(grad, Exception) else fwd.output
    lines = [
        f'"""A cgraph program exported to {lib.title}: forward() and gradients().',
        "",
        "    forward(inputs)              -> {output name: value}",
        "    gradients(inputs, wrt=None)  -> (value of OUTPUT, {name: d OUTPUT / d name})",
        "",
        "`inputs` maps names to values (numbers or arrays of the shapes in SHAPES);",
        "names with a DEFAULTS entry may be left out. Written for these shapes: the",
        "graph was built, differentiated and optimised for them. Made by `cgraph",
        f'export --to {to}`; it needs {lib.title} only."""',
        *lib.imports(m.used),
        "",
        f"SOURCE = {literal(program.file)}",
        f"DTYPE = {lib.dtype(program.dtype)}",
        f"OUTPUT = {literal(out)}",
        f"SHAPES = {{{', '.join(f'{literal(n)}: {literal(s)}' for n, s in shapes.items())}}}",
        f"WRT = {literal(tuple(wrt))}  # the names gradients() differentiates by default",
    ]
    return "\n".join(lines)


def _call_leaves(m, leaves) -> str:
    names = [m.leaf_names[n] for n in leaves]
    if not names:
        return "read(inputs)"
    return f"{', '.join(names)}{',' if len(names) == 1 else ''} = read(inputs)"


def _forward(m, c, leaves) -> str:
    g = c.graph
    lines = Lines(m, g, list(c.outputs.values()), node_names(c), {})
    lines.write(forward_order(g, c.outputs.values()))
    ret = ", ".join(f"{literal(n)}: {m.lib.result(lines.expr[i])}" for n, i in c.outputs.items())
    if m.lib.name == "torch":  # run(): the graph, which gradients() differentiates
        args = ", ".join(m.leaf_names[n] for n in leaves)
        body = ['"""The forward graph: the program\'s outputs, by name."""'] + lines.body + [
            f"return {{{ret}}}"]
        return f"def run({args}):\n" + _indent(body) + "\n\n\n" + "\n".join([
            "def forward(inputs):", "    " + m.lib.forward_doc, "    with torch.no_grad():",
            "        return run(*read(inputs))"])
    body = [m.lib.forward_doc, _call_leaves(m, leaves)] + lines.body + [f"return {{{ret}}}"]
    return m.lib.decorate("forward(inputs)") + _indent(body)


def _numpy_gradients(m, c, leaves) -> str:
    g = c.graph
    y = c.outputs[c.output]
    fwd_need = g.needed([y] + list(g.effects))
    grad_nodes = [gr.node for gr in c.leaves.values()]
    need = g.needed([y] + grad_nodes + list(g.effects))
    order = [i for i in range(len(g.nodes)) if need[i] and fwd_need[i]]
    back = [i for i in range(len(g.nodes)) if need[i] and not fwd_need[i]]
    grad_of = {}
    nodes = g.nodes
    for f, gi in c.grad_ids.items():
        n = nodes[f]
        if gi is not None and not fwd_need[gi] and gi not in grad_of and n.name:
            grad_of[gi] = n.name  # ∂output/∂(a named value): d_<name>
    marks = {back[0]: f"backward: the chain rule from {identifier(c.output, set())} back to "
                      "the leaves\n(d_x is the gradient of the output with respect to x)"} \
        if back else {}
    lines = Lines(m, g, [y] + grad_nodes, node_names(c), grad_of, marks=marks)
    lines.write(order + back)
    ys = lines.expr[y]
    tail = []
    for name, gr in c.leaves.items():
        want = "d_" + m.leaf_names[name]
        have = lines.expr[gr.node]
        if have != want:
            tail.append(f"{want} = {have}")
    grads = ", ".join(f"{literal(n)}: {m.lib.result('d_' + m.leaf_names[n])}" for n in c.leaves)
    body = [m.lib.gradients_doc, _call_leaves(m, leaves)] + lines.body + tail + [
        f"grads = {{{grads}}}",
        "return " + m.lib.result(ys) + ", pick(grads, wrt)"]
    m.used.add("pick")
    return m.lib.decorate("gradients(inputs, wrt=None)") + _indent(body)


def _no_gradients(exc) -> str:
    return "\n".join([
        "def gradients(inputs, wrt=None):",
        '    """Not available: the output is not a scalar."""',
        f"    raise ValueError({literal(exc.message)})"])


def _indent(lines) -> str:
    out = []
    for text in lines:
        for line in text.split("\n"):
            out.append(("    " + line) if line else "")
    return "\n".join(out)


def write_module(path: str, text: str) -> None:
    """Write the module atomically (a half-written module never replaces a good one)."""
    from ..atomic import atomic_open

    with atomic_open(path, "w") as fp:
        fp.write(text)
