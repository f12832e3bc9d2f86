"""`cgraph jacobian`: ∂output/∂leaf for a (vector) output, every element.

The pipeline adds one backward pass per output element, each seeded with a
one-hot cotangent (`cgraph.autodiff.jacobian_rows`); row k of the Jacobian is
the gradient of output element k. `jacobians(program, values, of, wrt)`
returns (output name, output value, {leaf: J of shape out.shape + leaf.shape},
{leaf: connected}, the run's Result).
"""
from __future__ import annotations

import numpy as np


def jacobians(program, values: dict, of=None, wrt=None):
    from ..program import result_of

    feed = program.feed(values)
    c = program.compiled(values, of=of, wrt=wrt, jacobian=True)
    g = c.graph
    vals = g.values if program.mode == "eager" else program.execute(c, feed)
    y = c.outputs.get(c.output, c.names.get(c.output))
    shape = tuple(g.nodes[y].shape)
    out = {}
    for w, rows in c.jacobian.items():
        if rows:
            stacked = np.stack([np.asarray(vals[i]) for i in rows])
        else:  # an empty output: no rows, the leaf's shape from its node
            stacked = np.zeros((0,) + tuple(g.nodes[c.leaves[w].node].shape or ()))
        out[w] = stacked.reshape(shape + stacked.shape[1:])
    connected = {w: gr.connected for w, gr in c.leaves.items()}
    r = result_of(c.replace(leaves={}), vals)
    return c.output, vals[y], out, connected, r
