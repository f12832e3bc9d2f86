"""The graph IR: a flat, topologically ordered list of nodes, like a jaxpr.

Every node's inputs come before it, so a forward pass is one loop over the
list and a backward pass one loop back; nothing recurses. `Graph.add` is the
only way a node is made: it infers the shape and dtype from the registry and,
in eager mode, runs the op at once (that is the whole difference between the
two modes).
"""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import numpy as np

from . import ops  # noqa: F401  (declares every op before a graph can use one)
from . import registry as R
from . import shape_math as S
from .errors import CgraphError, Diagnostic, OverLimit
from .notation import Sym
from .source import NOWHERE, Span

LEAF_OPS = ("input", "leaf")
_CONST = R.get("const")
MAX_RANK = 32  # axes a tensor may have


class Node:
    __slots__ = ("id", "op", "inputs", "attrs", "shape", "dtype", "span", "name", "scope")

    def __init__(self, id, op, inputs, attrs, shape, dtype, span, name=None, scope=()):
        # one store a line: a tuple assignment to slots costs twice as much (eager
        # mode makes a node per operation, 100,000 for a 10,000-step loop)
        self.id = id
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.shape = shape
        self.dtype = dtype
        self.span = span
        self.name = name
        self.scope = scope


    def is_const(self) -> bool:
        return self.op.name == "const"

    def __repr__(self) -> str:
        return f"Node(%{self.id} = {self.op.name} {list(self.inputs)} {S.fmt(self.shape)})"


