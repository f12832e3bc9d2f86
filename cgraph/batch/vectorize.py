"""Batching: one graph written for one row, run over N rows at once (like `jax.vmap`).

`batch_graph(g, rows, n, targets)` is a graph transformation. `g` is an
ordinary single-row graph (built for scalar row inputs, with its backward
part already appended when gradients are wanted, so gradients come out per
row). The result is a new graph in which every node that depends on a row
input carries a leading batch axis of size `n`, and every other node is
copied as it is (computed once, shared by all rows):

    single-row node  shape s      ->  batched node  shape (n,) + s

Each registry op says how it batches with its `batch` field (`OpDef.batch`):
a rule name from `RULES` below, or a callable `rule(batcher, node, args)`.
The generic rules, by family:

- `elementwise` (unary, binary, where, clip, comparisons): NumPy broadcasting
  does the work once the ranks are aligned: a batched operand of shape
  (n,) + s whose single-row rank is below the result's rank k is reshaped
  to (n,) + (1,)*(k - len(s)) + s, so that it broadcasts against unbatched
  operands of higher rank;
- `direct`: the op already treats leading axes as a batch (inv, det,
  one_hot, zeros_like, matrix_transpose...); `assert` checks every row;
- `reduce` / `argreduce`: axes shift by one; axis none means every non-batch
  axis; `axis` (softmax, log_softmax): the axis shifts by one;
- `reshape` (reshape, flatten, squeeze, expand_dims): reshape to (n,) + s;
  `broadcast` (broadcast_to, full), `sum_to`, `concat`, `stack`, `index`,
  `index_grad`, `take`, `scatter_add`, `transpose`: batch-aware versions;
- `matmul` / `dot` / `outer` / `solve` / `trace` / `diag` / `einsum`: NumPy
  matmul broadcasts batch dims once 1-D operands are promoted and ranks
  aligned (with a single GEMM when only the left operand is batched and the
  right one is an unbatched matrix); einsum gets a fresh batch letter;
- `cross_entropy`, `mse`: their per-row mean is taken over the non-batch
  axes only.

A `loop` node is batched through its body (cgraph/batch/loop_rule.py).
An op with no rule (`batch=None`, or `"loop"`) falls back to a per-row loop
for that op only: `np.stack` of the op's forward on each row. `loop_ops()`
lists those ops (`print`, which prints once per row on purpose; `while`, whose
rows would each stop after their own count); tests/test_batching.py keeps
that list short.

Gradients. The backward graph is built for one row before batching, so the
gradient of the output with respect to a row input is per row: row r of
∂Y/∂a is ∂Y_r/∂a_r. A shared leaf (a param or input given once for all
rows) gets the gradient of the sum over rows, Σ_r ∂Y_r/∂W: `shared_total`
adds that sum (and multiplies an unbatched gradient, the same for every
row, by n). docs/batch.md says the same for users.

The batched graph is never differentiated, so rules may make nodes of
unregistered ops (`_custom`) that only need a forward and a shape rule.
"""
from __future__ import annotations

import string
from typing import Callable, Iterable

import numpy as np

from .. import registry as R
from .. import shape_math as S
from ..ir import Graph, Node

FULL = ("slice", None, None, None)


class BatchError(Exception):
    """A rule met a graph it cannot batch (a bug, or unknown shapes)."""


