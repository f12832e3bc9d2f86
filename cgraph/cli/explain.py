"""`cgraph grad --explain`: the chain rule, node by node, as the seed tutorial writes it.

For Y = (a+b)*(b-c) written as `d = a + b; e = b - c; Y = d * e`:

    ∂Y/∂d = e = -1
    ∂Y/∂e = d = 5
    ∂Y/∂a = ∂Y/∂d·∂d/∂a = e·1 = e = -1·1 = -1
    ∂Y/∂b = ∂Y/∂d·∂d/∂b + ∂Y/∂e·∂e/∂b = e·1 + d·1 = e + d = -1·1 + 5·1 = 4
    ∂Y/∂c = ∂Y/∂e·∂e/∂c = d·(-1) = -d = 5·(-1) = -5

It walks the run's forward graph (`Result.graph.nodes` up to the output):
symbolic local derivatives are the registry's `partials` templates
({0}, {1} = the op's input names, {out} = its output), the numbers come from
the registry's derivative rules (each op's VJP, run on the actual values), so
nothing here knows a derivative by itself. Unnamed intermediates are called
t1, t2, ... and listed in the forward pass (`t1 = a + b = 5`). Tensors show
their shape and norm instead of their values.

`explain(result, feed, digits) -> list[str]` gives the lines;
`explain_data(...)` the same as structured data (for --json).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..nonfinite import all_values
from .output import fmt_number, shape_text

_ATOM = re.compile(r"[\w.#]+|\d[\w.+\-]*|∂[\w.#]+/∂[\w.#]+")


_CALL = re.compile(r"[\w.]+\((.*)\)")


SMALL_SHOWN = 8     # tensors with at most this many elements are shown by their values
WIDTH = 160         # longer lines break before ' = ' and ' + '
FOCUS_LINES = 40    # past this many derivatives, say how to focus
REPEAT_RUN = 8      # this many derivatives from one source line in a row (a loop): grouped

def _atomic(text: str) -> bool:
    """A name, a number, or a call f(...) whose parentheses enclose all the rest."""
    if _ATOM.fullmatch(text):
        return True
    m = _CALL.fullmatch(text)
    if not m:
        return False
    depth = 0
    for ch in m.group(1):
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0


def _paren(text: str) -> str:
    return text if _atomic(text) else f"({text})"


def _first(text: str) -> str:
    """A product's first factor: a leading minus needs no parentheses."""
    return text if _atomic(text) or (text.startswith("-") and _atomic(text[1:])) else f"({text})"


def _unparen(text: str) -> str:
    """(x) -> x when the parentheses enclose everything."""
    if text.startswith("(") and text.endswith(")") and _atomic("f" + text):
        return text[1:-1]
    return text


def _neg(text: str) -> str:
    if text.startswith("-") and _atomic(text[1:]):
        return text[1:]
    return "-" + _paren(text)


def _times(a: str, b: str) -> str:
    """a·b, simplified: 1·x = x, x·(-1) = -x, 0·x = 0."""
    if a == "0" or b == "0":
        return "0"
    if b == "1":
        return a
    if a == "1":
        return b
    if b == "-1":
        return _neg(a)
    if a == "-1":
        return _neg(b)
    return f"{_first(a)}·{_paren(b)}"


def _conditional(text: str) -> bool:
    """`a if c else b` outside every parenthesis: it binds looser than + and -."""
    depth = 0
    for k, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and text.startswith(" if ", k):
            return True
    return False


def _sum(terms: list[str]) -> str:
    terms = [t for t in terms if t != "0"] or ["0"]
    if len(terms) > 1:
        terms = [f"({t})" if _conditional(t) else t for t in terms]
    out = terms[0]
    for t in terms[1:]:
        out += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
    return out


@dataclass
class Edge:
    """One term ∂Y/∂u·∂u/∂v of v's adjoint: u consumes v as its k-th input."""
    u: int
    k: int
    contribution: Optional[int]       # node of the term's value (None: zero)
    partial: Optional[object] = None  # ∂u/∂v's value, when u is a scalar


