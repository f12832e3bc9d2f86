"""The ops the optimiser's fusion makes: `fused` runs a region of elementwise
ops block by block with shared scratch buffers (see cgraph/optimize/fuse.py
for how regions are chosen), and `fused_out` picks one of its outputs."""
from __future__ import annotations

import math

import numpy as np

from ..registry import defop, get

BLOCK = 65536  # elements a block: about half a megabyte of float64


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
            tmp = run_program(program, full)
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
        tmp = run_program(program, block, [None if k < 0 else views[k] for k in slots])
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


def run_program(program, inputs, scratch=None) -> list:
    tmp: list = []
    for k, (opname, refs, attrs) in enumerate(program):
        fn = get(opname).forward
        vals = [inputs[r] if r >= 0 else tmp[-r - 1] for r in refs]
        if scratch is not None and not attrs and isinstance(fn, np.ufunc):
            tmp.append(fn(*vals, out=scratch[k]))
        else:
            tmp.append(fn(*vals, **dict(attrs)))
    return tmp


defop("fused", sig="xs:tensors, program:any, outputs:any, shape:shape, dtype:str",
      forward=_fused_forward,
      shape=None, vjp=None,
      doc="a region of elementwise ops run block by block (made by the optimiser)",
      symbol="fused", foldable=False, family="internal")
defop("fused_out", sig="x, index:int", forward=lambda x, index: x[index], shape=None, vjp=None,
      doc="one output of a fused region with several", symbol="out", foldable=False,
      family="internal")
