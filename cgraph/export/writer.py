"""A compiled graph written out as the lines of a Python function.

`Lines` walks the graph's node list once, in order (nothing recursive), and
writes one assignment per node that is worth a name — a program's binding, a
gradient (`d_x` is ∂output/∂x), a value used twice — inlining a value used
once into the line that uses it, so the chain rule reads as it is applied:
`d_h = d_z @ W.T`. Constants become literals, or module-level arrays.
"""
from __future__ import annotations

import numpy as np

from .code import ExportError, Site, identifier, literal

MAX_INLINE = 72  # characters: a longer expression gets its own line
SMALL_ARRAY = 16  # elements: written as a list literal; larger ones as base64 bytes


class Module:
    """What every function of the module shares: names taken, constants, helpers."""

    def __init__(self, lib):
        self.lib = lib
        self.taken: set = set()
        self.consts: list = []   # (name, source)
        self.used: set = set()   # helpers
        self.scopes: list = []      # the local names of every function written so far
        self.leaf_names: dict = {}  # program name -> identifier
        self.const_names: dict = {}  # (dtype, shape, bytes) -> module constant

    def leaf(self, name: str) -> str:
        if name not in self.leaf_names:
            self.leaf_names[name] = identifier(name, self.taken)
        return self.leaf_names[name]

    def const(self, value, hint: str = "") -> str:
        arr = np.asarray(value)
        if arr.ndim == 0:
            return self.lib.scalar(arr)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key in self.const_names:
            return self.const_names[key]
        taken = self.taken.union(*self.scopes)  # a constant made while writing a function
        name = self.const_names[key] = identifier(hint or f"C{len(self.consts) + 1}", taken)
        self.taken.add(name)
        self.consts.append((name, self.lib.array(arr, SMALL_ARRAY)))
        return name


def constants(m: Module, g, order) -> None:
    """Name the array constants of these nodes before any function is written, so
    no local name can hide one."""
    for i in order:
        n = g.nodes[i]
        if n.op.name == "const":
            m.const(n.attrs["value"], hint=n.name or "")


