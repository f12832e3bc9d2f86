"""Drawing: a computation graph as Graphviz DOT text, with values and gradients.

`result_to_dot` turns a `Result` (or `graph_to_dot` a bare graph) into DOT
text; `cgraph.render` turns that into SVG or PNG. The DOT is built here, by
hand, so that:

* every piece of user text (names, strings, file names, values) is escaped:
  labels are HTML-like labels whose text goes through `html_text`, and the few
  plain quoted attributes (tooltips) go through `dot_string`. A name like
  `"a<b>` or a `print` message holding HTML shows as text, never as markup;
* the output is deterministic: node ids come from IR positions, everything is
  walked in IR order, nothing reads memory addresses, clocks or hash order;
* a big graph stays readable: above `max_nodes`, repeated loop bodies collapse
  into one "× N iterations" node, then function calls into one node per
  call, then statements into one node per source line.

What a node shows: leaves (input, leaf = param or constant binding), constants,
operations, side effects and the output each have their own shape and
colour (the legend lists the kinds drawn); an operation shows its symbol,
the name the program binds to it and its shape; with values, `data` and
`grad` (∂output/∂node) as micrograd does — a tensor as a short summary.

`draw_compiled` runs a compiled program and draws it; `cgraph/draw_program.py`
does it from source (`draw_program`, and `draw_to_file`, the one-call version).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import numpy as np

from .draw_text import (DEFAULT_PRECISION, clean_text, dot_string, summarised,
                        fmt_number, fmt_shape, fmt_value, html_text)
from .errors import CgraphError, MissingInputs, NotScalar

FORMATS = ("svg", "png", "dot")
RANKDIRS = ("TB", "LR", "BT", "RL")
DEFAULT_MAX_NODES = 200
#: without an explicit --max-nodes, a graph whose longest path is longer than this
#: (an 80-line straight script) collapses further, so that the picture stays a size
#: a screen shows (it was 16,627 × 5,536 pixels)
READABLE_RANKS = 30
DEFAULT_RANKDIR = "LR"
FONT = "Helvetica"

# kind -> (node shape, style, fill colour, legend text)
KINDS = {
    "input":    ("box", "filled", "#d6e4ff", "input (value from outside)"),
    "leaf":     ("cylinder", "filled", "#d8f0dc", "leaf (param or constant binding)"),
    "const":    ("ellipse", "filled", "#eeeeee", "constant"),
    "op":       ("box", "rounded,filled", "#fff1cc", "operation"),
    "output":   ("box", "rounded,filled,bold", "#ffd98a", "output"),
    "effect":   ("note", "filled", "#ece2f7", "print / assert"),
    "grad":     ("box", "rounded,filled", "#fbdde0", "gradient op (backward)"),
    "summary":  ("box3d", "filled", "#f2f2f2", "collapsed nodes"),
}
LEAF_OPS = ("input", "leaf")
GRAD_COLOR = "#b3261e"
MUTED = "#666666"
EDGE_COLOR = "#555555"
CROSS_COLOR = "#c9a0a6"
COMMUTATIVE = {"add", "mul", "maximum", "minimum", "eq", "ne", "logical_and", "logical_or"}
HIDDEN_ATTRS = {"name", "default", "value", "parts", "message", "path", "seed", "program", "expr"}


# -------------------------------------------------------------- the drawing
@dataclass
class Unit:
    """One drawn node: an IR node, or a group of them collapsed into a summary."""
    key: str                      # DOT id
    members: list                 # IR node ids
    kind: str                     # a KINDS key
    part: str                     # "fwd" | "bwd"
    label: str = ""               # summary text (groups only)
    detail: str = ""
    path: tuple = ()              # the function calls it is inside (clusters)


@dataclass
class Drawing:
    """The DOT text and what the reader should be told about it."""
    dot: str
    notes: list = field(default_factory=list)
    nodes: int = 0                # drawn nodes (units), legend not counted
    edges: int = 0

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.dot.encode("utf-8")).hexdigest()

    def svg(self) -> str:
        """The drawing as SVG text (rendered once, then kept)."""
        cached = self.__dict__.get("_svg")
        if cached is None:
            cached = self.__dict__["_svg"] = produce(self, "svg").decode("utf-8")
        return cached

    def _repr_svg_(self) -> str:  # Jupyter shows the picture
        return self.svg()

    def save(self, path: str, fmt: Optional[str] = None) -> None:
        """Write the drawing (format from `fmt` or the suffix: svg, png, dot), atomically."""
        from .atomic import write_atomic

        write_atomic(path, produce(self, format_of(path, fmt)))

    def __repr__(self) -> str:
        notes = f"; {'; '.join(self.notes)}" if self.notes else ""
        return f"<cgraph.Drawing: {self.nodes} nodes, {self.edges} edges{notes}>"


def result_to_dot(result, *, backward: bool = False, rankdir: str = DEFAULT_RANKDIR,
                  max_nodes: Optional[int] = None, title: Optional[str] = None,
                  notes: Sequence[str] = (), precision: int = DEFAULT_PRECISION,
                  source: Optional[str] = None, grad_ids: Optional[dict] = None,
                  highlight: Optional[int] = None) -> Drawing:
    """Draw a `Result` (values and, when it has them, gradients on every node;
    `grad_ids` shows only some, `highlight` marks one node: the frames of
    `draw --steps`)."""
    return graph_to_dot(result.graph, values=result.values,
                        grad_ids=result.grad_ids if grad_ids is None else grad_ids,
                        output=result.output, backward=backward, rankdir=rankdir,
                        max_nodes=max_nodes, title=title, notes=notes, precision=precision,
                        source=source, highlight=highlight)


def graph_to_dot(graph, values: Optional[Sequence] = None, grad_ids: Optional[dict] = None,
                 output: Optional[str] = None, *, backward: bool = False,
                 rankdir: str = DEFAULT_RANKDIR, max_nodes: Optional[int] = None,
                 title: Optional[str] = None, notes: Sequence[str] = (),
                 precision: int = DEFAULT_PRECISION, source: Optional[str] = None,
                 highlight: Optional[int] = None) -> Drawing:
    """Draw a graph. `values` (node id -> value) and `grad_ids` (node id -> the id
    of its gradient node) are optional; without them nodes show structure only."""
    rankdir = str(rankdir).upper()
    if rankdir not in RANKDIRS:
        raise CgraphError(f"--rankdir must be TB or LR, not {rankdir!r}", kind="usage")
    if max_nodes is not None and max_nodes < 1:
        raise CgraphError("--max-nodes must be at least 1", kind="usage")
    return _Drawer(graph, values, grad_ids or {}, output, backward, rankdir, max_nodes, title,
                   list(notes), precision, source, highlight).draw()


class _Drawer:
    def __init__(self, g, values, grad_ids, output, backward, rankdir, max_nodes, title, notes,
                 precision, source, highlight=None, prefix="", outputs=None, roles=None):
        self.g, self.nodes = g, g.nodes
        self.highlight = highlight
        # a loop body drawn inside its loop's cluster (cgraph.draw_loops): its DOT ids
        # start with `prefix`, its new carries are its outputs, its inputs have roles
        self.prefix, self.roles = prefix, roles or {}
        n = len(self.nodes)
        self.values = list(values) if values is not None else [None] * n
        self.values += [None] * (n - len(self.values))
        self.grad_ids = {k: v for k, v in grad_ids.items() if k is not None and v is not None
                         and 0 <= k < n and 0 <= v < n}
        self.backward, self.rankdir, self.max_nodes = backward, rankdir, max_nodes
        self.title, self.notes, self.precision = title, notes, precision
        self.source_lines = source.splitlines() if source else None
        self.float_dtype = g.float_dtype.name
        self.outputs = dict(g.outputs if outputs is None else outputs)
        self.output = output or next(iter(self.outputs), None)
        self.out_id = self.outputs.get(self.output, g.names.get(self.output))
        # every name bound to a node, in program order
        self.names: dict[int, list] = {}
        for node in self.nodes:
            if node.name:
                self.names.setdefault(node.id, []).append(node.name)
        for table in (g.names, self.outputs):
            for name, i in table.items():
                if i is not None and 0 <= i < n and name not in self.names.setdefault(i, []):
                    self.names[i].append(name)
        for i, (name, _) in self.roles.items():
            self.names[i] = [name]
        self.grad_of: dict[int, list] = {}   # gradient node -> forward nodes it is the gradient of
        self.fwd, self.bwd = self._split()
        for f in self.fwd:
            gi = self.grad_ids.get(f)
            if gi is not None:
                self.grad_of.setdefault(gi, []).append(f)

    # ----------------------------------------------------------- node sets
    def _ancestors(self, roots: Iterable[int]) -> bytearray:
        n = len(self.nodes)
        return self.g.needed(r for r in roots if r is not None and 0 <= r < n)

    def _split(self):
        """Forward nodes (what the outputs, effects and named values need) and
        backward nodes (what only the gradients need)."""
        g = self.g
        roots = list(self.outputs.values())
        if not self.prefix:  # a loop's body: only what its new carries need
            roots += list(g.effects) + list(g.leaves.values())
            roots += [i for i in g.names.values()
                      if i is not None and i < len(self.nodes) and self.nodes[i].op.name != "const"]
        fwd_mark = self._ancestors(roots)
        fwd = [i for i in range(len(self.nodes)) if fwd_mark[i]]
        grads = [self.grad_ids[i] for i in fwd if i in self.grad_ids]
        bwd_mark = self._ancestors(grads)
        bwd = [i for i in range(len(self.nodes)) if bwd_mark[i] and not fwd_mark[i]]
        return fwd, bwd

    # ------------------------------------------------------------ the text
    def draw(self) -> Drawing:
        kinds_used: list = []
        body, n_units, n_edges = self.statements(kinds_used)
        head = [
            "digraph cgraph {",
            f'  graph [rankdir={self.rankdir}, fontname="{FONT}", fontsize=12, labelloc=b, '
            f'labeljust=l, nodesep=0.35, ranksep=0.45, newrank=true, ordering=in,',
            f"         label=<{self._caption(kinds_used)}>];",
            f'  node [fontname="{FONT}", fontsize=11, margin="0.08,0.04"];',
            f'  edge [fontname="{FONT}", fontsize=9, color="{EDGE_COLOR}", arrowsize=0.7];',
        ]
        text = "\n".join(head + body + ["}"]) + "\n"
        return Drawing(text, list(self.notes), n_units, n_edges)

    def statements(self, kinds_used, indent: str = "  "):
        """The DOT statements of the nodes and edges (no graph around them), and
        how many of each."""
        units, rep = self._units()
        body: list = []
        w = body.append
        body_f = [u for u in units if u.part == "fwd"]
        body_b = [u for u in units if u.part == "bwd"]
        if self.backward and body_b:
            w(f"{indent}subgraph cluster_forward {{")
            w(f'{indent}  label=<<b>forward</b>>; style="rounded"; color="#bbbbbb";')
            self._emit_units(body_f, w, indent + "  ", kinds_used)
            w(f"{indent}}}")
            w(f"{indent}subgraph cluster_backward {{")
            w(f'{indent}  label=<<b>backward</b>: the gradient graph>; style="rounded"; '
              'color="#e3a6ad";')
            self._emit_units(body_b, w, indent + "  ", kinds_used)
            w(f"{indent}}}")
        else:
            self._emit_units(body_f, w, indent, kinds_used)
        self.rep = rep   # node id -> the DOT id drawing it
        edges = self._edges(units, rep)
        for a, b, attrs in edges:
            w(f"{indent}{a} -> {b}" + (f" [{attrs}]" if attrs else "") + ";")
        return body, len(units), len(edges)

    def sub(self, graph, prefix: str, outputs: dict, roles: dict) -> "_Drawer":
        """A drawer for a loop's body, drawn inside this drawing (structure only)."""
        d = _Drawer(graph, None, {}, next(iter(outputs), None), False, self.rankdir, None, None,
                    [], self.precision, None, prefix=prefix, outputs=outputs, roles=roles)
        d.source_lines = self.source_lines
        return d

    def _caption(self, kinds_used) -> str:
        """Below the drawing: the title, the output's value, notes, and a one-row legend."""
        rows = []
        top = []
        if self.title:
            top.append(f"<b>{html_text(self.title, 80)}</b>")
        o = self.out_id
        if o is not None and self.values[o] is not None and self.output:
            top.append(f"{html_text(self.output)} = {html_text(fmt_value(self.values[o], self.precision))}")
        if top:
            rows.append("    ".join(top))
        for note in self.notes:
            rows.append(f'<font color="{MUTED}" point-size="10">{html_text(note, 160)}</font>')
        cells = []
        for k in KINDS:
            if k in kinds_used:
                cells.append(f'<td bgcolor="{KINDS[k][2]}" border="1" width="14"> </td>'
                             f'<td align="left">{html_text(KINDS[k][3])}   </td>')
        keys = []
        if any(self.grad_ids.get(i) is not None and self.value_of(self.grad_ids[i]) is not None
               for i in self.fwd):
            keys.append(f'<font color="{GRAD_COLOR}">grad</font> = ∂{html_text(self.output or "out")}/∂node')
        if self.backward and self.bwd:
            keys.append(f'<font color="{GRAD_COLOR}">edge label</font> = local derivative ∂node/∂input')
        legend = ""
        if cells:
            legend = ('<table border="0" cellborder="0" cellspacing="2" cellpadding="1"><tr>'
                      + "".join(cells) + "</tr></table>")
        lines = [f'<tr><td align="left">{r}</td></tr>' for r in rows]
        if legend:
            lines.append(f'<tr><td align="left">{legend}</td></tr>')
        if keys:
            lines.append(f'<tr><td align="left"><font point-size="10">{"    ".join(keys)}</font></td></tr>')
        if not lines:
            return ""
        return ('<table border="0" cellborder="0" cellspacing="0" cellpadding="2">'
                + "".join(lines) + "</table>")

    # ----------------------------------------------------------- clusters
    def _emit_units(self, units, w, indent, kinds_used) -> None:
        """Nodes, nested in one cluster per function call (per call, not per function)."""
        tree: dict = {}     # call path -> its units, in IR order
        for u in units:
            tree.setdefault(u.path, []).append(u)
        children: dict = {}     # call path -> the calls made inside it, in order
        first: dict = {}        # call path -> the first node id drawn inside it
        first_seen: set = set()
        for p, us in tree.items():
            lo = us[0].members[0]
            for k in range(len(p) + 1):
                first[p[:k]] = min(first.get(p[:k], lo), lo)
                if k and p[:k] not in first_seen:
                    first_seen.add(p[:k])
                    children.setdefault(p[:k - 1], []).append(p[:k])

        def emit(p, ind):
            for u in tree.get(p, []):
                self._emit_unit(u, w, ind, kinds_used)
            for c in sorted(children.get(p, []), key=first.__getitem__):
                fname, span, k = c[-1]
                line = f" · line {span.line}" if getattr(span, "line", 0) else ""
                w(f"{ind}subgraph cluster_call_{k} {{")
                w(f'{ind}  label=<<b>{html_text(fname)}()</b><font color="{MUTED}" point-size="9">'
                  f'{html_text(line)}</font>>; style="rounded,dashed"; color="#8c8c8c";')
                emit(c, ind + "  ")
                w(f"{ind}}}")

        emit((), indent)

    def _common_path(self, members) -> tuple:
        paths = [self.instances[i] for i in members]
        common = paths[0]
        for p in paths[1:]:
            k = 0
            while k < min(len(common), len(p)) and common[k] == p[k]:
                k += 1
            common = common[:k]
        return common

    def _call_instances(self) -> list:
        """Per node, its call path as ((fname, span, instance#), ...): consecutive
        nodes with the same scope belong to the same call; a new run is a new call."""
        out, prev, path, counter = [], (), (), 0
        for node in self.nodes:
            scope = tuple(getattr(node, "scope", ()) or ())
            k = 0
            while k < min(len(scope), len(prev)) and scope[k] == prev[k]:
                k += 1
            new = list(path[:k])
            for s in scope[k:]:
                counter += 1
                fname, span = (s[0], s[1]) if isinstance(s, tuple) and len(s) >= 2 else (str(s), None)
                new.append((str(fname), span, counter))
            path, prev = tuple(new), scope
            out.append(path)
        return out

    # --------------------------------------------------------- node labels
    def _kind(self, i: int, part: str) -> str:
        node = self.nodes[i]
        name = node.op.name
        if name in LEAF_OPS:
            return name
        if name == "const":
            return "const"
        if name in ("print", "assert"):
            return "effect"
        if part == "bwd":
            return "grad"
        if i in self.outputs.values():
            return "output"
        return "op"

    def _emit_unit(self, u: Unit, w, ind, kinds_used) -> None:
        if len(u.members) == 1 and self.nodes[u.members[0]].op.name in ("loop", "while"):
            from .draw_loops import emit_cluster

            emit_cluster(self, u, w, ind, kinds_used)  # its body, and the node, in a cluster
        else:
            self.emit_node(u, w, ind, kinds_used)

    def emit_node(self, u: Unit, w, ind, kinds_used) -> None:
        """One unit's DOT node statement."""
        if u.kind not in kinds_used:
            kinds_used.append(u.kind)
        shape, style, fill, _ = KINDS[u.kind]
        attrs = [f"shape={shape}", f'style="{style}"', f'fillcolor="{fill}"']
        if u.kind == "summary":
            label = (f"<b>{html_text(u.label, 80)}</b>"
                     + (f'<br/><font point-size="9" color="{MUTED}">{html_text(u.detail, 80)}</font>'
                        if u.detail else ""))
            tip = f"{len(u.members)} nodes collapsed: {u.label}"
        else:
            i = u.members[0]
            label = self._node_label(i, u.part)
            tip = self._tooltip(i)
            if u.kind == "const":
                attrs += ["fontsize=9", "height=0.3", "width=0.4"]
            if u.kind == "output":
                attrs.append("penwidth=2")
            if i == self.highlight:  # the node a step is about
                attrs += [f'color="{GRAD_COLOR}"', "penwidth=3"]
        attrs.append(f"tooltip={dot_string(tip)}")
        attrs.append(f"label=<{label}>")
        w(f"{ind}{u.key} [{', '.join(attrs)}];")

    def ref(self, i: int) -> str:
        """How a node is referred to in text: its name, a scalar constant's value, or %id
        (drawn on the node when the backward graph is: `--backward` labels use it)."""
        names = self.names.get(i)
        if names:
            return names[0]
        node = self.nodes[i]
        if node.op.name == "const":
            v = self.value_of(i)
            if v is not None and np.ndim(v) == 0:
                return fmt_value(v, self.precision)
        text = self._source_text(node.span) if not node.scope else ""
        if 0 < len(text) <= 14:  # an unnamed value by its text: ∂loss/∂(h @ W2), not ∂loss/∂%49
            return f"({text})" if any(c in text for c in " +-*/@^") else text
        return f"%{i}"

    def _source_text(self, span) -> str:
        """The program text a one-line span covers ('' when there is none)."""
        lines = self.source_lines
        if not lines or span is None or span.line != span.end_line or not 0 < span.line <= len(lines):
            return ""
        return lines[span.line - 1][span.column - 1:span.end_column - 1].strip()

    def _node_label(self, i: int, part: str) -> str:
        node = self.nodes[i]
        op = node.op
        kind = self._kind(i, part)
        names = self.names.get(i, [])
        name_txt = html_text(", ".join(names[:3]) + (", …" if len(names) > 3 else "")) if names else ""
        value = fmt_value(self.value_of(i), self.precision) if kind != "effect" else None
        if kind == "const":
            v = self.value_of(i)
            txt = fmt_value(v, self.precision) or "const"
            if v is not None and np.ndim(v) > 0:
                txt = fmt_shape(np.shape(v)) + " " + txt
            if part == "bwd" and i in self.grad_of:
                return f'<font color="{GRAD_COLOR}">{self._grad_name(i)}</font> = {html_text(txt)}'
            if name_txt:  # a named constant (`const k = 3`) shows its name: k = 3
                return f"<b>{name_txt}</b> = {html_text(txt)}"
            return html_text(txt)
        head: list = []
        if kind in LEAF_OPS:
            head.append(f"<b>{name_txt}</b>")
            role = self.roles[i][1] if i in self.roles else kind
            head.append(f' <font color="{MUTED}" point-size="9">{html_text(role)}</font>')
        else:
            sym = op.symbol or op.name
            head.append(f'<font point-size="14">{html_text(sym, 16)}</font>')
            if part == "bwd" and i in self.grad_of:
                head.append(f'  <font color="{GRAD_COLOR}">{self._grad_name(i)}</font>')
            elif name_txt:
                head.append(f"  <b>{name_txt}</b>")
        rows = ["".join(head)]
        sub = []
        if node.shape != () or node.dtype not in (self.float_dtype, None):
            sub.append(fmt_shape(node.shape, node.dtype, self.float_dtype))
        extra = self._attr_text(node)
        if extra:
            sub.append(extra)
        if self.backward and self.bwd and not names and kind not in LEAF_OPS and part == "fwd":
            sub.insert(0, f"%{i}")
        if sub:
            rows.append(f'<font color="{MUTED}" point-size="9">{html_text(" · ".join(sub), 60)}</font>')
        cells = []
        if value is not None:
            cells.append(f"data {html_text(value)}")
        gi = self.grad_ids.get(i) if part == "fwd" else None
        grad = self.value_of(gi) if gi is not None else None
        if grad is not None:
            cells.append(f'<font color="{GRAD_COLOR}">grad {html_text(fmt_value(grad, self.precision))}</font>')
        # micrograd's "data | grad" side by side; a tensor's two summaries one above the other
        wide = summarised(self.value_of(i)) or summarised(grad)
        cols = 2 if len(cells) == 2 and not wide else 1
        table = ['<table border="0" cellborder="0" cellspacing="0" cellpadding="1">']
        for r in rows:
            table.append(f'<tr><td colspan="{cols}">{r}</td></tr>')
        if cols == 2:
            table.append(f'<tr><td sides="T" border="1" cellpadding="3">{cells[0]}</td>'
                         f'<td sides="TL" border="1" cellpadding="3">{cells[1]}</td></tr>')
        else:
            for k, c in enumerate(cells):
                table.append(f'<tr><td sides="T" border="{1 if k == 0 else 0}" cellpadding="2" '
                             f'align="left">{c}</td></tr>')
        table.append("</table>")
        return "".join(table)

    def _grad_name(self, i: int) -> str:
        """`∂Y/∂d = ∂Y/∂a` for a gradient node (HTML): the output's newest first."""
        of = sorted(self.grad_of[i], reverse=True)
        out = self.output or "out"
        terms = [f"∂{html_text(out, 16)}/∂{html_text(self.ref(f), 16)}" for f in of[:2]]
        return " = ".join(terms) + (" = …" if len(of) > 2 else "")

    def value_of(self, i: int):
        v = self.values[i]
        if v is None and self.nodes[i].op.name == "const":
            v = self.nodes[i].attrs.get("value")
        return v

    def _attr_text(self, node) -> str:
        a = node.attrs
        name = node.op.name
        if name == "print":
            parts = a.get("parts") or ()
            shown = [repr_str(p[1]) if p[0] == "str" else "·" for p in parts if isinstance(p, tuple) and len(p) == 2]
            return "print(" + ", ".join(shown) + ")"
        if name == "assert":
            return repr_str(a["message"]) if a.get("message") else ""
        if name == "loop":
            from .loops import describe

            return describe(node)
        if name == "load":
            p = a.get("path")
            key = a.get("key")
            return f"load({repr_str(os.path.basename(str(p)))}" + (f", {repr_str(key)}" if key else "") + ")" \
                if p else ""
        bits = []
        defaults = {arg.name: arg.default for arg in node.op.args if not arg.is_tensor}
        for k, v in a.items():
            if k in HIDDEN_ATTRS or v is None:
                continue
            d = defaults.get(k, _NO_DEFAULT)
            if d is not _NO_DEFAULT and _same(d, v):
                continue
            if isinstance(v, (bool, np.bool_)):
                bits.append(f"{k}={'true' if v else 'false'}")
            elif isinstance(v, (int, float, np.integer, np.floating)):
                bits.append(f"{k}={fmt_number(v, self.precision)}")
            elif isinstance(v, str):
                bits.append(f"{k}={repr_str(v)}")
            elif isinstance(v, (list, tuple)) and len(v) <= 6 and all(
                    isinstance(x, (int, np.integer)) or x is None for x in v):
                bits.append(f"{k}=[{', '.join('none' if x is None else str(int(x)) for x in v)}]")
        return " ".join(bits)

    def _tooltip(self, i: int) -> str:
        node = self.nodes[i]
        span = node.span
        parts = [f"%{i} {node.op.name}"]
        if span is not None and getattr(span, "line", 0):
            parts.append(f"line {span.line}:{span.column}")
            if self.source_lines and 0 < span.line <= len(self.source_lines):
                parts.append(self.source_lines[span.line - 1].strip())
        return "  ".join(parts)

    # ------------------------------------------------------------- edges
    def _edges(self, units, rep) -> list:
        """(tail, head, attrs) per input of every drawn node, in IR order. Edges
        to or from a collapsed group are drawn once per pair of units."""
        out, seen = [], set()
        summaries = {u.key for u in units if u.kind == "summary"}
        for u in units:
            for i in u.members:
                node = self.nodes[i]
                targs = [a for a in node.op.args if a.is_tensor]
                for k, j in enumerate(node.inputs):
                    a, b = rep.get(j), rep.get(i)
                    if a is None or b is None or a == b:
                        continue
                    cross = self.part_of.get(j) == "fwd" and u.part == "bwd"
                    attrs = [f'color="{CROSS_COLOR}", style=dashed'] if cross else []
                    if u.kind == "summary" or a in summaries:
                        if (a, b) in seen:
                            continue
                        seen.add((a, b))
                    else:
                        label = self._edge_label(node, k, targs, u.part)
                        if label:
                            attrs.append(label)
                    out.append((a, b, ", ".join(attrs)))
        return out

    def _edge_label(self, node, k, targs, part) -> str:
        op = node.op
        n_in = len(node.inputs)
        if self.backward and part == "fwd" and op.partials and k < len(op.partials) \
                and n_in == len(targs):
            text = format_partial(op.partials[k], [self.ref(j) for j in node.inputs], self.ref(node.id))
            if text:
                return f'label=<<font color="{GRAD_COLOR}">{html_text(text, 32)}</font>>'
        if n_in >= 2 and op.name not in COMMUTATIVE and n_in == len(targs) and part == "fwd" \
                and [a.name for a in targs] != ["x", "y"]:  # x, y: first input drawn first
            return f'label=<<font color="{MUTED}">{html_text(targs[k].name, 16)}</font>>'
        return ""

    # ---------------------------------------------------------- collapsing
    def _units(self):
        self.instances = self._call_instances()
        self.part_of = {i: "fwd" for i in self.fwd}
        drawn_b = self.bwd if self.backward else []
        self.part_of.update({i: "bwd" for i in drawn_b})
        seqs = {"fwd": list(self.fwd), "bwd": list(drawn_b)}
        total = len(seqs["fwd"]) + len(seqs["bwd"])
        auto = self.max_nodes is None
        if auto:  # the default: at most 200 nodes, and fewer for a long chain
            depth = self._depth(seqs["fwd"] + seqs["bwd"])
            self.max_nodes = DEFAULT_MAX_NODES
            if depth > READABLE_RANKS:
                self.max_nodes = max(READABLE_RANKS, DEFAULT_MAX_NODES * READABLE_RANKS // depth)
        # per part: (start, end) positions in seqs, label, detail, lift out of call clusters
        groups: dict[str, list] = {"fwd": [], "bwd": []}
        if total > self.max_nodes:
            self._collapse(seqs, groups)
        units: list[Unit] = []
        rep: dict[int, str] = {}
        gcount = 0
        for part in ("fwd", "bwd"):
            seq = seqs[part]
            spans = sorted(groups[part])
            pos, gi = 0, 0
            while pos < len(seq):
                while gi < len(spans) and spans[gi][0] < pos:  # overlapping: never drawn twice
                    gi += 1
                if gi < len(spans) and spans[gi][0] == pos:
                    s, e, label, detail, lift = spans[gi]
                    gcount += 1
                    members = seq[s:e]
                    path = self._common_path(members)
                    if lift:  # a whole call (or a run of anything): outside every cluster
                        path = ()
                    u = Unit(f"{self.prefix}g{gcount}", members, "summary", part, label, detail, path)
                    for m in members:
                        rep[m] = u.key
                    units.append(u)
                    pos, gi = e, gi + 1
                    continue
                i = seq[pos]
                u = Unit(f"{self.prefix}n{i}", [i], self._kind(i, part), part, path=self.instances[i])
                rep[i] = u.key
                units.append(u)
                pos += 1
        if gcount and auto and self.max_nodes < DEFAULT_MAX_NODES:
            self.notes.append(f"{total} nodes drawn as {len(units)} (a long chain: collapsed to "
                              f"stay readable; --max-nodes N draws up to N)")
        elif gcount:
            self.notes.append(f"{total} nodes drawn as {len(units)} (more than --max-nodes "
                              f"{self.max_nodes}: repeated parts collapsed)")
        return units, rep

    def _depth(self, drawn) -> int:
        """The longest path through the drawn nodes (the picture's length in ranks)."""
        depth: dict = {}
        for i in sorted(drawn):  # node ids are in topological order
            depth[i] = 1 + max((depth.get(j, 0) for j in self.nodes[i].inputs), default=0)
        return max(depth.values(), default=0)

    def _collapse(self, seqs, groups) -> None:
        """Collapse, in order, until the drawing fits: loop iterations after the
        first, whole loops, function calls, source lines, then plain runs."""
        def count():
            n = 0
            for part in ("fwd", "bwd"):
                covered = sum(e - s for s, e, *_ in groups[part])
                n += len(seqs[part]) - covered + len(groups[part])
            return n

        def free(part, s, e):
            return all(e <= gs or s >= ge for gs, ge, *_ in groups[part])

        # 1. repeated regions (loop bodies, unrolled recursion): keep iteration 1
        regions = []
        for part in ("fwd", "bwd"):
            for s, e, d in self._periodic(seqs[part]):
                regions.append((((e - s) // d - 1) * d, part, s, e, d))
        regions.sort(key=lambda r: (-r[0], r[1], r[2]))
        chosen = []

        def compatible(part, s, e, d):
            """Disjoint from every chosen region, or nested in (or around) one's first iteration."""
            for p, cs, ce, cd, _ in chosen:
                if p != part or e <= cs or s >= ce:
                    continue
                if not (cs <= s and e <= cs + cd) and not (s <= cs and ce <= s + d):
                    return False
            return True

        for saving, part, s, e, d in regions:
            if count() <= self.max_nodes:
                break
            if saving > 1 and compatible(part, s, e, d):
                r = (e - s) // d
                groups[part].append((s + d, e, f"× {r - 1} more iterations",
                                     self._describe(seqs[part][s:s + d], _plural(d, "node") + " each"), False))
                chosen.append((part, s, e, d, r))
        # 2. ... or the whole repeated region
        for part, s, e, d, r in chosen:
            if count() <= self.max_nodes:
                break
            if any(gs <= s and e <= ge and (gs, ge) != (s + d, e) for gs, ge, *_ in groups[part]):
                continue  # already inside a bigger collapsed loop
            groups[part] = [gr for gr in groups[part] if not (s <= gr[0] and gr[1] <= e)]
            groups[part].append((s, e, f"× {r} iterations",
                                 self._describe(seqs[part][s:s + d], _plural(d, "node") + " each"), False))
        # 3. function calls: one node per outermost call instance
        if count() > self.max_nodes:
            for part in ("fwd", "bwd"):
                seq = seqs[part]
                runs = _runs([self.instances[i][:1] for i in seq])
                for s, e, key in runs:
                    if key and e - s > 1 and free(part, s, e):
                        fname = key[0][0]
                        groups[part].append((s, e, f"{fname}()",
                                             self._describe(seq[s:e], f"call · {e - s} nodes"), True))
        # 4. source lines: one node per line (leaves stay)
        if count() > self.max_nodes:
            for part in ("fwd", "bwd"):
                seq = seqs[part]
                keys = []
                for i in seq:
                    n = self.nodes[i]
                    keys.append(None if n.op.name in LEAF_OPS else getattr(n.span, "line", None))
                for s, e, key in _runs(keys):
                    if key is not None and e - s > 1 and free(part, s, e):
                        named = self._named(seq[s:e])
                        groups[part].append((s, e, f"line {key}" + (f": {named[-1]}" if named else ""),
                                             self._describe(seq[s:e], f"{e - s} nodes"), False))
        # 5. plain runs of what is left, so the count fits whatever happens
        if count() > self.max_nodes:
            for part in ("fwd", "bwd"):
                seq = seqs[part]
                if not seq:  # e.g. no backward part
                    continue
                merged = []
                spans = sorted(groups[part])
                pos = 0
                items = []    # (s, e, existing group or None)
                for gs, ge, *rest in spans:
                    for p in range(pos, gs):
                        items.append((p, p + 1, None))
                    items.append((gs, ge, (gs, ge, *rest)))
                    pos = ge
                for p in range(pos, len(seq)):
                    items.append((p, p + 1, None))
                if seqs["bwd"] and seqs["fwd"]:  # share the budget between the two parts
                    budget = max(1, self.max_nodes // 2 if part == "bwd" else self.max_nodes - self.max_nodes // 2)
                else:
                    budget = self.max_nodes
                chunk = -(-len(items) // budget)
                for c in range(0, len(items), chunk):
                    block = items[c:c + chunk]
                    s, e = block[0][0], block[-1][1]
                    if len(block) == 1 and block[0][2] is not None:
                        merged.append(block[0][2])
                    elif len(block) == 1:
                        continue
                    else:
                        merged.append((s, e, self._run_label(seq[s:e]),
                                       self._describe(seq[s:e], f"{e - s} nodes"), True))
                groups[part] = merged

    def _named(self, ids) -> list:
        """The program's names among these nodes, in order."""
        return [name for i in ids for name in self.names.get(i, [])]

    def _run_label(self, ids) -> str:
        """A collapsed run of nodes by the names it computes (a3 … a7), else by ids."""
        named = self._named(ids)
        if named:
            return named[0] if len(named) == 1 else f"{named[0]} … {named[-1]}"
        return f"nodes %{ids[0]}–%{ids[-1]}"

    def _describe(self, ids, head) -> str:
        """What a collapsed node holds: its size, lines, ops, and the value it ends on."""
        syms = []
        for i in ids:
            n = self.nodes[i]
            if n.op.name in ("const",):
                continue
            s = n.op.symbol or n.op.name
            if s not in syms:
                syms.append(s)
        lines = sorted({n.span.line for n in (self.nodes[i] for i in ids)
                        if getattr(n.span, "line", 0) and n.span.file == self.nodes[ids[0]].span.file})
        where = ""
        if lines:
            where = f"line {lines[0]}" if lines[0] == lines[-1] else f"lines {lines[0]}–{lines[-1]}"
        text = head + (" · " + where if where else "")
        if syms:
            text += " · " + " ".join(syms[:6]) + (" …" if len(syms) > 6 else "")
        last = next((i for i in reversed(ids) if self.names.get(i)), None)
        if last is not None:
            value = fmt_value(self.value_of(last), self.precision)
            if value:
                text += f" · {self.names[last][-1]} = {value}"
        return text

    def _periodic(self, seq) -> list:
        """Regions [s, e) of seq that repeat with a period d at least twice:
        (s, e, d), e - s a multiple of d. Nodes match by op, source span and call site."""
        n = len(seq)
        if n < 4:
            return []
        intern: dict = {}
        keys = np.empty(n, dtype=np.int64)
        last: dict = {}
        dist: dict = {}
        for p, i in enumerate(seq):
            node = self.nodes[i]
            sp = node.span
            k = (node.op.name, (getattr(sp, "line", 0), getattr(sp, "column", 0),
                                getattr(sp, "end_line", 0), getattr(sp, "end_column", 0)),
                 tuple(getattr(node, "scope", ()) or ()))
            kid = intern.setdefault(k, len(intern))
            keys[p] = kid
            if kid in last:
                d = p - last[kid]
                dist[d] = dist.get(d, 0) + 1
            last[kid] = p
        cands = sorted((d for d, c in dist.items() if c >= d), key=lambda d: (-dist[d] * d, d))[:12]
        out = []
        for d in cands:
            eq = keys[d:] == keys[:-d]
            # runs of True in eq: positions p with keys[p] == keys[p + d]
            padded = np.concatenate(([False], eq, [False]))
            edges = np.flatnonzero(padded[1:] != padded[:-1])
            for a, b in zip(edges[::2], edges[1::2]):
                length = int(b - a)
                if length >= d:
                    r = (length + d) // d
                    out.append((int(a), int(a) + r * d, d))
        return out


_NO_DEFAULT = object()


def _same(a, b) -> bool:
    """An attribute equal to its declared default (so not worth showing)."""
    if isinstance(a, bool) or isinstance(b, (bool, np.bool_)):
        return isinstance(a, bool) and isinstance(b, (bool, np.bool_)) and a == bool(b)
    try:
        return bool(a == b)
    except (ValueError, TypeError):
        return False


def repr_str(s) -> str:
    """A user string in quotes, as shown in a label (escaped later, with the label)."""
    return '"' + clean_text(s, 32) + '"'


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _runs(keys) -> list:
    """Maximal runs of equal keys: (start, end, key)."""
    out = []
    s = 0
    for p in range(1, len(keys) + 1):
        if p == len(keys) or keys[p] != keys[s]:
            out.append((s, p, keys[s]))
            s = p
    return out


def format_partial(template: str, operands: list, out: str) -> str:
    """A registry partials template with the operands' names: `{1}` -> `e`."""
    text = str(template)
    text = text.replace("{out}", out)
    for k, name in enumerate(operands):
        text = text.replace("{" + str(k) + "}", name)
    return text


# ------------------------------------------------------- programs -> drawings
def draw_compiled(prog, inputs: Optional[dict] = None, *, backward: bool = False,
                  rankdir: str = DEFAULT_RANKDIR, max_nodes: Optional[int] = None,
                  precision: int = DEFAULT_PRECISION, title: Optional[str] = None,
                  print_stream=None) -> Drawing:
    """Run a compiled program (with gradients when it can) and draw it.

    Without values for the program's inputs, a static program is drawn as
    structure only (shapes where known, no values). `print` output of the run
    goes to `print_stream` (default: standard error, so `-o -` stays clean).
    The program's own `optimize` setting says which graph is drawn."""
    import sys

    from .ops import internal

    notes: list = ["optimised graph (cgraph.optimize)"] if prog.optimize else []
    if title is None:
        title = os.path.basename(prog.file) if prog.file not in ("<expr>", "<stdin>") else \
            " ".join(prog.source.split())
    mode = prog.mode
    if mode == "eager":
        notes.append("eager mode: the path the run took" + (" (not optimised)" if prog.optimize else ""))
    inputs = dict(inputs or {})
    saved = internal.PRINT["stream"]
    internal.PRINT["stream"] = print_stream if print_stream is not None else sys.stderr
    try:
        try:
            result = _run(prog, inputs, notes)
        except MissingInputs as exc:
            # no values at all for a static program with inputs: draw its structure
            if inputs or mode != "static":
                raise
            notes.append("no values given for " + ", ".join(exc.names)
                         + ": structure only (give NAME=VALUE to see values and gradients)")
            try:
                result = prog.build_result({}, grad=True)
            except NotScalar:
                result = prog.build_result({}, grad=False)
    finally:
        internal.PRINT["stream"] = saved
    if backward and not result.grad_ids:
        notes.append("--backward: there is no gradient graph to draw")
    return result_to_dot(result, backward=backward, rankdir=rankdir, max_nodes=max_nodes,
                         title=title, notes=notes, precision=precision, source=prog.source)


def _run(prog, inputs, notes):
    """Run with gradients, keeping every value; without them for a non-scalar output."""
    try:
        return prog.run(inputs, grad=True, keep_all=True)
    except NotScalar as exc:
        notes.append(f"no gradients: {exc.message}")
        return prog.run(inputs, grad=False, keep_all=True)


def format_of(out_path: str, fmt: Optional[str]) -> str:
    """The output format: --format, else the file's suffix, else svg."""
    if fmt:
        f = fmt.lower().lstrip(".")
        if f == "gv":
            f = "dot"
        if f not in FORMATS:
            raise CgraphError(f"--format must be svg, png or dot, not {fmt!r}", kind="usage")
        suffix = os.path.splitext(out_path or "")[1].lower().lstrip(".")
        suffix = "dot" if suffix == "gv" else suffix
        if out_path not in (None, "-") and suffix in FORMATS and suffix != f:
            raise CgraphError(f"--format {f} does not match the file name {out_path!r}", kind="usage",
                              hint=f"name the file .{f}, or drop --format (the suffix decides)")
        return f
    if out_path and out_path != "-":
        suffix = os.path.splitext(out_path)[1].lower().lstrip(".")
        if suffix == "gv":
            suffix = "dot"
        if suffix in FORMATS:
            return suffix
        if suffix:
            raise CgraphError(f"cannot tell the format from the suffix '.{suffix}' of {out_path!r}",
                              kind="usage", hint="use --format svg, png or dot")
    return "dot" if out_path == "-" else "svg"


def produce(drawing: Drawing, fmt: str) -> bytes:
    """The bytes of the drawing in a format: DOT as is, SVG/PNG from the renderer.
    An SVG carries the DOT's digest in a comment (so a stale copy can be spotted)."""
    from . import render

    if fmt == "dot":
        return drawing.dot.encode("utf-8")
    data, warnings = render.render(drawing.dot, fmt)
    drawing.notes.extend(warnings)
    if fmt == "svg":
        data = stamp_svg(data, drawing.digest)
    return data


SVG_STAMP = "<!-- cgraph dot sha256:"


def stamp_svg(data: bytes, digest: str) -> bytes:
    """Insert `<!-- cgraph dot sha256:… -->` after the XML declaration."""
    text = data.decode("utf-8")
    mark = f"{SVG_STAMP}{digest} -->\n"
    if text.startswith("<?xml"):
        end = text.find("?>") + 2
        nl = 1 if text[end:end + 1] == "\n" else 0
        text = text[:end + nl] + mark + text[end + nl:]
    else:
        text = mark + text
    return text.encode("utf-8")


def svg_digest(data: bytes) -> Optional[str]:
    """The DOT digest stamped into an SVG made by `produce`, if any."""
    text = data[:4096].decode("utf-8", "replace")
    k = text.find(SVG_STAMP)
    if k < 0:
        return None
    return text[k + len(SVG_STAMP):].split(" ", 1)[0].strip()
