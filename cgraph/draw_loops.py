"""A loop node drawn as a cluster: one box, labelled with the trip count, that
holds the body — drawn once, its inputs the index, the carried and the captured
values, its outputs the new carries — and the loop node itself (the value after
the last iteration). Dashed edges close the loop: each new carry goes back to
its input for the next iteration, and into the loop node after the last one.
A 10,000-iteration loop is one picture of its body, not 10,000 copies.
"""
from __future__ import annotations

from .draw_text import html_text
from .loops import is_reverse, out_names

LOOP_COLOR = "#3b6fb6"


def emit_cluster(d, u, w, ind: str, kinds_used: list) -> None:
    """Write the cluster of loop unit `u` of drawer `d` (cgraph.drawing)."""
    node = d.nodes[u.members[0]]
    a = node.attrs
    body = a["body"]
    bg = body.graph
    named = out_names(body)
    reverse = is_reverse(node)
    roles, outputs = {}, {}
    if body.index is not None:
        roles[body.index] = ("i", "index")
    for k, (c, o) in enumerate(zip(body.carries, body.outs)):
        name = named.get(o) or f"x{k}"
        if c is not None:
            roles[c] = (name, "∂ carried" if reverse else "carried")
        outputs.setdefault(name, o)
    for k, c in enumerate(body.captures):
        if c is not None and 1 + k < len(node.inputs):
            roles[c] = (d.ref(node.inputs[1 + k]), "captured")
    cond = a.get("cond")
    if cond is not None:
        outputs.setdefault("condition", cond.outs[0])
    sub = d.sub(bg, f"{u.key}_", outputs, roles)
    lines, _, _ = sub.statements(kinds_used, ind + "  ")
    line = f" · line {node.span.line}" if getattr(node.span, "line", 0) else ""
    w(f"{ind}subgraph cluster_{u.key} {{")
    w(f'{ind}  label=<<b>{html_text(_title(node, reverse), 120)}</b>'
      f'<font point-size="9">{html_text(line)}</font>>; style="rounded,bold"; '
      f'color="{LOOP_COLOR}"; fontcolor="{LOOP_COLOR}";')
    for text in lines:
        w(text)
    d.emit_node(u, w, ind + "  ", kinds_used)
    rep = sub.rep
    for c, o in zip(body.carries, body.outs):
        if o in rep and c in rep and rep[o] != rep[c]:
            w(f'{ind}  {rep[o]} -> {rep[c]} [style=dashed, color="{LOOP_COLOR}", '
              f'constraint=false, label=<<font color="{LOOP_COLOR}">next</font>>];')
        if o in rep:
            w(f'{ind}  {rep[o]} -> {u.key} [style=dashed, color="{LOOP_COLOR}"];')
    w(f"{ind}}}")


def _title(node, reverse: bool) -> str:
    a = node.attrs
    if node.op.name == "while":
        return f"while the condition holds (at most {a['limit']:,} iterations)"
    n = a["n"]
    what = "reverse loop" if reverse else "loop"
    if a.get("history"):
        what += ", keeping every carry"
    if n is None:  # a while loop's reverse loop: as many steps as the history holds
        return f"{what}: as many iterations as the while loop ran, last to first"
    if reverse:
        return f"{what}: {n:,} iterations, last to first"
    start, step = a["start"], a["step"]
    first = ", ".join(f"{start + k * step:g}" for k in range(min(n, 2)))
    return f"{what}: {n:,} iterations (i = {first}{', …' if n > 2 else ''})"