# ------------------------------------------------------------------ batcher
class Batcher:
    """Copies a single-row graph into a batched one, node by node."""

    def __init__(self, g: Graph, rows: Iterable[str], n: int):
        self.src = g
        self.rows = set(rows)
        self.n = int(n)
        self.gb = Graph(dtype=g.float_dtype.name, seed=g.seed)
        self.new: dict[int, int] = {}       # single-row id -> batched-graph id
        self.batched: dict[int, bool] = {}  # single-row id -> has the batch axis
        self.looped: list[str] = []         # ops that fell back to a per-row loop

    # -------------------------------------------------------------- helpers
    def add(self, op, ins, attrs=None) -> int:
        return self.gb.add(op, list(ins), attrs or {})

    def shape(self, old: int) -> tuple:
        s = self.src.nodes[old].shape
        if s is None or not S.known(s):
            raise BatchError(f"node %{old} has an unknown shape {S.fmt(s)}")
        return tuple(s)

    def reshape(self, i: int, shape) -> int:
        if self.gb.nodes[i].shape == tuple(shape):
            return i
        return self.add("reshape", [i], {"shape": [int(d) for d in shape]})

    def align(self, i: int, s: tuple, k: int) -> int:
        """A batched value of single-row shape s, reshaped to rank k + 1 (size-1 axes
        after the batch axis) so it broadcasts against unbatched values of rank k."""
        if len(s) >= k:
            return i
        return self.reshape(i, (self.n,) + (1,) * (k - len(s)) + tuple(s))

    def full(self, i: int, s: tuple, batched: bool) -> int:
        """A value given the batch axis for real (unbatched: broadcast over rows)."""
        if batched:
            return i
        return self.add("broadcast_to", [i], {"shape": [self.n, *s]})

    # ------------------------------------------------------------------ run
    def run(self, targets: Iterable[int]) -> dict[int, int]:
        src, gb = self.src, self.gb
        nodes = src.nodes
        need = src.needed(list(targets) + list(src.effects) + list(src.leaves.values())
                          + list(src.inputs.values()))
        for node in nodes:
            if not need[node.id]:
                continue
            gb.span, gb.scope = node.span, node.scope
            kind = node.op.name
            if kind in ("input", "leaf"):
                row = node.name in self.rows
                default = None if row else node.attrs.get("default")
                shape = (self.n,) + tuple(node.shape or ()) if row else node.shape
                new = gb.leaf(node.name, kind, default=default, shape=shape, span=node.span)
                gb.nodes[new].dtype = node.dtype if not row else gb.float_dtype.name
                self.new[node.id], self.batched[node.id] = new, row
                continue
            if not any(self.batched[j] for j in node.inputs):
                self.new[node.id], self.batched[node.id] = self._copy(node), False
                continue
            args = [(self.new[j], self.batched[j]) for j in node.inputs]
            out = rule_for(node.op)(self, node, args)
            new, flag = out if isinstance(out, tuple) else (out, True)
            want = ((self.n,) if flag else ()) + tuple(node.shape)
            if gb.nodes[new].shape != want:  # pragma: no cover - a rule's bug
                raise BatchError(f"batching {node.op.name} gave shape {S.fmt(gb.nodes[new].shape)}, "
                                 f"expected {S.fmt(want)}")
            if gb.nodes[new].name is None:
                gb.nodes[new].name = node.name
            if node.id in src.effects and new not in gb.effects:
                gb.effects.append(new)
            self.new[node.id], self.batched[node.id] = new, flag
        for table in ("names", "outputs"):
            setattr(gb, table, {k: self.new[v] for k, v in getattr(src, table).items() if v in self.new})
        return self.new

    def _copy(self, node: Node) -> int:
        """The node as it is (no batch axis): same op, attrs, shape and dtype."""
        gb = self.gb
        new = Node(len(gb.nodes), node.op, tuple(self.new[j] for j in node.inputs), node.attrs,
                   node.shape, node.dtype, node.span, node.name, node.scope)
        gb.nodes.append(new)
        value = self.src.values[node.id] if node.op.name == "const" else None
        gb.values.append(value)
        gb.varies.append(any(gb.varies[j] for j in new.inputs) and node.op.name != "const")
        if node.op.name in ("print", "assert"):
            gb.effects.append(new.id)
        return new.id


def batch_graph(g: Graph, rows: Iterable[str], n: int, targets: Iterable[int]):
    """(batched graph, {single-row id: batched id}, {single-row id: batched?}).

    `rows` names the leaves that get one value per row; every node the
    targets (and the graph's prints and asserts) need is carried over."""
    b = Batcher(g, rows, n)
    b.run(targets)
    return b.gb, b.new, b.batched


def shared_total(gb: Graph, i: int, batched: bool, n: int) -> int:
    """The sum over rows of a per-row value (the gradient of a shared leaf)."""
    if batched:
        fused = _summed_matmul(gb, i, n)
        if fused is not None:
            return fused
        return gb.add("sum", [i], {"axis": [0], "keepdims": False})
    return gb.add("mul", [i, gb.const(float(n))])


