"""`cgraph jacobian`, `cgraph hessian`, `cgraph jvp`: derivative rows, every element.

The pipeline adds the rows (`Compiled.jacobian`): for the Jacobian, one
backward pass per output element seeded with a one-hot cotangent
(`cgraph.autodiff.jacobian_rows`); for the Hessian, the same rows of each
gradient with respect to its leaf (reverse over reverse); for J·v, one
forward-mode pass per direction (`cgraph.autodiff.forward`).
`jacobians(program, values, of, wrt, kind=True)` returns (output name, output
value, {leaf: array}, {leaf: connected}, the run's Result, "forward"/"reverse" for
a Jacobian): arrays of shape
out.shape + leaf.shape (Jacobian), leaf.shape + leaf.shape (Hessian) or
out.shape (J·v, kind = {leaf: direction}).
"""
from __future__ import annotations

import numpy as np


def jacobians(program, values: dict, of=None, wrt=None, kind=True):
    from ..program import result_of

    feed = program.feed(values)
    c = program.compiled(values, of=of, wrt=wrt, jacobian=kind)
    g = c.graph
    vals = g.values if program.mode == "eager" else program.execute(c, feed)
    y = c.outputs.get(c.output, c.names.get(c.output))
    out_shape = tuple(g.nodes[y].shape)
    out = {}
    is_jac = kind is True or kind in ("forward", "reverse")
    for w, rows in c.jacobian.items():
        leaf_shape = tuple(g.nodes[c.leaves[w].node].shape or ()) if is_jac \
            else tuple(g.nodes[g.leaves.get(w, g.names.get(w))].shape or ())
        head = out_shape if is_jac else leaf_shape
        if isinstance(kind, dict):
            out[w] = np.asarray(vals[rows[0]]).reshape(out_shape)
            continue
        if is_jac and c.jacobian_mode == "forward":  # columns J·e_j, one per leaf element
            cols = [np.asarray(vals[i]).reshape(out_shape) for i in rows]
            stacked = np.stack(cols, axis=-1) if cols else np.zeros(out_shape + (0,))
            out[w] = stacked.reshape(out_shape + leaf_shape)
            continue
        if rows:
            stacked = np.stack([np.asarray(vals[i]) for i in rows])
        else:  # an empty output: no rows
            stacked = np.zeros((0,) + leaf_shape)
        out[w] = stacked.reshape(head + stacked.shape[1:])
    connected = {w: gr.connected for w, gr in c.leaves.items()}
    r = result_of(c.replace(leaves={}), vals)
    return c.output, vals[y], out, connected, r, c.jacobian_mode