@dataclass
class Line:
    node: int
    name: str
    chain: str = ""
    symbolic: str = ""
    simplified: str = ""
    numbers: str = ""
    value: str = ""
    note: str = ""

    def text(self, out: str) -> str:
        parts = [f"∂{out}/∂{self.name}"]
        for p in (self.chain, self.symbolic, self.simplified, self.numbers):
            if p and p != parts[-1]:
                parts.append(p)
        if self.value and self.value != parts[-1]:
            parts.append(self.value)
        text = " = ".join(parts)
        return text + (f"   ({self.note})" if self.note else "")

    def wrapped(self, out: str) -> list:
        return wrap("  " + self.text(out))


def wrap(text: str, width: int = None, indent: str = "  ") -> list:
    """A line wider than `width`, broken before ' = ' and ' + ' (then at spaces),
    the continuation lines indented under it."""
    width = width or WIDTH
    if len(text) <= width:
        return [text]
    import textwrap

    rows, cur = [], indent
    for piece in re.split(r"(?= = | \+ )", text[len(indent):]):
        if len(cur) + len(piece) > width and cur.strip():
            rows.append(cur.rstrip())
            cur = indent + "    " + piece.lstrip()
        else:
            cur += piece
    rows.append(cur.rstrip())
    return [w for r in rows for w in (textwrap.wrap(r, width, subsequent_indent=indent + "    ",
                                                    break_long_words=False)
                                      if len(r) > width else [r])]