class Graph:
    """Nodes plus the program's names: leaves, inputs, named values, outputs."""

    def __init__(self, dtype: str = "float64", eager: bool = False, seed: int = 0,
                 fold: bool = True, feed: Optional[dict] = None,
                 max_bytes: Optional[int] = None):
        self.float_dtype = np.dtype(dtype)
        self.eager = eager
        self.max_bytes = max_bytes if max_bytes is not None else default_max_bytes()
        self.seed = seed
        self.fold = fold and not eager
        self.nodes: list[Node] = []
        self.values: list[Any] = []        # eager: every node's value; static: consts only
        self.varies = bytearray()          # 1 where a node depends on a leaf (not foldable)
        self.leaves: dict[str, int] = {}   # differentiable leaves by name, program order
        self.inputs: dict[str, int] = {}   # the leaves whose value must come from outside
        self.names: dict[str, int] = {}    # every top-level name -> newest node
        self.outputs: dict[str, int] = {}
        self.frozen: set[str] = set()      # leaves that fix the structure: constants now
        self.dims: dict = {}               # named dim -> (input, axis) that gives its size
        self.effects: list[int] = []       # print/assert nodes: never dead code
        self.loops: list[dict] = []        # static loops: unrolled or kept, and why
        self.feed = feed or {}             # eager: input values by name
        self.span: Span = NOWHERE          # span given to nodes made without one
        self.scope: tuple = ()             # function-call clusters, for drawing
        self.warnings: list[Diagnostic] = []
        self._random_calls = 0
        self.held = 0                      # bytes of the values above (own buffers only)
        self.quiet = False                 # True only inside np.errstate(all="ignore")
        # eager: only the run's values are wanted (`Program.gradients`), not a graph to
        # draw or explain: the builder may leave out nodes nothing reads
        self.values_only = False
        # eager float64: a scalar op on scalar values runs its Python-float rule (`scalar`,
        # as a static scalar plan does) instead of its NumPy forward
        self.scalars = eager and self.float_dtype == np.float64 and \
            self.float_dtype.itemsize <= self.max_bytes

    # ------------------------------------------------------------ building
    def add(self, op, inputs: Sequence[int] = (), attrs: Optional[dict] = None,
            span: Optional[Span] = None, name: Optional[str] = None) -> int:
        """Append one node (shape and dtype inferred); return its id."""
        op = R.get(op) if op.__class__ is str else op
        if self.scalars and not attrs and op.scalar is not None and op.dtype == "float":
            # eager float64 scalars: the op's Python-float rule, and a node whose shape and
            # dtype need no rule (the hot path of an eager scalar loop: ~10 nodes a step)
            values = self.values
            value = scalar_value(op.scalar, values, inputs)
            if value.__class__ is float or value.__class__ is _F64:
                nodes = self.nodes
                node = _new(Node)
                node.id = i = len(nodes)
                node.op = op
                node.inputs = inputs if inputs.__class__ is tuple else tuple(inputs)
                node.attrs = {}
                node.shape = ()
                node.dtype = "float64"
                node.span = span or self.span
                node.name = name
                node.scope = self.scope
                nodes.append(node)
                values.append(_F64(value))
                varies = self.varies
                v = 0
                for j in node.inputs:
                    if varies[j]:
                        v = 1
                        break
                varies.append(v)
                return i
        attrs = attrs or {}
        nodes = self.nodes
        ins = [nodes[i] for i in inputs]
        shape = op.infer_shape([n.shape for n in ins], attrs)
        if shape != () or self.float_dtype.itemsize > self.max_bytes:
            self.check_size(shape)  # before anything is allocated, in both modes
        dtype = self._dtype(op, ins)
        node = Node(len(nodes), op, tuple(inputs), attrs, shape, dtype,
                    span or self.span, name, self.scope)
        nodes.append(node)
        value = None
        # a dim not known yet (ones([n, 5]), n an input's named dim, in `cgraph check`)
        pending = shape is not None and None in shape and not ins
        # constant inputs (or none: zeros, randn with its seed, load) -> folded now
        if op.forward is not None and not pending and (
                self.eager or (self.fold and op.foldable and _all_const(ins))):
            try:
                value = (_run_quiet if self.quiet else _run_op)(node, [self.values[i] for i in inputs])
            except BaseException:
                nodes.pop()  # keep nodes, values and varies in step
                raise
            vdtype = getattr(value, "dtype", None)
            kind = getattr(vdtype, "kind", None)
            if (kind == "f" and vdtype != self.float_dtype) or (kind in ("i", "u", "b")
                                                               and dtype.startswith("float")):
                # creation ops make float64; NumPy sums booleans to integers
                value = to_dtype(value, self.float_dtype)
            if not self.eager:  # folded: the node becomes the constant it computes
                node.op, node.inputs, node.attrs = R.get("const"), (), {"value": value}
            vshape = getattr(value, "shape", None)
            node.shape = tuple(vshape) if vshape.__class__ is tuple else tuple(np.shape(value))
            node.dtype = _dtype_name(value)
            self.hold(value, node)
        self.values.append(value)
        varies = self.varies
        if pending:
            varies.append(1)
        else:
            v = 0
            if node.op.name != "const":
                for i in inputs:
                    if varies[i]:
                        v = 1
                        break
            varies.append(v)
        if op.name in ("print", "assert"):
            self.effects.append(node.id)
        return node.id

    def hold(self, value, node: Optional[Node] = None) -> None:
        """Count a value the graph keeps (eager: every value, for the backward pass;
        static: folded constants) against the memory limit of the whole run."""
        if type(value) is np.ndarray and value.base is None:
            self.held += value.nbytes
            if self.held > self.max_bytes:
                if node is not None:
                    self.nodes.pop()
                raise OverLimit([Diagnostic(
                    "value", f"the run would hold {human_bytes(self.held)} of values by here "
                    f"({'every value eager mode keeps for the backward pass' if self.eager else 'constants computed while building'}), "
                    f"more than the memory limit of {human_bytes(self.max_bytes)}",
                    node.span if node is not None else self.span,
                    "make the values smaller, or raise the limit (--max-memory; max_memory= in "
                    "Python)")])

    def check_size(self, shape) -> None:
        if shape is not None and len(shape) > MAX_RANK:  # NumPy's iterators stop at 32 axes
            raise S.ShapeError(f"a tensor of rank {len(shape)} has more axes than the {MAX_RANK} "
                               "cgraph supports", hint="reshape it to fewer axes", kind="value")
        n = S.size(shape)
        if n is not None and n * self.float_dtype.itemsize > self.max_bytes:
            raise S.ShapeError(
                f"a tensor of shape {S.fmt(shape)} would take {human_bytes(n * self.float_dtype.itemsize)}, "
                f"more than the memory limit of {human_bytes(self.max_bytes)}",
                hint="make it smaller, or raise the limit (--max-memory; max_memory= in Python)", kind="value")

    def _run(self, node: Node, args: list):
        return _run_op(node, args)

    def _dtype(self, op: R.OpDef, ins: list[Node]) -> str:
        kind = op.dtype
        if kind == "float":  # float64 if an input is, else the first float32 one, else ours
            first = None
            for n in ins:
                d = n.dtype
                if d == "float64":
                    return d
                if d == "float32" and first is None:
                    first = d
            return first or _dtype_name(self.float_dtype)
        if kind == "same":
            return ins[0].dtype if ins else _dtype_name(self.float_dtype)
        return {"bool": "bool", "int": "int64"}[kind]

    def const(self, value, span: Optional[Span] = None) -> int:
        """A constant node; floats take the graph's dtype (float32 stays float32)."""
        if value.__class__ is float and self.scalars:  # a number of an eager program
            nodes = self.nodes
            node = _new(Node)
            node.id = i = len(nodes)
            node.op = _CONST
            node.inputs = ()
            node.attrs = {"value": np.asarray(value)}
            node.shape = ()
            node.dtype = "float64"
            node.span = span or self.span
            node.name = None
            node.scope = self.scope
            nodes.append(node)
            self.values.append(_F64(value))  # as the scalar ops' values: read fastest
            self.varies.append(0)
            return i
        arr = np.asarray(value)
        dt = arr.dtype
        if dt is not self.float_dtype and dt.kind in "fiu" and dt != self.float_dtype:
            arr = to_dtype(arr, self.float_dtype)
        node = Node(len(self.nodes), _CONST, (), {"value": arr}, arr.shape,
                    _dtype_name(arr), span or self.span, None, self.scope)
        self.nodes.append(node)
        self.values.append(arr)
        self.varies.append(0)
        return node.id

    def leaf(self, name: str, kind: str, default=None, shape=None,
             span: Optional[Span] = None) -> int:
        """A differentiable leaf: an `input` (value from outside) or a `leaf`
        (a param or a top-level constant binding, whose default may be overridden)."""
        if self.eager:
            value = self.feed.get(name, default)
            if value is None:
                raise CgraphError([Diagnostic("value", f"no value for input '{name}'", span)])
            value = self.cast(value)
            shape, dtype = tuple(value.shape), _dtype_name(value)
        else:
            dtype = _dtype_name(default) if default is not None else self.float_dtype.name
        try:  # an input's declared shape, or a value given from outside (NAME=VALUE, a file)
            self.check_size(shape)
        except S.ShapeError as exc:
            raise CgraphError([Diagnostic(exc.kind, f"'{name}': {exc.message}", span or self.span,
                                          exc.hint)]) from None
        attrs = {"name": name}
        if default is not None:
            attrs["default"] = default
        node = Node(len(self.nodes), R.get(kind), (), attrs, shape, dtype,
                    span or self.span, name, self.scope)
        self.nodes.append(node)
        self.values.append(value if self.eager else None)
        self.varies.append(1)
        self.leaves[name] = node.id
        if kind == "input":
            self.inputs[name] = node.id
        return node.id

    def cast(self, value) -> np.ndarray:
        arr = np.asarray(value)
        if arr.dtype.kind in "iuf" and arr.dtype != self.float_dtype:
            arr = to_dtype(arr, self.float_dtype)
        return arr

    def known(self, i: int):
        """The value of node i if it is known now (a constant, or eager), else None.

        A static node that depends on no leaf but was left unfolded (the backward
        pass keeps the constants its rules make as nodes) is computed here from
        its constant ancestors, so it is known exactly as it is in eager mode."""
        value = self.values[i]
        if value is None and not self.eager and not self.varies[i]:
            value = self._fold_value(i)
        return value

    def _fold_value(self, i: int):
        """Compute an unfolded leaf-free node's value (not stored); None if it cannot be."""
        need, stack = set(), [i]
        while stack:
            j = stack.pop()
            if j in need or self.values[j] is not None:
                continue
            op = self.nodes[j].op
            if self.varies[j] or op.forward is None or not op.foldable:
                return None
            need.add(j)
            stack.extend(self.nodes[j].inputs)
        vals: dict = {}
        for j in sorted(need):
            node = self.nodes[j]
            value = self._run(node, [vals[k] if k in vals else self.values[k] for k in node.inputs])
            if getattr(value, "dtype", None) is not None and value.dtype.kind == "f" \
                    and value.dtype != self.float_dtype:
                value = to_dtype(value, self.float_dtype)
            vals[j] = value
        return vals[i]

    def needed(self, roots) -> bytearray:
        """1 for every node the roots (ids; None is skipped) depend on, the roots
        included: the one backward walk every pass and printer uses."""
        nodes = self.nodes
        mark = bytearray(len(nodes))
        top = -1
        for r in roots:
            if r is not None:
                mark[r] = 1
                top = max(top, r)
        for i in range(top, -1, -1):
            if mark[i]:
                for j in nodes[i].inputs:
                    mark[j] = 1
        return mark

    def eager_prefix(self, n: int, values: list, varies: Optional[bytearray] = None) -> "Graph":
        """An eager graph holding this graph's first n nodes with the given values:
        a node added to it runs at once (the explainer runs each VJP this way)."""
        g = Graph(dtype=self.float_dtype.name, eager=True, seed=self.seed,
                  max_bytes=self.max_bytes)
        g.nodes = list(self.nodes[:n])
        g.values = list(values[:n])
        g.varies = bytearray(varies if varies is not None else self.varies[:n])
        return g

    def sym(self, i: int) -> "Sym":
        return Sym(self, i)

    def next_seed(self) -> int:
        """Seeds for unseeded random calls: reproducible, different per call."""
        self._random_calls += 1
        return (self.seed * 1_000_003 + self._random_calls) % (2 ** 32)


