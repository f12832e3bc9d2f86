"""Running graphs: one op (`run_op`, used by eager mode and constant folding)
and a whole graph (`Plan`, the static driver)."""
from __future__ import annotations

import _thread  # threading's C core (importing `threading` costs 0.4 ms)
import math

import numpy as np

from .errors import AssertionFailed, CgraphError, Diagnostic


def run_op(node, args):
    """Run one node's NumPy forward on its argument values; locate failures."""
    with np.errstate(all="ignore"):
        return run_op_quiet(node, args)


def run_op_quiet(node, args):
    """`run_op` for a caller already inside `np.errstate(all="ignore")` (an eager
    build: entering it once per node cost ~2 µs a node)."""
    try:
        return node.op.forward(*args, **node.attrs)
    except CgraphError as exc:
        raise located(exc, node) from None
    except AssertionFailed as exc:
        text = str(exc)
        raise CgraphError([Diagnostic("runtime", "assertion failed" + (
            f": {text}" if text and text != "assertion failed" else ""), node.span)]) from None
    except np.linalg.LinAlgError as exc:
        raise CgraphError([Diagnostic("runtime", f"{node.op.name}: {exc}", node.span,
                                      "the matrix is singular or not square")]) from None
    except (ValueError, TypeError, IndexError, OverflowError, ZeroDivisionError, OSError) as exc:
        raise CgraphError([Diagnostic("runtime", f"{node.op.name}: {exc}", node.span)]) from None


def located(exc: CgraphError, node) -> CgraphError:
    """An error an op raised without a place (a while node's runaway loop): at the node."""
    first = exc.errors[0]
    if first.span is not None:
        return exc
    return CgraphError([Diagnostic(first.kind, first.message, node.span, first.hint)]
                       + list(exc.errors[1:]))


def run_scalar_steps(steps, fv: list) -> None:
    """Run a scalar plan's steps on the Python floats of `fv` (in place). A step is
    (fn, a, b, out): b >= 0 two inputs, b == -1 one, b == -2 the inputs' tuple in a.
    Raises what the float rules raise (OverflowError...): callers fall back to NumPy."""
    for fn, a, b, o in steps:
        if b >= 0:
            fv[o] = fn(fv[a], fv[b])
        elif b == -1:
            fv[o] = fn(fv[a])
        else:  # three inputs (where, clip)
            fv[o] = fn(*[fv[j] for j in a])


def _as_float(fn, dtype):
    """fn, its result cast to the node's float dtype (NumPy sums booleans to integers)."""
    def run(*args, **kw):
        v = fn(*args, **kw)
        return v if getattr(v, "dtype", dtype) == dtype else np.asarray(v, dtype)
    return run


MIN_BUFFER = 4096  # elements; below this a fresh allocation is cheaper than bookkeeping
FRESH = {"add", "sub", "mul", "div", "pow", "neg", "exp", "log", "log1p", "expm1", "sqrt",
         "square", "sin", "cos", "tan", "tanh", "sinh", "cosh", "abs", "sign", "maximum",
         "minimum", "matmul", "sum", "mean", "where", "fused", "sigmoid", "relu", "gt", "lt",
         "ge", "le", "eq", "ne", "softmax", "log_softmax", "cross_entropy"}