def _summed_matmul(gb: Graph, i: int, n: int):
    """Σ_r A_r @ B_r as one matrix product, [p, n·k] @ [n·k, q], when node i is a
    batched matmul of [n, p, k] by [n, k, q] (a shared weight's gradient, xᵀ·g
    per row): the [n, p, q] per-row products are never made."""
    node = gb.nodes[i]
    if node.op.name != "matmul" or len(node.shape or ()) != 3:
        return None
    a, b = (gb.nodes[j] for j in node.inputs)
    if len(a.shape or ()) != 3 or len(b.shape or ()) != 3 or a.shape[0] != n or b.shape[0] != n:
        return None
    _, p, k = a.shape
    q = b.shape[2]
    at = gb.add("transpose", [a.id], {"axes": [1, 0, 2]})
    left = gb.add("reshape", [at], {"shape": [int(p), int(n * k)]})
    right = gb.add("reshape", [b.id], {"shape": [int(n * k), int(q)]})
    return gb.add("matmul", [left, right])


# -------------------------------------------------------------------- rules
def rule_for(op: R.OpDef) -> Callable:
    if op.name in AFTER_BATCHING:  # pragma: no cover - batching runs before optimising
        raise RuntimeError(f"{op.name} is made by the optimiser, after batching")
    rule = op.batch if op.batch is not None else "loop"
    return RULES[rule] if isinstance(rule, str) else rule


def elementwise(b: Batcher, node, args):
    k = len(b.shape(node.id))
    ins = [b.align(i, b.shape(j), k) if bat else i
           for (i, bat), j in zip(args, node.inputs)]
    return b.add(node.op, ins, node.attrs)


def direct(b: Batcher, node, args):
    return b.add(node.op, [i for i, _ in args], node.attrs)


def assert_rule(b: Batcher, node, args):
    """assert over every row at once (the run names the first failing row)."""
    return direct(b, node, args), False


def _shift_axes(axis, k: int) -> list:
    return [a + 1 for a in S.norm_axes(axis, k)]


def reduce(b: Batcher, node, args):
    (x, _), k = args[0], len(b.shape(node.inputs[0]))
    attrs = dict(node.attrs)
    attrs["axis"] = _shift_axes(attrs.get("axis"), k)
    return b.add(node.op, [x], attrs)


def argreduce(b: Batcher, node, args):
    (x, _), s = args[0], b.shape(node.inputs[0])
    axis, keepdims = node.attrs.get("axis"), node.attrs.get("keepdims", False)
    if axis is None:  # the flat index within each row
        flat = b.reshape(x, (b.n, S.size(s)))
        out = b.add(node.op, [flat], {"axis": 1, "keepdims": False})
        return b.reshape(out, (b.n,) + tuple(node.shape))
    return b.add(node.op, [x], {"axis": S.norm_axis(axis, len(s)) + 1, "keepdims": keepdims})


def axis_rule(b: Batcher, node, args):
    (x, _), k = args[0], len(b.shape(node.inputs[0]))
    attrs = dict(node.attrs)
    attrs["axis"] = S.norm_axis(attrs.get("axis", -1), k) + 1
    return b.add(node.op, [x], attrs)


def reshape_rule(b: Batcher, node, args):
    """reshape, flatten, squeeze, expand_dims, reshape_like: the same values
    in the node's (single-row) shape, behind the batch axis."""
    x, bat = args[0]
    if not bat:  # reshape_like(x, like) with only `like` batched
        return b.reshape(x, node.shape), False
    return b.reshape(x, (b.n,) + tuple(node.shape))


def broadcast_rule(b: Batcher, node, args):
    """broadcast_to(x, shape) and full(shape, v): the one tensor input, aligned."""
    x, _ = args[0]
    out = tuple(node.shape)
    x = b.align(x, b.shape(node.inputs[0]), len(out))
    return b.add("broadcast_to", [x], {"shape": [b.n, *out]})


def sum_to_rule(b: Batcher, node, args):
    x, _ = args[0]
    xs, target = b.shape(node.inputs[0]), tuple(node.shape)
    lead = len(xs) - len(target)
    axes = [1 + i for i in range(lead)] + [1 + i + lead for i, d in enumerate(target)
                                           if d == 1 and xs[i + lead] != 1]
    if axes:
        x = b.add("sum", [x], {"axis": axes, "keepdims": True})
    return b.reshape(x, (b.n,) + target)