_DEFAULT_MAX: list = []


def default_max_bytes() -> int:
    """Half of the memory this process may really use (computed once)."""
    if not _DEFAULT_MAX:
        _DEFAULT_MAX.append(_usable_memory_limit())
    return _DEFAULT_MAX[0]


def _usable_memory_limit() -> int:
    """Half of the memory this process may really use: the smallest of physical
    memory, the address-space limit (ulimit -v) and the cgroup's memory.max (a
    container's limit); a bigger tensor is surely a mistake."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft not in (resource.RLIM_INFINITY, -1) and soft > 0:
            limits.append(soft)
    except (ImportError, ValueError, OSError, AttributeError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fp:
                text = fp.read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < (1 << 60):  # "max" or a huge number: no limit
            limits.append(int(text))
        break
    return min(limits) // 2 if limits else 8 << 30


def to_dtype(arr, dtype):
    """`arr` as `dtype`. A float64 beyond float32's range becomes ±inf quietly: that
    is numerical trouble the command line reports itself, not NumPy's RuntimeWarning."""
    with np.errstate(over="ignore", invalid="ignore"):
        return arr.astype(dtype)


def human_bytes(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"


_F64 = np.float64
_new = object.__new__
_F64_DTYPE = np.dtype(np.float64)
_NDARRAY = np.ndarray
_SCALAR_TROUBLE = (ArithmeticError, ValueError, TypeError)


def _as_float(v):
    """v as a Python float if it is a float64 scalar (np.float64 or a 0-d array), else None."""
    if v.__class__ is _F64:
        return float(v)
    if v.__class__ is _NDARRAY and v.ndim == 0 and v.dtype == _F64_DTYPE:
        return float(v)
    return None


def scalar_value(fn, values, inputs):
    """An eager node's value by its op's Python-float rule `fn` when every input is a
    float64 scalar (np.float64, as the NumPy forward gives for 0-d operands, or a 0-d
    array), as a Python float. None
    (run the NumPy forward instead) for any other input, a result that is not a float,
    or trouble the rule raises where NumPy gives inf or nan (overflow, log(0), 0^-1):
    the fallback the static scalar plan takes."""
    try:
        if len(inputs) == 2:
            a, b = inputs
            x, y = values[a], values[b]
            x = float(x) if x.__class__ is _F64 else _as_float(x)
            y = float(y) if y.__class__ is _F64 else _as_float(y)
            if x is None or y is None:
                return None
            r = fn(x, y)
        elif len(inputs) == 1:
            x = values[inputs[0]]
            x = float(x) if x.__class__ is _F64 else _as_float(x)
            if x is None:
                return None
            r = fn(x)
        else:
            args = [_as_float(values[i]) for i in inputs]
            if None in args:
                return None
            r = fn(*args)
    except _SCALAR_TROUBLE:
        return None
    return r if r.__class__ is float else None


def _all_const(ins) -> bool:
    for n in ins:
        if n.op.name != "const":
            return False
    return True


def _run_op(node: Node, args: list):
    from .execute import run_op, run_op_quiet  # (execute imports this module)

    global _run_op, _run_quiet
    _run_op, _run_quiet = run_op, run_op_quiet
    return run_op(node, args)


def _run_quiet(node: Node, args: list):
    from .execute import run_op, run_op_quiet

    global _run_op, _run_quiet
    _run_op, _run_quiet = run_op, run_op_quiet
    return run_op_quiet(node, args)


_DTYPE_NAMES: dict = {}  # NumPy dtype -> our name (dtype.name is slow Python code)


def _dtype_name(value) -> str:
    dt = getattr(value, "dtype", None)
    if not isinstance(dt, np.dtype):
        dt = value if isinstance(value, np.dtype) else np.asarray(value).dtype
    name = _DTYPE_NAMES.get(dt)
    if name is None:
        name = "bool" if dt.kind == "b" else "int64" if dt.kind in "iu" else dt.name
        _DTYPE_NAMES[dt] = name
    return name