class Plan:
    """A static graph made ready to run many times.

    Only the nodes the targets (and every print/assert) need are kept; each
    intermediate is dropped right after its last use, and the buffers of
    dead elementwise results are handed to later ufuncs through `out=`
    (kept between runs, so a repeated call allocates almost nothing). When
    every node is a scalar with a Python-float implementation, the plan runs
    on floats and `math` instead (same results, far less overhead per op).
    Runs from several threads at once are safe: the kept buffers serve one
    run at a time (a run that finds them busy allocates its own), and the
    memory plan is built under a lock and published whole.
    """

    def __init__(self, graph, targets):
        self._lock = _thread.allocate_lock()       # building the memory plan
        self._busy = _thread.allocate_lock()       # the kept buffers are in use
        nodes = graph.nodes
        self.graph = graph
        self.targets = list(targets)
        need = graph.needed(list(targets) + graph.effects)
        self.order = [i for i in range(len(nodes)) if need[i]]
        self.leaves = [(i, nodes[i].name, nodes[i].attrs.get("default")) for i in self.order
                       if nodes[i].op.name in ("input", "leaf")]
        self.consts = [(i, nodes[i].attrs["value"]) for i in self.order if nodes[i].op.name == "const"]
        self.size = len(nodes)
        ops = [nodes[i] for i in self.order if nodes[i].op.name not in ("input", "leaf", "const")]
        self.scalar = bool(ops) and graph.float_dtype == np.float64 and all(
            nodes[i].shape == () for i in self.order) and all(n.op.scalar is not None for n in ops)
        if self.scalar:
            # (fn, a, b, out) with b = -1 for one input: the tightest loop Python allows
            self.scalar_steps = [(n.op.scalar, n.inputs[0], n.inputs[1] if len(n.inputs) == 2 else -1,
                                  n.id) if 1 <= len(n.inputs) <= 2 else (n.op.scalar, n.inputs, -2, n.id)
                                 for n in ops]
            # compiled (cgraph.loop_compile) when the plan runs a second time
            self._code, self._scalar_runs = None, 0
        else:
            self._plan_memory(nodes)

    def __getattr__(self, name):
        # a scalar plan plans NumPy memory only if it ever needs the NumPy path
        if name in ("steps", "peak_bytes", "naive_bytes", "slot_shapes", "buffers"):
            with self._lock:
                if "buffers" not in self.__dict__:
                    self._plan_memory(self.graph.nodes)
            return self.__dict__[name]
        raise AttributeError(name)

    def _plan_memory(self, nodes) -> None:
        """Decide when each value dies and which dead buffer each ufunc result reuses;
        compute the peak bytes with and without this plan (known before running)."""
        keep = set(self.targets)
        last: dict[int, int] = {}
        pinned: set = set()     # values some view-making op reads: their buffers stay taken
        for i in self.order:
            n = nodes[i]
            fresh = n.op.name in FRESH
            for j in n.inputs:
                last[j] = i
                if not fresh:
                    pinned.add(j)
        frees: dict[int, list] = {}
        for j, i in last.items():
            if j not in keep:
                frees.setdefault(i, []).append(j)
        pool: dict[tuple, list] = {}       # (shape, dtype) -> free buffer slots
        slot_of: dict[int, int] = {}       # node id -> buffer slot its value lives in
        slot_shapes: list[tuple] = []
        steps: list = []
        live = peak = naive = 0
        released: set = set()
        sizes: dict[int, int] = {}         # node id -> bytes of its value
        no_dying = ()

        def release(j):
            if j in slot_of and j not in released and j not in pinned:
                released.add(j)
                pool.setdefault(self._key(nodes[j]), []).append(slot_of[j])

        for i in self.order:
            n = nodes[i]
            if n.op.name in ("input", "leaf", "const"):
                continue
            dying = tuple(frees[i]) if i in frees else no_dying
            out = -1
            b = sizes[i] = _nbytes(n)
            if n.shape and i not in keep and self._reusable(n, nodes):
                for j in dying:  # an elementwise ufunc may write over an input that dies here
                    release(j)
                free = pool.get(self._key(n))
                if free:
                    out = free.pop()
                else:
                    out = len(slot_shapes)
                    slot_shapes.append(self._key(n))
                    live += b
                slot_of[i] = out
            else:
                live += b
            naive += b
            if live > peak:
                peak = live
            for j in dying:
                if j in slot_of:
                    release(j)
                elif j in sizes:    # an op's value (not a leaf's or a constant's)
                    live -= sizes[j]
            fn = n.op.forward
            if n.dtype.startswith("float") and any(nodes[j].dtype in ("bool", "int64")
                                                   for j in n.inputs):
                fn = _as_float(fn, np.dtype(n.dtype))  # sum(x > 0): a float, as in eager mode
            steps.append((n, fn, n.inputs, n.attrs, dying, out))
        # published whole, `buffers` last: another thread sees all of it or none
        self.slot_shapes, self.steps = slot_shapes, steps
        self.peak_bytes, self.naive_bytes = peak, naive
        self.buffers: list = [None] * len(slot_shapes)

    @staticmethod
    def _key(n):
        return (n.shape, n.dtype)

    @staticmethod
    def _reusable(n, nodes) -> bool:
        if not n.shape:  # scalars: a fresh float is cheaper than a buffer
            return False
        fn = n.op.forward
        if n.op.name == "fused":
            return n.shape is not None and n.dtype in ("float64", "float32")
        if not isinstance(fn, np.ufunc) or fn.nout != 1 or n.attrs or n.shape is None:
            return False
        if n.dtype not in ("float64", "float32") or not all(d is not None for d in n.shape):
            return False
        if math.prod(n.shape) < MIN_BUFFER:
            return False
        return all(nodes[j].dtype == n.dtype for j in n.inputs) and \
            (fn.signature is None or fn is np.matmul)

    def run(self, feed: dict) -> list:
        """Values of every kept node (None where freed); feed maps leaf names to arrays."""
        if self.scalar:
            out = self._run_scalar(feed)
            if out is not None:
                return out
        vals = [None] * self.size
        for i, name, default in self.leaves:
            v = feed.get(name)
            vals[i] = default if v is None else v
        for i, v in self.consts:
            vals[i] = v
        steps, bufs, slot_shapes = self.steps, self.buffers, self.slot_shapes
        mine = self._busy.acquire(False)
        if not mine:        # another thread runs this plan: buffers of this run's own
            bufs = [None] * len(slot_shapes)
        try:
            return self._run_steps(steps, vals, bufs, slot_shapes)
        finally:
            if mine:
                self._busy.release()

    @staticmethod
    def _run_steps(steps, vals, bufs, slot_shapes) -> list:
        with np.errstate(all="ignore"):
            for node, fn, ins, attrs, dying, out in steps:
                args = [vals[j] for j in ins]
                try:
                    if out >= 0:
                        buf = bufs[out]
                        if buf is None:
                            shape, dtype = slot_shapes[out]
                            buf = bufs[out] = np.empty(shape, dtype)
                        vals[node.id] = fn(*args, out=buf, **attrs)
                    else:
                        vals[node.id] = fn(*args, **attrs)
                except CgraphError as exc:
                    raise located(exc, node) from None
                except Exception:
                    vals[node.id] = run_op(node, args)  # re-raises, located
                for j in dying:
                    vals[j] = None
        return vals

    def _run_scalar(self, feed):
        code = self._code
        if code is None:
            self._scalar_runs += 1
            if self._scalar_runs < 2:
                return self._run_scalar_steps(feed)
            from . import loop_compile

            code = loop_compile.straight(self.scalar_steps, self.graph.nodes,
                                         [i for i, *_ in self.leaves] + [i for i, _ in self.consts],
                                         self.targets)
            # the constants' values travel with the rules: passed in after the leaves'
            code = self._code = (code[0], tuple(float(v) for _, v in self.consts) + code[1]) \
                if code is not None else False
        if code is False:
            return self._run_scalar_steps(feed)
        fn, rules = code
        args = []
        for _, name, default in self.leaves:
            v = feed.get(name)
            args.append(float(default if v is None else v))
        try:
            vals = fn(*args, *rules)
        except (OverflowError, ValueError, ZeroDivisionError):
            return self._run_scalar_steps(feed)  # its float rules decide (or NumPy does)
        out = [None] * self.size
        for t, v in zip(self.targets, vals):
            out[t] = np.asarray(v, dtype=bool if isinstance(v, bool) else np.float64)
        return out

    def _run_scalar_steps(self, feed):
        fv = [None] * self.size
        for i, name, default in self.leaves:
            v = feed.get(name)
            fv[i] = float(default if v is None else v)
        for i, v in self.consts:
            fv[i] = float(v)
        try:
            run_scalar_steps(self.scalar_steps, fv)
        except (OverflowError, ValueError, ZeroDivisionError):
            return None  # NumPy's inf/nan semantics: rerun the NumPy way
        out = [None] * self.size
        for t in self.targets:
            v = fv[t]
            out[t] = np.asarray(v, dtype=bool if isinstance(v, bool) else np.float64)
        return out


def _nbytes(n) -> int:
    shape = n.shape
    if shape is None or None in shape:
        return 0
    item = 1 if n.dtype == "bool" else 4 if n.dtype == "float32" else 8
    return math.prod(shape) * item if shape else item