def concat_rule(b: Batcher, node, args):
    k = len(node.shape)
    ins = [b.full(i, b.shape(j), bat) for (i, bat), j in zip(args, node.inputs)]
    return b.add(node.op, ins, {"axis": S.norm_axis(node.attrs.get("axis", 0), k) + 1})


def stack_rule(b: Batcher, node, args):
    k = len(node.shape)
    ins = [b.full(i, b.shape(j), bat) for (i, bat), j in zip(args, node.inputs)]
    return b.add(node.op, ins, {"axis": S.norm_axis(node.attrs.get("axis", 0), k) + 1})


def index_rule(b: Batcher, node, args):
    x, _ = args[0]
    items = tuple(tuple(e) for e in node.attrs.get("items", ()))
    return b.add(node.op, [x], {"items": (FULL,) + items})


def index_grad_rule(b: Batcher, node, args):
    g, _ = args[0]
    items = tuple(tuple(e) for e in node.attrs.get("items", ()))
    return b.add(node.op, [g], {"shape": [b.n, *node.attrs["shape"]], "items": (FULL,) + items})


def transpose_rule(b: Batcher, node, args):
    x, _ = args[0]
    k = len(b.shape(node.inputs[0]))
    from ..ops.linalg import axes_permutation

    perm = axes_permutation(node.attrs.get("axes"), k)
    perm = tuple(range(k - 1, -1, -1)) if perm is None else perm
    return b.add(node.op, [x], {"axes": [0] + [p + 1 for p in perm]})


# --------------------------------------------------------- linear algebra
def matmul_rule(b: Batcher, node, args):
    (x, bx), (y, by) = args
    sx, sy = b.shape(node.inputs[0]), b.shape(node.inputs[1])
    n, out = b.n, tuple(node.shape)
    if bx and not by and len(sx) <= 2 and len(sy) <= 2:
        if len(sy) == 1:  # NumPy treats the batch axis as matrix rows already
            return b.add("matmul", [x, y])
        # every row's left operand against one matrix: a single GEMM
        flat = b.reshape(x, (-1, sx[-1])) if len(sx) == 2 else x
        return b.reshape(b.add("matmul", [flat, y]), (n,) + out)
    if by and not bx and len(sy) == 1 and len(sx) <= 2:
        # x @ y_r for every row r: y_b @ xᵀ (a vector x needs no transpose)
        xt = b.add("matrix_transpose", [x]) if len(sx) == 2 else x
        return b.add("matmul", [y, xt])
    if bx and by and len(sx) == 1 and len(sy) == 1:
        return b.add("sum", [b.add("mul", [x, y])], {"axis": [1], "keepdims": False})
    # the general case: promote 1-D operands to matrices, align ranks, broadcast
    x, sx1 = _as_matrix(b, x, bx, sx, row=True)
    y, sy1 = _as_matrix(b, y, by, sy, row=False)
    return _matrix_op(b, "matmul", x, bx, sx1, y, by, sy1, out)


def _as_matrix(b: Batcher, v, batched, shape, row: bool):
    """A vector as a one-row (`row`) or one-column matrix, as NumPy's matmul and
    solve read it; a matrix passes. Returns the value and its per-row shape."""
    if len(shape) != 1:
        return v, shape
    s1 = (1,) + shape if row else shape + (1,)
    return b.reshape(v, ((b.n,) if batched else ()) + s1), s1


def _matrix_op(b: Batcher, op, x, bx, sx, y, by, sy, out):
    """`op` on two matrices, the batched ones aligned so the row axis broadcasts."""
    r = max(len(sx), len(sy))
    if bx:
        x = b.align(x, sx, r)
    if by:
        y = b.align(y, sy, r)
    return b.reshape(b.add(op, [x, y]), (b.n,) + tuple(out))


def dot_rule(b: Batcher, node, args):
    sx, sy = b.shape(node.inputs[0]), b.shape(node.inputs[1])
    if len(sx) == 0 or len(sy) == 0:  # dot with a scalar is a product
        k = len(node.shape)
        ins = [b.align(i, b.shape(j), k) if bat else i for (i, bat), j in zip(args, node.inputs)]
        return b.add("mul", ins)
    return matmul_rule(b, node, args)


