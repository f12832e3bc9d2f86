"""Elementwise fusion: a chain of elementwise ops becomes one `fused` node.

The fused node runs its ops block by block (BLOCK elements at a time, about
half a megabyte): the intermediates of a block stay in cache and are never
materialised as whole arrays, so the chain costs fewer passes over main
memory and far less peak memory. Each op still runs through its own NumPy
forward from the registry, so results are bit-for-bit those of the unfused
graph. (numexpr was measured as an alternative backend and lost: NumPy's
vectorised exp/log/tanh beat numexpr's by 3-13x here, see bench/.)
"""
from __future__ import annotations

import numpy as np

from .. import shapes as S
from ..registry import defop, get
from .rewrite import compact

BLOCK = 65_536
MIN_SIZE = 4 * BLOCK  # smaller chains gain nothing from blocking


def _fused_forward(*args, program, shape, dtype, out=None):
    if out is None:
        out = np.empty(shape, dtype)
    flat_out = out.reshape(-1)
    n = flat_out.shape[0]
    flat = []
    for a in args:
        a = np.asarray(a)
        if a.size == 1:
            flat.append(a.reshape(()))
        elif a.shape == tuple(shape):
            flat.append(np.ascontiguousarray(a).reshape(-1))
        else:  # partly broadcast operands: run the chain whole-array
            out[...] = _run_program(program, [np.broadcast_to(a, shape) if a.ndim else a for a in args])
            return out
    # one scratch buffer per step, reused by every block: no allocation in the loop
    scratch = [np.empty(min(BLOCK, n), _step_dtype(dtype, op)) for op, _, _ in program]
    for s in range(0, n, BLOCK):
        e = min(s + BLOCK, n)
        block = [a if a.ndim == 0 else a[s:e] for a in flat]
        flat_out[s:e] = _run_program(program, block, [b[: e - s] for b in scratch])
    return out


def _step_dtype(dtype, opname):
    return np.bool_ if get(opname).dtype == "bool" else np.dtype(dtype)


def _run_program(program, inputs, scratch=None):
    tmp: list = []
    for k, (opname, refs, attrs) in enumerate(program):
        fn = get(opname).forward
        vals = [inputs[r] if r >= 0 else tmp[-r - 1] for r in refs]
        if scratch is not None and not attrs and isinstance(fn, np.ufunc):
            tmp.append(fn(*vals, out=scratch[k]))
        else:
            tmp.append(fn(*vals, **dict(attrs)))
    return tmp[-1]


defop("fused", "xs:tensors, program:any, shape:shape, dtype:str", _fused_forward, None, None,
      doc="a chain of elementwise ops run block by block (made by the optimiser)",
      symbol="fused", foldable=False)


def run(g, targets) -> dict:
    nodes = g.nodes
    consumers = [0] * len(nodes)
    last_consumer = [-1] * len(nodes)
    for n in nodes:
        for j in set(n.inputs):
            consumers[j] += 1
            last_consumer[j] = n.id
    keep = set(targets)

    def fusible(n):
        return (n.op.elementwise and n.op.forward is not None and S.known(n.shape)
                and n.dtype in ("float64", "float32", "bool"))

    root = list(range(len(nodes)))
    members: dict[int, list] = {}
    for i in range(len(nodes) - 1, -1, -1):
        n = nodes[i]
        if not fusible(n):
            continue
        c = last_consumer[i]
        if i not in keep and consumers[i] == 1 and c >= 0 and root[c] in members \
                and nodes[c].shape == n.shape:
            root[i] = root[c]
        members.setdefault(root[i], []).append(i)
    changed = False
    for r, group in members.items():
        if len(group) < 2 or (S.size(nodes[r].shape) or 0) < MIN_SIZE:
            continue
        group.sort()
        inside = set(group)
        ext: list[int] = []
        local: dict[int, int] = {}
        program = []
        for i in group:
            refs = []
            for j in nodes[i].inputs:
                if j in inside:
                    refs.append(-local[j] - 1)
                else:
                    if j not in ext:
                        ext.append(j)
                    refs.append(ext.index(j))
            local[i] = len(program)
            program.append((nodes[i].op.name, tuple(refs), tuple(sorted(nodes[i].attrs.items()))))
        rn = nodes[r]
        rn.op, rn.inputs = get("fused"), tuple(ext)
        rn.attrs = {"program": tuple(program), "shape": list(rn.shape), "dtype": rn.dtype}
        changed = True
    return compact(g, list(targets)) if changed else {}
