"""`cgraph jacobian`: ∂output/∂leaf for a (vector) output, every element.

One backward pass per output element, each seeded with a one-hot cotangent
(`cgraph.autodiff.backward(..., seed=)`), appended to the run's graph and
run by the engine's executor; row k of the Jacobian is the gradient of
output element k. `jacobians(program, values, of, wrt)` returns
(output name, output value, {leaf: J of shape out.shape + leaf.shape},
{leaf: connected}).
"""
from __future__ import annotations

import numpy as np

from ..errors import CgraphError, nearest

MAX_OUTPUT_ELEMENTS = 10_000


def jacobians(program, values: dict, of=None, wrt=None):
    from ..autodiff import backward
    from ..execute import Plan
    from ..program import reaches
    from ..shapes import fmt
    from .numerics import silenced_prints

    r = program.run(values, of=of)
    g = r.graph
    name = r.output
    y = g.outputs.get(name, g.names.get(name))
    node = g.nodes[y]
    if node.dtype not in ("float32", "float64"):
        raise CgraphError(f"'{name}' is {node.dtype}: it is not differentiable", kind="type",
                          span=node.span).with_source(program.file, program.source)
    leaves = dict(g.leaves)
    if wrt is not None:
        for w in wrt:
            if w not in leaves and w not in g.names:
                near = nearest(w, list(leaves) + list(g.names))
                raise CgraphError(f"--wrt names '{w}', which the program does not have", kind="name",
                                  hint=f"did you mean '{near}'?" if near else
                                  "its leaves are: " + (", ".join(leaves) or "none"))
        leaves = {w: leaves.get(w, g.names.get(w)) for w in wrt}
    shape = tuple(node.shape)
    m = int(np.prod(shape, dtype=np.int64))
    if m > MAX_OUTPUT_ELEMENTS:
        raise CgraphError(f"'{name}' has {m:,} elements ({fmt(shape)}); a Jacobian of more than "
                          f"{MAX_OUTPUT_ELEMENTS:,} rows is too big to print", kind="value",
                          span=node.span, hint="take a slice or a reduction of the output first")
    ids = list(leaves.values())
    rows = []
    dtype = np.dtype(node.dtype)
    saved_span, saved_fold = g.span, g.fold
    g.span, g.fold = node.span, False
    try:
        # row k's seed: a one-hot node made when the plan runs (and freed after it), not
        # a dense constant kept in the graph: m of those took m² floats (1.5 GB for 10,000)
        one = g.const(np.ones((), dtype=dtype), node.span)
        for k in range(m):
            at = tuple(("int", int(i)) for i in np.unravel_index(k, shape))
            seed = g.add("index_grad", (one,), {"shape": list(shape), "items": at})
            grads = backward(g, y, ids, seed=seed)
            rows.append([grads[i] for i in ids])
    finally:
        g.span, g.fold = saved_span, saved_fold
    if g.eager:
        vals = g.values
    else:
        with silenced_prints():
            vals = Plan(g, [y] + [i for row in rows for i in row]).run(program.feed(values))
    reach = reaches(g, y)
    out = {}
    for c, (w, i) in enumerate(leaves.items()):
        leaf_shape = tuple(np.shape(vals[rows[0][c]])) if rows else tuple(g.nodes[i].shape or ())
        stacked = np.stack([np.asarray(vals[row[c]]) for row in rows]) if rows \
            else np.zeros((0,) + leaf_shape)
        out[w] = stacked.reshape(shape + leaf_shape)
    connected = {w: bool(reach[i]) for w, i in leaves.items()}
    return name, vals[y], out, connected, r