def outer_rule(b: Batcher, node, args):
    (x, bx), (y, by) = args
    m, p = node.shape
    n = b.n
    x = b.reshape(x, ((n,) if bx else ()) + (m, 1))
    y = b.reshape(y, (n, 1, p) if by else (p,))
    return b.add("mul", [x, y])


def solve_rule(b: Batcher, node, args):
    (a, ba), (v, bv) = args
    sa, sv = b.shape(node.inputs[0]), b.shape(node.inputs[1])
    v, sv1 = _as_matrix(b, v, bv, sv, row=False)
    return _matrix_op(b, "solve", a, ba, sa, v, bv, sv1, node.shape)


def trace_rule(b: Batcher, node, args):
    return b.add(_custom("batch_trace", lambda x: np.trace(x, axis1=-2, axis2=-1),
                         lambda s: s[0][:-2]), [args[0][0]])


def diag_rule(b: Batcher, node, args):
    x, _ = args[0]
    s = b.shape(node.inputs[0])
    if len(s) == 1:  # a vector -> the diagonal matrix
        eye = b.gb.const(np.eye(s[0]))
        return b.add("mul", [b.add("expand_dims", [x], {"axis": [-1]}), eye])
    return b.add(_custom("batch_diagonal", lambda x: np.diagonal(x, axis1=-2, axis2=-1).copy(),
                         lambda s: s[0][:-2] + (min(s[0][-2:]),), dtype="same"), [x])


def einsum_rule(b: Batcher, node, args):
    from ..ops.linalg import parse_einsum

    spec = node.attrs["spec"]
    ins, rhs = parse_einsum(spec, len(args))
    letter = next(c for c in string.ascii_letters if c not in "".join(ins) + rhs)
    subs = [letter + sub if bat else sub for sub, (_, bat) in zip(ins, args)]
    return b.add(node.op, [i for i, _ in args], {"spec": ",".join(subs) + "->" + letter + rhs})


# ------------------------------------------------------------- neural nets
def _ce_forward(logits, labels, bl=True, bb=True, n=1, c=1):
    from ..ops.neural import shifted
    from ..ops.shape import int_values

    logits = np.asarray(logits)
    lg = logits if bl else np.broadcast_to(logits, (n,) + logits.shape)
    lb = np.asarray(labels) if bb else np.broadcast_to(labels, (n,) + np.shape(labels))
    lg = lg.reshape(n, -1, c)
    idx = int_values(lb, c, "class label", allow_negative=False).reshape(n, -1)
    z = shifted(lg, -1)
    lse = np.log(np.sum(np.exp(z), axis=-1))
    picked = np.take_along_axis(z, idx[..., None], axis=-1)[..., 0]
    return np.mean(lse - picked, axis=1)


def cross_entropy_rule(b: Batcher, node, args):
    (lg, bl), (lb, bb) = args
    c = b.shape(node.inputs[0])[-1]
    op = _custom("batch_cross_entropy", _ce_forward, lambda s, n=1, **_: (n,))
    return b.add(op, [lg, lb], {"bl": bl, "bb": bb, "n": b.n, "c": c})


def mse_rule(b: Batcher, node, args):
    sa, sb = b.shape(node.inputs[0]), b.shape(node.inputs[1])
    k = len(S.broadcast(sa, sb))
    ins = [b.align(i, s, k) if bat else i for (i, bat), s in zip(args, (sa, sb))]
    sq = b.add("square", [b.add("sub", ins)])
    if k == 0:
        return sq
    return b.add("mean", [sq], {"axis": list(range(1, k + 1)), "keepdims": False})


# ------------------------------------------------------------ gather/scatter
def _take_forward(x, idx, bx=True, bi=False):
    from ..ops.shape import int_values

    x = np.asarray(x)
    if bx and not bi and np.ndim(idx) == 0:  # one index for every row (a reverse loop's step)
        k = float(idx)
        if k.is_integer() and -x.shape[1] <= k < x.shape[1]:
            return x[:, int(k)].copy()
    if bx and not bi:
        return x[:, int_values(idx, x.shape[1], "index")]
    n = x.shape[0]
    ii = int_values(idx, x.shape[1], "index")
    rows = np.arange(n).reshape((n,) + (1,) * (ii.ndim - 1))
    return x[rows, ii]