class Lines:
    """The statements computing `targets` of graph g, with names for them."""

    def __init__(self, module: Module, g, targets, names: dict, grad_of: dict,
                 first: int = 0, marks: dict = None, given: dict = None, local: set = None):
        self.m, self.g = module, g
        self.targets = list(targets)
        self.names = dict(names)     # node -> preferred identifier text (program names)
        self.grad_of = grad_of       # gradient node -> forward node name (d_<name>)
        self.marks = marks or {}     # node -> comment line written before it
        self.given = given or {}     # input node -> its expression (a loop body's inputs)
        if local is None:
            local = set(module.taken)
            module.scopes.append(local)
        self.local: set = local
        self.expr: dict = {}
        self.body: list = []

    def write(self, order) -> None:
        nodes = self.g.nodes
        uses: dict = {}
        consumer: dict = {}
        for i in order:
            for j in nodes[i].inputs:
                uses[j] = uses.get(j, 0) + 1
                consumer[j] = i
        reuses = self.m.lib.reuses
        lits: set = set()
        for t in self.targets:
            uses[t] = uses.get(t, 0) + 2
        for i in order:
            n = nodes[i]
            op = n.op.name
            if i in self.marks:
                self.body.append("")
                self.body.extend(f"# {text}" for text in self.marks[i].split("\n"))
            if op in ("input", "leaf"):
                self.expr[i] = self.given[i] if i in self.given else self.m.leaf(n.name)
                continue
            if op == "loop":
                self.expr[i] = self._loop(i, n)
                continue
            if op == "const":
                self.expr[i] = self.m.const(n.attrs["value"])
                if np.ndim(n.attrs["value"]) == 0:
                    lits.add(i)
                continue
            if op in ("print", "assert"):
                self.body.append(self._effect(n))
                continue
            emit = self.m.lib.emit.get(op)
            if emit is None:
                raise ExportError(f"the op '{op}' cannot be exported to {self.m.lib.name}",
                                  kind="usage", span=n.span)
            args = [self.expr[j] for j in n.inputs]
            mixed = n.dtype.startswith("float") and any(nodes[j].dtype in ("bool", "int64")
                                                        for j in n.inputs)
            keep = self.m.lib.keep_dtype.get(op, ())
            if mixed and self.m.lib.cast_inputs:  # torch: mean(bool) is an error
                args = [self.m.lib.cast(a, n.dtype) if nodes[j].dtype in ("bool", "int64")
                        and k not in keep else a for k, (j, a) in enumerate(zip(n.inputs, args))]
            site = Site(n, args, [nodes[j].shape for j in n.inputs], self.m.lib, self.m.used,
                        [j in lits for j in n.inputs], [nodes[j].dtype for j in n.inputs],
                        self.m.const)
            text = emit(site)
            if mixed and not self.m.lib.cast_inputs:  # NumPy sums booleans to integers
                text = self.m.lib.cast(text, n.dtype)
            name = self._name(i, n)
            if name is None and uses.get(i, 0) == 1 and len(text) <= MAX_INLINE and \
                    nodes[consumer[i]].op.name not in reuses:
                self.expr[i] = text
                continue
            name = name or identifier("t", self.local)
            where = f"  # line {n.span.line}" if n.span.line else ""
            self.body.append(f"{name} = {text}{where}")
            self.expr[i] = name

    def _loop(self, i, n) -> str:
        """A loop node as a Python for loop over its body's lines."""
        lib, a = self.m.lib, n.attrs
        body = a["body"]
        shapes = body.shapes
        args = [self.expr[j] for j in n.inputs]
        name = self._name(i, n) or identifier("carry", self.local)
        carries = [name] if len(shapes) == 1 else [identifier(f"{name}_{k}", self.local)
                                                   for k in range(len(shapes))]
        out = self.body
        where = f"  # line {n.span.line}" if n.span.line else ""
        out.append(f"# {'a reverse loop' if a['step'] < 0 and a['start'] > 0 else 'a loop'}: "
                   f"{a['n']:,} iterations{where[3:] and ', ' + where[4:]}")
        if len(shapes) == 1:
            first = self.g.nodes[n.inputs[0]]
            literal_start = first.op.name == "const" and np.ndim(first.attrs["value"]) == 0
            out.append(f"{carries[0]} = {lib.tensor(args[0]) if literal_start else args[0]}")
        else:
            at = 0
            for c, sh in zip(carries, shapes):
                size = int(np.prod(sh))
                out.append(f"{c} = {lib.part(args[0], at, size, literal(tuple(sh)))}")
                at += size
        rows = identifier(f"{name}_rows", self.local) if a.get("history") else None
        if rows:
            out.append(f"{rows} = [{lib.join(carries)}]")
        k = identifier("k", self.local)
        start, step = a["start"], a["step"]
        index = f"float({k})" if (start, step) == (0.0, 1.0) else f"{literal(start)} + {literal(step)} * {k}"
        given = {}
        if body.index is not None:  # torch: a tensor (torch.tanh(2.0) is an error)
            given[body.index] = lib.tensor(index)
        given.update({c: v for c, v in zip(body.carries, carries) if c is not None})
        given.update({c: v for c, v in zip(body.captures, args[1:]) if c is not None})
        inner = Lines(self.m, body.graph, body.outs, node_names_of(body.graph), {}, given=given,
                      local=self.local)
        inner.write(forward_order(body.graph, body.outs))
        out.append(f"for {k} in range({a['n']}):")
        new = [inner.expr[o] for o in body.outs]
        lines = inner.body + [f"{', '.join(carries)} = {', '.join(new)}"]
        if rows:
            lines.append(f"{rows}.append({lib.join(carries)})")
        out.extend("    " + line for text in lines for line in text.split("\n"))
        if rows:
            out.append(f"{rows} = {lib.stack(rows)}")
            return rows
        if len(carries) == 1:
            return carries[0]
        out.append(f"{name} = {lib.join(carries)}")  # the loop's value: its carries joined
        return name

    def _name(self, i, n):
        if i in self.grad_of:
            return identifier("d_" + self.grad_of[i], self.local)
        if i in self.names:
            return identifier(self.names[i], self.local)
        return None

    def _effect(self, n) -> str:
        args = [self.expr[j] for j in n.inputs]
        if n.op.name == "assert":
            msg = n.attrs.get("message") or "assertion failed"
            return f"if not {self.m.lib.all_true(args[0])}:\n    raise AssertionError({literal(msg)})"
        self.m.used.add("show")
        parts = n.attrs.get("parts") or [("val", k) for k in range(len(args))]
        items = [literal(p[1]) if p[0] == "str" else f"show({args[p[1]]})" for p in parts]
        return f"print({', '.join(items)}, flush=True)"


def forward_order(g, roots) -> list:
    need = g.needed(list(roots) + list(g.effects))
    return [i for i in range(len(g.nodes)) if need[i]]


def node_names_of(g) -> dict:
    """node -> the program's name for it, in a loop body (its carried names)."""
    return {i: n.name for i, n in enumerate(g.nodes)
            if n.name and not n.name.startswith("#") and n.op.name not in ("input", "leaf", "const")}


def node_names(c) -> dict:
    """node -> the program's name for it (its newest binding's node keeps the name)."""
    names = {}
    nodes = c.graph.nodes
    for i, n in enumerate(nodes):
        if n.name and n.op.name not in ("input", "leaf", "const"):
            names[i] = n.name
    for name, i in c.outputs.items():
        if i is not None and nodes[i].op.name not in ("input", "leaf", "const"):
            names[i] = name
    return names
