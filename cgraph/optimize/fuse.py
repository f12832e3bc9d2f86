"""Elementwise fusion: a region of elementwise ops becomes one `fused` node.

A region is a connected set of elementwise nodes of one shape that no path
leaves and re-enters through another op (so it can run as one step): a
forward chain and the backward chain that reuses its values fuse together.
The fused node runs the region block by block (BLOCK elements at a time,
about half a megabyte): intermediates live only in block-sized scratch
buffers and are never materialised as whole arrays, and each value the
forward and the backward share is computed once per block. Values used
outside the region are its outputs (one output: the node's value; several:
a tuple that `fused_out` nodes pick from). Each op still runs through its own
NumPy forward from the registry, so results are bit-for-bit those of the
unfused graph. (numexpr was measured as an alternative backend and lost: NumPy's
vectorised exp/log/tanh beat numexpr's by 3-13x here, see bench/.)
"""
from __future__ import annotations

import math

import numpy as np

from .. import shapes as S
from ..registry import defop, get
from .rewrite import _retarget, compact, topo_sort

BLOCK = 65536
MIN_SIZE = 4 * BLOCK  # smaller chains gain nothing from blocking


def _fused_forward(*args, program, outputs, shape, dtype, out=None):
    """Run `program` over the inputs block by block; return the output values
    (one array, or a tuple when the region has several outputs)."""
    flat, n = [], math.prod(shape)
    for a in args:
        a = np.asarray(a)
        if a.size == 1 or (a.size and not any(a.strides)):  # a scalar, or a broadcast of one
            flat.append(a.reshape(-1)[:1].reshape(()))
        elif a.shape == tuple(shape):
            flat.append(np.ascontiguousarray(a).reshape(-1))
        else:  # partly broadcast operands: run the region whole-array
            full = [np.broadcast_to(x, shape) if np.ndim(x) else x for x in args]
            tmp = _run_program(program, full)
            return _pack([np.array(tmp[k], dtype=d) for k, d in outputs], out)
    results = [out if out is not None and len(outputs) == 1 else np.empty(shape, d)
               for _, d in outputs]
    flat_out = [r.reshape(-1) for r in results]
    # scratch buffers shared by steps whose values do not overlap in time, reused by
    # every block: no allocation in the loop, and a working set that stays in cache
    slots, sizes = _scratch_plan(program, outputs, dtype)
    buffers = [np.empty(min(BLOCK, n), d) for d in sizes]
    for s in range(0, n, BLOCK):
        e = min(s + BLOCK, n)
        block = [a if a.ndim == 0 else a[s:e] for a in flat]
        views = [b[: e - s] for b in buffers]
        tmp = _run_program(program, block, [None if k < 0 else views[k] for k in slots])
        for (k, _), o in zip(outputs, flat_out):
            o[s:e] = tmp[k]
    return _pack(results, out)


def _pack(results, out):
    return results[0] if len(results) == 1 else tuple(results)


def _scratch_plan(program, outputs, dtype):
    """A scratch slot per step (-1: the op allocates its own result), reusing the
    slot of a value after its last use; returns (slot per step, dtype per slot)."""
    last = {}
    for k, (_, refs, _) in enumerate(program):
        for r in refs:
            if r < 0:
                last[-r - 1] = k
    for k, _ in outputs:  # outputs are copied out after the block: they live to the end
        last[k] = len(program)
    free: dict = {}
    slots, sizes = [], []
    for k, (opname, refs, attrs) in enumerate(program):
        d = _step_dtype(dtype, opname)
        if attrs or not isinstance(get(opname).forward, np.ufunc):
            slots.append(-1)
        else:
            # an input that dies here may be overwritten in place (elementwise, same block)
            for r in refs:
                if r < 0 and last.get(-r - 1) == k and slots[-r - 1] >= 0:
                    free.setdefault(sizes[slots[-r - 1]], []).append(slots[-r - 1])
            pool = free.get(d)
            if pool:
                slots.append(pool.pop())
            else:
                slots.append(len(sizes))
                sizes.append(d)
        for r in refs:  # the rest of the inputs dying here come free for later steps
            j = -r - 1
            if r < 0 and last.get(j) == k and slots[j] >= 0 and slots[j] != slots[k] \
                    and slots[j] not in free.get(sizes[slots[j]], []):
                free.setdefault(sizes[slots[j]], []).append(slots[j])
    return slots, sizes


def _step_dtype(dtype, opname):
    return np.bool_ if get(opname).dtype == "bool" else np.dtype(dtype)