class Explainer:
    def __init__(self, result, feed: dict, digits: int = 6):
        self.digits = digits
        g = self.g = result.graph
        name = result.output
        self.out_name = name
        self.y = g.outputs.get(name, g.names.get(name))
        y = self.y
        self.values = list(all_values(result, feed, upto=y)[:y + 1])
        self.targets = [g.leaves.get(n, g.names.get(n)) for n in result.gradients]
        nodes = g.nodes
        # nodes the output depends on, and those that depend on a target
        anc = g.needed([y])[:y + 1]
        tset = set(self.targets)
        live = bytearray(y + 1)
        for i in range(y + 1):
            if anc[i] and (i in tset or any(live[j] for j in nodes[i].inputs)):
                live[i] = 1
        self.live, self.anc = live, anc
        # an eager copy of the forward part: adjoints are computed by running
        # each op's VJP (the registry's rule) on the real values
        self.g2 = g.eager_prefix(y + 1, self.values, live)
        self._labels: dict[int, str] = {}
        self._name_nodes()

    # ------------------------------------------------------------- naming
    def _name_nodes(self) -> None:
        g, nodes = self.g, self.g.nodes
        taken = set(g.names) | set(g.leaves)
        prefix = "t" if not any(re.fullmatch(r"t\d+", n) for n in taken) else "_t"
        newest = {}
        for i in range(self.y + 1):
            if nodes[i].name:
                newest[nodes[i].name] = i
        count = {}
        k = 0
        for i in range(self.y + 1):
            n = nodes[i]
            if i == self.y and n.op.name not in ("input", "leaf"):
                self._labels[i] = self.out_name
            elif n.name and (n.op.name in ("input", "leaf") or self.live[i] or self.anc[i]):
                if newest[n.name] == i or g.names.get(n.name) == i:
                    self._labels[i] = n.name
                else:
                    count[n.name] = count.get(n.name, 0) + 1
                    self._labels[i] = f"{n.name}#{count[n.name]}"
            elif self.live[i]:
                k += 1
                self._labels[i] = f"{prefix}{k}"

    def rename(self, labels: dict, out_name: str) -> None:
        """Call these nodes by these names (a loop body's inputs: the carried and
        captured values' own names), and the output `out_name`."""
        self._labels.update(labels)
        self.out_name = out_name
        self._labels[self.y] = out_name

    def label(self, i: int) -> str:
        if i in self._labels:
            return self._labels[i]
        if i > self.y:  # a leaf bound after the output: no value of its own here
            return self.g.nodes[i].name or self.g.nodes[i].op.name
        v = self.values[i] if i < len(self.values) else None
        if v is not None and np.ndim(v) == 0:
            return fmt_number(np.asarray(v).item(), self.digits)
        node = self.g.nodes[i]
        return f"{node.op.name}{shape_text(v) if v is not None else ''}"

    def show(self, value) -> str:
        """A scalar as a number, a small tensor by its values on one line
        ([5, 11], [[1, 2], [3, 4]]), a larger one by its shape and norm."""
        arr = np.asarray(value)
        if arr.ndim == 0:
            return fmt_number(arr.item(), self.digits)
        if arr.dtype.kind not in "fiub":
            return f"{shape_text(arr)} {arr.dtype.name}"
        if 0 < arr.size <= SMALL_SHOWN and arr.ndim <= 2:
            def row(r):
                return "[" + ", ".join(fmt_number(x, self.digits) for x in r.tolist()) + "]"
            return row(arr) if arr.ndim == 1 else "[" + ", ".join(row(r) for r in arr) + "]"
        return f"{shape_text(arr)} tensor, ‖·‖ = {fmt_number(np.linalg.norm(arr.astype(float)), self.digits)}"

    def matmul_term(self, u: int, k: int, a: str) -> str:
        """The adjoint of u = x @ y's k-th input written out, as the VJP is: a @ yᵀ and
        xᵀ @ a, or an outer product a ⊗ y (x ⊗ a) where a vector times a vector makes
        the matrix's gradient."""
        x, y = (self.g.nodes[j] for j in self.g.nodes[u].inputs)
        xl, yl = (self.label(j) for j in self.g.nodes[u].inputs)
        xnd, ynd = len(x.shape or ()), len(y.shape or ())
        if k == 0:
            return f"{_paren(a)} ⊗ {_paren(yl)}" if xnd == 2 and ynd == 1 else \
                f"{_paren(a)} @ {_paren(yl)}ᵀ"
        return f"{_paren(xl)} ⊗ {_paren(a)}" if xnd == 1 and ynd == 2 else \
            f"{_paren(xl)}ᵀ @ {_paren(a)}"

    # ------------------------------------------------------------ formulas
    def op_text(self, i: int) -> str:
        """`a + b`, `-x`, `sin(a)`, `sum(x, axis=0)`."""
        node = self.g.nodes[i]
        op = node.op
        if op.name == "const":
            return self.show(node.attrs.get("value"))
        args = [self.label(j) for j in node.inputs]
        if op.name == "loop":  # the body once, with its trip count (not n copies)
            from ..loops import describe

            return f"{describe(node)}, from {args[0]}"
        sym = op.symbol
        infix = len(args) == 2 and sym and not sym[0].isalnum() and sym[0] not in "‖Σ[0123456789"
        if infix:
            return f"{_paren(args[0])} {sym} {_paren(args[1])}"
        if len(args) == 1 and op.name == "neg":
            return "-" + _paren(args[0])
        extras = []
        defaults = {a.name: a.default for a in op.args}
        for key, v in node.attrs.items():
            if key in defaults and defaults[key] == v or key in ("parts",):
                continue
            extras.append(f"{key}={_attr(v)}")
        return f"{op.name}({', '.join(args + extras)})"

    def partial_text(self, u: int, k: int) -> str:
        """∂u/∂(its k-th input), symbolically, from the registry's template."""
        node = self.g.nodes[u]
        op = node.op
        ins = [self.label(j) for j in node.inputs]
        tmpl = None
        if k < len(op.partials):
            tmpl = op.partials[k]
        elif len(op.partials) == 1 and len(set(node.inputs)) == 1:
            tmpl = op.partials[0]
        if op.name == "loop":
            n = node.attrs["n"]
            return (f"∏ₖ ∂x_{{k+1}}/∂x_k over the {n:,} iterations (a reverse loop: one VJP "
                    "of the body a step, last step first)" if k == 0 else
                    f"Σₖ ∂x_{{k+1}}/∂{self.label(node.inputs[k])} over the {n:,} iterations")
        if not tmpl:
            return f"∂{self.label(u)}/∂{self.label(node.inputs[k])}"
        subs = {f"{{{n}}}": _paren(a) for n, a in enumerate(ins)}
        subs["{out}"] = _paren(self.label(u))
        if "{" in tmpl:
            for key, val in subs.items():
                tmpl = tmpl.replace(key, val)
            return tmpl
        # templates written with the op's argument names (`cos(x)`, `1/x`)
        names = [a.name for a in op.tensor_args]
        mapping = {n: _paren(ins[m]) for m, n in enumerate(names) if m < len(ins)}
        if not mapping:
            return tmpl
        pattern = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, mapping)) + r")(?![\w(])")
        return pattern.sub(lambda m: mapping[m.group(1)], tmpl)

    # ------------------------------------------------------------ adjoints
    def run(self):
        """Walk back from the output: the adjoint of every live node and the terms of it."""
        from ..autodiff import fit
        from ..notation import Sym

        g2, nodes, live, y = self.g2, self.g.nodes, self.live, self.y
        one = None
        adj: dict[int, int] = {}
        edges: dict[int, list] = {}
        if not live[y]:
            return adj, edges
        adj[y] = g2.const(1.0) if nodes[y].shape == () else g2.add("ones_like", (y,))
        for u in range(y, -1, -1):
            node = nodes[u]
            if u not in adj or not live[u] or not node.inputs or node.op.vjp is None:
                continue
            if not any(live[j] for j in node.inputs):
                continue
            ins = [Sym(g2, j) for j in node.inputs]
            outs = node.op.vjp(Sym(g2, adj[u]), Sym(g2, u), *ins, **node.attrs)
            partials = [None] * len(ins)
            if node.shape == ():
                if one is None:
                    one = g2.const(1.0)
                partials = node.op.vjp(Sym(g2, one), Sym(g2, u), *ins, **node.attrs)
            for k, (j, c) in enumerate(zip(node.inputs, outs)):
                if not live[j]:
                    continue
                pval = None
                if node.shape == ():
                    p = partials[k]
                    pval = 0.0 if p is None else g2.values[fit(g2, p, nodes[j].shape)]
                if c is None:
                    edges.setdefault(j, []).append(Edge(u, k, None, pval))
                    continue
                cid = fit(g2, c, nodes[j].shape)
                edges.setdefault(j, []).append(Edge(u, k, cid, pval))
                adj[j] = cid if j not in adj else g2.add("add", (adj[j], cid))
        return adj, edges

    def lines(self):
        nodes, y = self.g.nodes, self.y
        adj, edges = self.run()
        out = self.out_name
        # order: intermediates by distance from the output, then the leaves
        dist = {y: 0}
        for u in range(y, -1, -1):
            if u in dist:
                for j in nodes[u].inputs:
                    if self.live[j]:
                        dist[j] = max(dist.get(j, 0), dist[u] + 1)
        tset = self.targets
        inner = sorted((i for i in dist if i != y and i not in tset and i in edges),
                       key=lambda i: (dist[i], i))
        simple: dict[int, str] = {y: "1"}
        result = []
        for i in inner + [t for t in tset if t is not None]:
            line = self.line_for(i, edges.get(i, []), adj, simple, out)
            result.append(line)
        return result

    def line_for(self, v: int, terms: list, adj: dict, simple: dict, out: str) -> Line:
        nodes, y = self.g.nodes, self.y
        name = self.label(v)
        line = Line(v, name)
        if v == y:
            line.value = "1"
            return line
        if v > y:  # a leaf bound after the output: the output cannot depend on it
            line.value = self.show(np.zeros(nodes[v].shape or ()))
            line.note = "not connected"
            return line
        terms = sorted(terms, key=lambda e: (e.u, e.k))
        if not terms:
            value = adj.get(v)
            line.value = self.show(self.g2.values[value]) if value is not None \
                else self.show(np.zeros(np.shape(self.values[v])))
            line.note = "not connected" if not self.live[v] else "no differentiable path"
            return line
        scalar = all(np.ndim(self.values[e.u]) == 0 and np.ndim(self.values[v]) == 0 for e in terms)
        direct = all(e.u == y for e in terms)
        chain, subst, simp, nums = [], [], [], []
        for e in terms:
            uname = self.label(e.u)
            p = self.partial_text(e.u, e.k)
            if e.u == y:
                chain.append(f"∂{out}/∂{out}·∂{out}/∂{name}")
                subst.append(_unparen(p))
                simp.append(_unparen(p))
            else:
                a = simple.get(e.u)
                a = a if a is not None and _atomic(a.lstrip("-")) else f"∂{out}/∂{uname}"
                chain.append(f"∂{out}/∂{uname}·∂{uname}/∂{name}")
                if nodes[e.u].op.name == "matmul":  # not a product by a partial: its rule
                    term = self.matmul_term(e.u, e.k, a)
                    subst.append(term)
                    simp.append(term)
                else:
                    subst.append(f"{_first(a)}·{_paren(p)}")
                    simp.append(_times(a, p))
            if scalar:
                pv = fmt_number(np.asarray(e.partial).item(), self.digits) if e.partial is not None \
                    else "0"
                if e.u == y:
                    nums.append(pv)
                else:
                    av = fmt_number(np.asarray(self.g2.values[adj[e.u]]).item(), self.digits)
                    nums.append(f"{av}·{pv if not pv.startswith('-') else '(' + pv + ')'}")
        if not direct:
            line.chain = " + ".join(chain)
        line.symbolic = _sum(subst)
        line.simplified = _sum(simp)
        simple[v] = line.simplified
        total = adj.get(v)
        value = self.g2.values[total] if total is not None else np.zeros(np.shape(self.values[v]))
        line.value = self.show(value)
        if scalar and line.simplified != line.value and (len(nums) > 1 or nums[0] != line.value):
            line.numbers = _sum(nums)
        elif not scalar and len(terms) > 1:
            norms = [self.show(self.g2.values[e.contribution]) if e.contribution is not None else "0"
                     for e in terms]
            line.note = "terms: " + "; ".join(norms)
        return line

    def forward(self) -> list[str]:
        """`a = 2, b = 3` then `t1 = a + b = 5` for every live intermediate, in order."""
        nodes = self.g.nodes
        leaf_ops = ("input", "leaf")
        leaves = [f"{self.label(t)} = {self.show(self.values[t])}" for t in self.targets
                  if t is not None and t <= self.y and nodes[t].op.name in leaf_ops]
        out = ["  " + ", ".join(leaves)] if leaves else []
        for i in range(self.y + 1):
            if (self.live[i] or i == self.y) and nodes[i].op.name not in leaf_ops:
                head = f"  {self.label(i)} = {self.op_text(i)}"
                value = self.show(self.values[i])
                out.append(head if head.endswith(f"= {value}") else f"{head} = {value}")
        return out


