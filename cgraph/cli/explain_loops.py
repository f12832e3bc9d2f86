"""--explain for loop nodes: each loop's body and its chain rule, written once.

A loop node of 10,000 iterations is one line of the program's forward and
backward passes; what it does each iteration is its body. This writes the
body's forward pass and the chain rule of one step — ∂x′/∂x for the carried
values, ∂x′/∂c for the captured ones — with the numbers of the first
iteration, then how the backward pass strings the steps together (a reverse
loop: the product of the one-step derivatives, last iteration first, and the
sum of each step's part for a captured value). The explainer of one step is
the same as the program's (cgraph.cli.explain), run on the body's sub-graph;
cgraph.cli.explain prints the records `sections` gives.
"""
from __future__ import annotations

import numpy as np

from ..loops import out_names, split

MAX_OUTS = 3   # new carries explained per loop (a body of many carries: the first ones)


def sections(ex, digits: int) -> list:
    """One record per live loop node of explainer `ex`'s forward pass: its title
    (lines), and per new carry the forward and backward lines of one step."""
    from types import SimpleNamespace

    out = []
    nodes = ex.g.nodes
    for i in range(ex.y + 1):
        node = nodes[i]
        if not ex.live[i] or node.op.name not in ("loop", "while"):
            continue
        body = node.attrs["body"]
        bg = body.graph
        if any(n.op.name == "fused" for n in bg.nodes):  # fused when it ran: no VJP per op
            out.append({"line": getattr(node.span, "line", 0), "title": _title(node)[:1] + [
                "  (its body ran fused — elementwise regions as one op — so it is not "
                "explained op by op)"], "steps": []})
            continue
        feed, labels = _first_step(ex, node, body)
        steps = []
        named = out_names(body)
        read = bg.needed(body.outs)
        # the loop's state: carried values a step reads (not names it only sets)
        state = [k for k, c in enumerate(body.carries) if c is not None and read[c]]
        for k in (state or [0])[:MAX_OUTS]:
            o = body.outs[k]
            name = named.get(o)
            if name is None or not bg.nodes[o].dtype.startswith("float"):
                continue
            need = bg.needed([o])
            wrt = [bg.nodes[j].name for j in list(body.carries) + list(body.captures)
                   if j is not None and need[j]]
            # what the explainer reads of a run (cgraph.program.Result's fields)
            result = SimpleNamespace(graph=bg, values=[], outputs={}, output=name,
                                     gradients={w: None for w in wrt})
            sub = type(ex)(result, feed, digits)  # the same explainer, on one step
            sub.rename({**labels, o: f"{name}′"}, f"{name}′")
            steps.append({"carry": name, "forward": [s.strip() for s in sub.forward()],
                          "backward": [ln.text(sub.out_name) for ln in sub.lines()]})
        out.append({"line": getattr(node.span, "line", 0), "title": _title(node),
                    "steps": steps})
    return out


def _first_step(ex, node, body):
    """The feed of the body's first iteration (by its input names) and the labels
    its inputs get: the carried names, the outer names of the captured values."""
    bg = body.graph
    feed, labels = {}, {}
    a = node.attrs
    if body.index is not None:
        feed[bg.nodes[body.index].name] = np.float64(a["start"])
        labels[body.index] = "i"
    named = out_names(body)
    # the loop's first carries, unpacked as the loop itself unpacks them
    for k, (c, value) in enumerate(zip(body.carries, split(ex.values[node.inputs[0]],
                                                           body.shapes))):
        if c is None:
            continue
        feed[bg.nodes[c].name] = value
        labels[c] = named.get(body.outs[k]) or f"x{k}"
    for k, c in enumerate(body.captures):
        if c is not None:
            feed[bg.nodes[c].name] = ex.values[node.inputs[1 + k]]
            labels[c] = ex.label(node.inputs[1 + k])
    return feed, labels


def _title(node) -> list:
    a = node.attrs
    line = f"line {node.span.line}" if getattr(node.span, "line", 0) else "a loop"
    if node.op.name == "while":
        return [f"The while loop at {line}: its body once, with the numbers of its first "
                "iteration.",
                "  The backward pass (a reverse loop) runs this step's chain rule once per "
                "iteration, last first."]
    return [f"The loop at {line} ({a['n']:,} iterations): its body once, with the numbers of its "
            f"first iteration (i = {a['start']:g}).",
            "  The backward pass (a reverse loop) multiplies the one-step derivatives ∂x′/∂x "
            "over the iterations, last first,",
            "  and sums each step's ∂x′/∂c for a captured value c."]