def _run_program(program, inputs, scratch=None) -> list:
    tmp: list = []
    for k, (opname, refs, attrs) in enumerate(program):
        fn = get(opname).forward
        vals = [inputs[r] if r >= 0 else tmp[-r - 1] for r in refs]
        if scratch is not None and not attrs and isinstance(fn, np.ufunc):
            tmp.append(fn(*vals, out=scratch[k]))
        else:
            tmp.append(fn(*vals, **dict(attrs)))
    return tmp


defop("fused", "xs:tensors, program:any, outputs:any, shape:shape, dtype:str", _fused_forward,
      None, None, doc="a region of elementwise ops run block by block (made by the optimiser)",
      symbol="fused", foldable=False)
defop("fused_out", "x, index:int", lambda x, index: x[index], None, None,
      doc="one output of a fused region with several", symbol="out", foldable=False)


def _fusible(n) -> bool:
    return (n.op.elementwise and n.op.forward is not None and S.known(n.shape)
            and n.dtype in ("float64", "float32", "bool") and (S.size(n.shape) or 0) >= MIN_SIZE)


def _regions(g) -> list[list[int]]:
    """Connected elementwise nodes of one shape and one epoch. A node's epoch
    counts the non-elementwise ops between it and the region's start, so two
    nodes joined through such an op (x -> sum -> y) never share a region."""
    nodes = g.nodes
    fus = [_fusible(n) for n in nodes]
    epoch = [-1] * len(nodes)  # elementwise: its epoch; others: the latest epoch they follow
    parent = list(range(len(nodes)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for n in nodes:
        i = n.id
        if fus[i]:
            epoch[i] = max([0] + [epoch[j] if fus[j] else epoch[j] + 1 for j in n.inputs])
            for j in n.inputs:
                if fus[j] and epoch[j] == epoch[i] and nodes[j].shape == n.shape:
                    parent[find(j)] = find(i)
        else:
            epoch[i] = max([-1] + [epoch[j] for j in n.inputs])
    groups: dict[int, list] = {}
    for i in range(len(nodes)):
        if fus[i]:
            groups.setdefault(find(i), []).append(i)
    return [sorted(m) for m in groups.values() if len(m) >= 2]


def run(g, targets) -> dict:
    nodes, count = g.nodes, len(g.nodes)
    keep = set(targets)
    users: dict[int, set] = {}
    for n in nodes:
        for j in n.inputs:
            users.setdefault(j, set()).add(n.id)
    redirect: dict[int, int] = {}   # an output member -> the node that now gives its value
    placed: dict[int, int] = {}     # a new node -> the position it takes in the order
    for members in _regions(g):
        inside = set(members)
        outs = [m for m in members if m in keep or users.get(m, set()) - inside]
        ext: list[int] = []
        local: dict[int, int] = {}
        program = []
        for i in members:
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
        last = nodes[members[-1]]
        attrs = {"program": tuple(program), "outputs": tuple((local[m], nodes[m].dtype) for m in outs),
                 "shape": list(last.shape), "dtype": last.dtype}
        if len(outs) == 1:  # the region's value is its last node's: replace it in place
            last.op, last.inputs, last.attrs = get("fused"), tuple(ext), attrs
            continue
        with_span(g, last)
        f = g.add("fused", ext, attrs)
        placed[f] = members[-1]
        for k, m in enumerate(outs):
            o = g.add("fused_out", (f,), {"index": k})
            on = g.nodes[o]
            on.shape, on.dtype, on.name, on.span, on.scope = (nodes[m].shape, nodes[m].dtype,
                                                              nodes[m].name, nodes[m].span,
                                                              nodes[m].scope)
            redirect[m] = o
            placed[o] = members[-1]
    if not redirect:
        return compact(g, list(targets)) if any(n.op.name == "fused" for n in nodes) else {}
    for n in g.nodes:
        if n.op.name != "fused_out":
            n.inputs = tuple(redirect.get(j, j) for j in n.inputs)
    _retarget(g, lambda i: redirect.get(i, i))
    moved = topo_sort(g, lambda i: (placed.get(i, i), i))
    targets = [moved[redirect.get(t, t)] for t in targets]
    dropped = compact(g, targets)
    final = {}
    for old in range(count):
        new = dropped.get(moved[redirect.get(old, old)], moved[redirect.get(old, old)])
        if new != old:
            final[old] = new
    return final


def with_span(g, node) -> None:
    """New nodes take the span and scope of the node they stand for."""
    g.span, g.scope = node.span, node.scope