def _attr(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, np.ndarray):
        return shape_text(v)
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


def explain(result, feed: dict, digits: int = 6) -> list[str]:
    """The --explain text, line by line."""
    ex = Explainer(result, feed, digits)
    out = ex.out_name
    text = ["Forward pass:"] + [w for line in ex.forward() for w in wrap(line)]
    text.append(f"Backward pass (chain rule, from {out} back to the leaves; ∂{out}/∂{out} = 1):")
    lines = ex.lines()
    for run in _repeats(lines, ex.g.nodes):
        if len(run) >= REPEAT_RUN:  # one line of a loop, iteration after iteration
            sp = ex.g.nodes[run[0].node].span
            for line in run[:2]:
                text += line.wrapped(out)
            text.append(f"  … {len(run) - 4} more from line {sp.line}, one loop iteration after "
                        f"another (--json lists every one) …")
            for line in run[-2:]:
                text += line.wrapped(out)
        else:
            for line in run:
                text += line.wrapped(out)
    if len(lines) > FOCUS_LINES:
        text.append(f"({len(lines)} derivatives: --wrt NAME explains the path to one leaf, "
                    f"--of NAME another output)")
    if any(n.op.name in ("loop", "while") for n in ex.g.nodes):
        from .explain_loops import sections

        for sec in sections(ex, digits):  # each loop's body, its chain rule once
            text += sec["title"]
            for step in sec["steps"]:
                text.append(f"  one step of {step['carry']} (x′: its value after the step):")
                text += [w for s in step["forward"] + step["backward"]
                         for w in wrap("    " + s, indent="    ")]
    return text


def _repeats(lines, nodes) -> list:
    """The lines in runs of consecutive derivatives computed on the same source line."""
    runs: list = []
    for line in lines:
        sp = nodes[line.node].span
        key = (getattr(sp, "line", None), getattr(sp, "file", None))
        if runs and key[0] is not None and runs[-1][0] == key \
                and nodes[line.node].op.name not in ("input", "leaf"):
            runs[-1][1].append(line)
        else:
            runs.append((key, [line]))
    return [r for _, r in runs]


def explain_data(result, feed: dict, digits: int = 6) -> dict:
    """The same, for --json: forward lines and one record per derivative."""
    ex = Explainer(result, feed, digits)
    out = ex.out_name
    lines = ex.lines()
    loops = {}
    if any(n.op.name in ("loop", "while") for n in ex.g.nodes):
        from .explain_loops import sections

        loops = {"loops": sections(ex, digits)}
    return {**loops, "forward": [s.strip() for s in ex.forward()],
            "backward": [{"name": ln.name, "text": ln.text(out), "chain": ln.chain,
                          "symbolic": ln.symbolic, "simplified": ln.simplified,
                          "numbers": ln.numbers, "value": ln.value,
                          **({"note": ln.note} if ln.note else {})} for ln in lines]}