def take_rule(b: Batcher, node, args):
    (x, bx), (idx, bi) = args
    if not bx:  # one table, an index per row: an ordinary gather
        return b.add("take", [x, idx])
    shape = (b.n,) + tuple(node.shape)
    op = _custom("batch_take", _take_forward, lambda s, **_: shape, dtype="same")
    return b.add(op, [x, idx], {"bx": bx, "bi": bi})


def _scatter_forward(g, idx, shape=(), bg=True, bi=False, n=1):
    from ..ops.shape import int_values

    g = np.asarray(g)
    shape = tuple(int(d) for d in shape)
    out = np.zeros((n,) + shape, dtype=g.dtype if g.dtype.kind == "f" else np.float64)
    ii = int_values(idx, shape[0], "index")
    if not bi:
        np.add.at(out, (slice(None), ii), g if bg else np.broadcast_to(g, (n,) + g.shape))
    else:
        rows = np.arange(n).reshape((n,) + (1,) * (ii.ndim - 1))
        np.add.at(out, (rows, ii), g)
    return out


def scatter_add_rule(b: Batcher, node, args):
    (g, bg), (idx, bi) = args
    shape = tuple(node.attrs["shape"])
    op = _custom("batch_scatter_add", _scatter_forward, lambda s, n=1, shape=(), **_: (n,) + tuple(shape))
    return b.add(op, [g, idx], {"shape": list(shape), "bg": bg, "bi": bi, "n": b.n})


def dim_of_rule(b: Batcher, node, args):
    x, _ = args[0]
    k = len(b.shape(node.inputs[0]))
    return b.add(node.op, [x], {"axis": S.norm_axis(node.attrs["axis"], k) + 1}), False


# ------------------------------------------------------------ the fallback
def _loop_forward(*args, op=None, attrs=None, flags=(), n=1):
    outs = [op.forward(*[a[r] if f else a for a, f in zip(args, flags)], **attrs) for r in range(n)]
    return np.stack([np.asarray(o) for o in outs])


def loop_rule(b: Batcher, node, args):
    """No batching rule: run the op once per row and stack the results."""
    b.looped.append(node.op.name)
    shape = (b.n,) + tuple(node.shape)
    op = _custom("row_loop:" + node.op.name, _loop_forward, lambda s, **_: shape,
                 dtype=node.op.dtype)
    return b.add(op, [i for i, _ in args],
                 {"op": node.op, "attrs": dict(node.attrs), "flags": tuple(f for _, f in args),
                  "n": b.n})



def _custom(name: str, forward, shape, dtype: str = "float") -> R.OpDef:
    """An op of the batched graph only (not in the registry: never differentiated,
    never shown by `cgraph ops`)."""
    return R.OpDef(name, (), forward, lambda s, **kw: shape(s, **kw), None, dtype=dtype,
                   family="internal", foldable=False, doc="made by cgraph.batch.vectorize")


RULES: dict[str, Callable] = {
    "elementwise": elementwise, "direct": direct, "assert": assert_rule, "reduce": reduce, "argreduce": argreduce,
    "axis": axis_rule, "reshape": reshape_rule, "broadcast": broadcast_rule,
    "sum_to": sum_to_rule, "concat": concat_rule, "stack": stack_rule, "index": index_rule,
    "index_grad": index_grad_rule, "transpose": transpose_rule, "matmul": matmul_rule,
    "dot": dot_rule, "outer": outer_rule, "solve": solve_rule, "trace": trace_rule,
    "diag": diag_rule, "einsum": einsum_rule, "cross_entropy": cross_entropy_rule,
    "mse": mse_rule, "take": take_rule, "scatter_add": scatter_add_rule, "dim_of": dim_of_rule,
    "loop": loop_rule,
}

#: ops the optimiser makes; a graph is batched before it is optimised, so they need no rule
AFTER_BATCHING = {"fused", "fused_out"}


def loop_ops() -> list[str]:
    """The registry ops that run once per row (no batching rule), by name."""
    out = []
    for op in R.REGISTRY.values():
        if not op.tensor_args or op.forward is None or op.name in AFTER_BATCHING:
            continue  # never batched: no tensor inputs, expanded by the builder, or optimiser-made
        rule = op.batch if op.batch is not None else "loop"
        if rule == "loop":
            out.append(op.name)
    return out
