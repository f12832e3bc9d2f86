"""How each op of the registry is written as PyTorch code (`cgraph export --to torch`).

The same shape as numpy_ops: `EMIT[op]` writes one expression from a `Site`.
Only the forward graph is written; `gradients()` asks `torch.autograd` for the
derivatives, so the module is what a PyTorch user would have written by hand.
Literal numbers are turned into tensors where a torch function needs one
(`Site.t`); every tensor is of the module's DTYPE.
"""
from __future__ import annotations

import numpy as np

from .code import Library, call, helper, infix, literal, sum_to_axes
from .numpy_ops import READ

F = "torch.nn.functional"


def dims(s):
    """The reduced dims as torch wants them: a tuple of every dim for `none`."""
    axes = s.axes()
    return tuple(range(len(s.shapes[0]))) if axes is None else axes


def reduction(fn: str):
    def emit(s):
        if s.attr("axis") is None and not s.attr("keepdims", False):
            return f"{fn}({s.t(0)})"
        return f"{fn}({s.t(0)}, dim={s.lit(dims(s))}, keepdim={s.lit(bool(s.attr('keepdims', False)))})"
    return emit


def arg_reduction(fn: str):
    def emit(s):
        axis = s.attr("axis")
        if axis is None:
            text = f"{fn}({s.t(0)})"
            return f"torch.reshape({text}, {s.lit(s.out_shape)})" if s.attr("keepdims", False) else text
        return f"{fn}({s.t(0)}, dim={int(axis)}, keepdim={s.lit(bool(s.attr('keepdims', False)))})"
    return emit


def dot(s):
    r0, r1 = len(s.shapes[0]), len(s.shapes[1])
    if r0 == 0 or r1 == 0:
        return f"{s.p(0)} * {s.p(1)}"
    return f"torch.dot({s[0]}, {s[1]})" if r0 == r1 == 1 else f"torch.matmul({s[0]}, {s[1]})"


def reshape(s):
    return f"torch.reshape({s.t(0)}, {s.lit(s.out_shape)})"


def _var(s, fn):
    axes = None if s.attr("axis") is None else dims(s)
    return (f"{fn}({s.t(0)}, dim={s.lit(axes)}, correction={s.lit(int(s.attr('ddof', 0)))}, "
            f"keepdim={s.lit(bool(s.attr('keepdims', False)))})")


def _norm(s):
    axes = None if s.attr("axis") is None else dims(s)
    return (f"torch.linalg.vector_norm({s.t(0)}, {s.lit(float(s.attr('ord', 2.0)))}, "
            f"dim={s.lit(axes)}, keepdim={s.lit(bool(s.attr('keepdims', False)))})")


def _prod(s):
    if s.attr("axis") is None and not s.attr("keepdims", False):
        return f"torch.prod({s.t(0)})"
    s.use("prod")
    return f"prod({s.t(0)}, {s.lit(dims(s))}, {s.lit(bool(s.attr('keepdims', False)))})"


def _condition(s) -> str:
    """where's condition as a bool tensor (cgraph, as NumPy, takes any nonzero as true)."""
    if s.literals[0]:
        return f"torch.tensor({s[0]})"
    return s[0] if s.dtypes[0] == "bool" else f"{s.p(0)} != 0"


def _tensor_of(s, fn):
    return f"{fn}({s.lit(s.out_shape)}, dtype=DTYPE)"


EMIT = {
    "abs": call("torch.abs"), "sign": call("torch.sign"), "exp": call("torch.exp"),
    "log": call("torch.log"), "log1p": call("torch.log1p"), "expm1": call("torch.expm1"),
    "sqrt": call("torch.sqrt"), "square": call("torch.square"), "sin": call("torch.sin"),
    "cos": call("torch.cos"), "tan": call("torch.tan"), "asin": call("torch.asin"),
    "acos": call("torch.acos"), "atan": call("torch.atan"), "sinh": call("torch.sinh"),
    "cosh": call("torch.cosh"), "tanh": call("torch.tanh"), "sigmoid": call("torch.sigmoid"),
    "relu": call("torch.relu"),
    "leaky_relu": call(f"{F}.leaky_relu", "{slope}"),
    "softplus": lambda s: f"torch.logaddexp({s.t(0)}, torch.zeros((), dtype=DTYPE))",
    "gelu": call(f"{F}.gelu", 'approximate="tanh"'),
    "silu": call(f"{F}.silu"),
    "floor": call("torch.floor"), "ceil": call("torch.ceil"), "round": call("torch.round"),
    "neg": lambda s: f"-{s.p(0)}",
    "clip": lambda s: f"torch.minimum(torch.maximum({s.t(0)}, {s.t(1)}), {s.t(2)})",
    "add": infix("+"), "sub": infix("-"), "mul": infix("*"), "div": infix("/"),
    "pow": lambda s: f"torch.pow({s.t(0)}, {s[1]})",
    "mod": call("torch.remainder"), "maximum": call("torch.maximum"),
    "minimum": call("torch.minimum"), "atan2": call("torch.atan2"),
    "lt": infix("<"), "le": infix("<="), "gt": infix(">"), "ge": infix(">="),
    "eq": infix("=="), "ne": infix("!="),
    "logical_and": call("torch.logical_and"), "logical_or": call("torch.logical_or"),
    "logical_not": call("torch.logical_not"),
    "where": lambda s: f"torch.where({_condition(s)}, {s.t(1)}, {s.t(2)})",
    "sum": reduction("torch.sum"), "mean": reduction("torch.mean"), "prod": _prod,
    "max": reduction("torch.amax"), "min": reduction("torch.amin"),
    "logsumexp": lambda s: (f"torch.logsumexp({s.t(0)}, dim={s.lit(dims(s))}, "
                            f"keepdim={s.lit(bool(s.attr('keepdims', False)))})"),
    "var": lambda s: _var(s, "torch.var"), "std": lambda s: _var(s, "torch.std"),
    "argmax": arg_reduction("torch.argmax"), "argmin": arg_reduction("torch.argmin"),
    "norm": _norm,
    "matmul": infix("@"), "dot": dot, "outer": call("torch.outer"),
    "transpose": lambda s: f"torch.permute({s.t(0)}, {s.lit(s.permutation())})",
    "matrix_transpose": lambda s: f"torch.transpose({s[0]}, -1, -2)",
    "trace": lambda s: f"torch.diagonal({s[0]}, 0, 0, 1).sum(-1)",
    "diag": call("torch.diag"), "inv": call("torch.linalg.inv"), "det": call("torch.linalg.det"),
    "solve": lambda s: (f"torch.linalg.solve({s[0]}, {s.p(1)}[:, None])[..., 0]"
                        if len(s.shapes[1]) == 1 else f"torch.linalg.solve({s[0]}, {s[1]})"),
    "einsum": lambda s: f"torch.einsum({s.lit(s.attr('spec'))}, {', '.join(s.t(i) for i in range(len(s.args)))})",
    "eye_like": lambda s: (f"torch.eye({s.out_shape[-2]}, {s.out_shape[-1]}, dtype=DTYPE)"
                           f".expand({s.lit(s.out_shape)})"),
    "reshape": reshape, "flatten": reshape, "squeeze": reshape, "expand_dims": reshape,
    "reshape_like": reshape,
    "broadcast_to": lambda s: f"torch.broadcast_to({s.t(0)}, {s.lit(s.out_shape)})",
    "concat": lambda s: (f"torch.cat([{', '.join(s.t(i) for i in range(len(s.args)))}], "
                         f"dim={s.lit(s.attr('axis', 0))})"),
    "stack": lambda s: (f"torch.stack([{', '.join(s.t(i) for i in range(len(s.args)))}], "
                        f"dim={s.lit(s.attr('axis', 0))})"),
    "index": lambda s: (f"{s.p(0)}[{s.index_key()}]" if not s.negative_step() else  # torch
                        f"torch.reshape({s[0]}, (-1,))[{s.constant(s.flat_positions(s.shapes[0]))}]"),
    "index_grad": lambda s: (s.use("index_grad"),
                             f"index_grad({s.t(0)}, {s.lit(s.out_shape)}, "
                             f"{s.constant(s.flat_positions(s.out_shape))})")[1],
    "take": lambda s: (s.use("labels"), f"{s.p(0)}[labels({s[1]}, {s.shapes[0][0]})]")[1],
    "scatter_add": lambda s: (s.use("scatter_add", "labels"),
                              f"scatter_add({s.t(0)}, {s[1]}, {s.lit(s.out_shape)})")[1],
    "scatter_add_like": lambda s: (s.use("scatter_add", "labels"),
                                   f"scatter_add({s.t(0)}, {s[1]}, tuple({s.t(2)}.shape))")[1],
    "softmax": call("torch.softmax", "dim={axis}"),
    "log_softmax": call("torch.log_softmax", "dim={axis}"),
    "cross_entropy": helper("cross_entropy"),
    "mse": lambda s: f"torch.mean(torch.square({s.p(0)} - {s.p(1)}))",
    "one_hot": helper("one_hot", "{n}"),
    "sum_to": lambda s: sum_to_axes(s, "torch.sum({x}, dim={axes}, keepdim=True)", "torch.reshape"),
    "zeros_like": lambda s: _tensor_of(s, "torch.zeros"),
    "ones_like": lambda s: _tensor_of(s, "torch.ones"),
    "dim_of": lambda s: s.lit(float(s.shapes[0][s.attr("axis")])),
    "variable": lambda s: s[0],
    "zeros": lambda s: _tensor_of(s, "torch.zeros"),
    "ones": lambda s: _tensor_of(s, "torch.ones"),
    "full": lambda s: f"torch.broadcast_to({s.t(0)}, {s.lit(s.out_shape)}).clone()",
    "eye": lambda s: f"torch.eye({s.out_shape[0]}, {s.out_shape[1]}, dtype=DTYPE)",
    "arange": lambda s: ("torch.arange({a}, {b}, {step}, dtype=DTYPE)".format(**s.attrs_text())
                         if s.attr("b") is not None else
                         "torch.arange(0.0, {a}, {step}, dtype=DTYPE)".format(**s.attrs_text())),
    "linspace": lambda s: "torch.linspace({a}, {b}, {n}, dtype=DTYPE)".format(**s.attrs_text()),
}

HELPERS = {
    "array": '''
def array(data, dtype, shape):
    """A tensor from its bytes (base64), exactly as cgraph held it."""
    raw = bytearray(base64.b64decode(data))
    kinds = {"<f8": torch.float64, "<f4": torch.float32, "|b1": torch.bool, "<i8": torch.int64}
    return torch.frombuffer(raw, dtype=kinds[dtype]).reshape(shape) if raw else \\
        torch.zeros(shape, dtype=kinds[dtype])
''',
    "show": '''
def show(v):
    """A value as cgraph's print shows it: 35, not 35.0; full precision."""
    def one(x):
        if isinstance(x, bool):
            return "true" if x else "false"
        x = float(x)
        return str(int(x)) if x.is_integer() and abs(x) < 1e16 else repr(x)
    v = torch.as_tensor(v).detach()
    if v.ndim == 0:
        return one(v.item())
    def rows(t):
        return "[" + ", ".join(one(x.item()) if x.ndim == 0 else rows(x) for x in t) + "]"
    return rows(v)
''',
    "labels": '''
def labels(values, n):
    """Integer labels (or indices) as int64, checked to lie in 0..n-1 (or -n..n-1)."""
    out = torch.as_tensor(values).detach().to(torch.int64)
    if bool((out != torch.as_tensor(values).detach()).any()) or bool(((out < -n) | (out >= n)).any()):
        raise ValueError(f"labels or indices must be integers in range for size {n}")
    return out
''',
    "cross_entropy": '''
def cross_entropy(logits, targets):
    """Mean over rows of -log softmax(logits)[label]."""
    if logits.ndim == 1:
        logits, targets = logits[None, :], torch.reshape(targets, (1,))
    return torch.nn.functional.cross_entropy(logits, labels(targets, logits.shape[-1]))
''',
    "one_hot": '''
def one_hot(targets, n):
    """Rows of the n×n identity picked by integer labels."""
    return torch.nn.functional.one_hot(labels(targets, n), n).to(DTYPE)
''',
    "prod": '''
def prod(x, dims, keepdim):
    """The product over several dims (torch.prod takes one at a time)."""
    for d in sorted(dims, reverse=True):
        x = torch.prod(x, dim=d, keepdim=keepdim)
    return x
''',
    "index_grad": '''
def index_grad(g, shape, positions):
    """Zeros of a shape with g written at the flat positions x[key] read (the
    gradient of x[key]: basic indexing never reads a position twice)."""
    out = torch.zeros(math.prod(shape), dtype=DTYPE)
    out[positions.reshape(-1)] = torch.broadcast_to(g, positions.shape).reshape(-1)
    return out.reshape(shape)
''',
    "scatter_add": '''
def scatter_add(g, idx, shape):
    """Zeros of a shape with g added at rows idx (repeated rows accumulate)."""
    idx = labels(idx, shape[0]) % shape[0]
    g = torch.broadcast_to(g, tuple(idx.shape) + tuple(shape[1:]))
    return torch.zeros(shape, dtype=DTYPE).index_add(0, idx.reshape(-1), g.reshape((-1,) + tuple(shape[1:])))
''',
    "pick": '''
def pick(grads, wrt):
    """The names asked for: every name of WRT when wrt is None."""
    names = WRT if wrt is None else [wrt] if isinstance(wrt, str) else list(wrt)
    unknown = [n for n in names if n not in grads]
    if unknown:
        raise KeyError(f"no gradient for {unknown}: the program's leaves are {list(grads)}")
    return names
''',
}
NEEDS = {"cross_entropy": ("labels",), "one_hot": ("labels",)}


def _scalar(arr) -> str:
    if arr.dtype.kind == "b":
        return repr(bool(arr))
    return literal(arr.item())


def _array(arr, small: int) -> str:
    dtype = {"b": "torch.bool", "i": "torch.int64"}.get(arr.dtype.kind, f"torch.{arr.dtype.name}")
    if arr.size <= small:
        return f"torch.tensor({literal(arr.tolist())}, dtype={dtype})"
    import base64

    data = base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode("ascii")
    return f"array({literal(data)}, {literal(arr.dtype.str)}, {literal(tuple(arr.shape))})"


def gradients(m, c, leaves) -> str:
    """gradients() of the torch module: the forward graph, then torch.autograd."""
    m.used.add("pick")
    names = [m.leaf_names[n] for n in leaves]
    args = ", ".join(names)
    wrt_map = ", ".join(f"{literal(n)}: {m.leaf_names[n]}" for n in c.leaves)
    return "\n".join([
        "def gradients(inputs, wrt=None):",
        '    """OUTPUT\'s value and its gradient with respect to each name of wrt '
        '(default: WRT),',
        '    by torch.autograd."""',
        f"    {args}{',' if len(names) == 1 else ''} = read(inputs)" if names else "    read(inputs)",
        f"    leaves = {{{wrt_map}}}",
        "    names = pick(leaves, wrt)",
        "    for name in names:",
        "        leaves[name].requires_grad_(True)",
        f"    value = run({args})[OUTPUT]",
        "    if names and value.requires_grad:",
        "        found = torch.autograd.grad(value, [leaves[n] for n in names], allow_unused=True)",
        "    else:",
        "        found = [None] * len(names)",
        "    grads = {n: torch.zeros_like(leaves[n]) if g is None else g for n, g in zip(names, found)}",
        "    return value.detach(), {n: g.detach() for n, g in grads.items()}",
    ])


def _decorate(sig: str) -> str:
    return f"def {sig}:\n"


LIB = Library(
    name="torch", title="PyTorch", emit=EMIT, helpers=HELPERS, needs=NEEDS,
    helper_order=("array", "show", "pick", "labels", "cross_entropy", "one_hot", "prod",
                  "index_grad", "scatter_add"),
    imports=lambda used: (("import base64",) if "array" in used else ()) + (
        ("import math",) if "index_grad" in used else ()) + ("", "import torch"),
    inf='float("inf")', nan='float("nan")',
    cast_inputs=True, keep_dtype={"where": (0,), "take": (1,), "scatter_add": (1,)},
    part=lambda v, at, size, shape: f"torch.reshape({v}[{at}:{at + size}], {shape})",
    join=lambda names: "torch.cat([" + ", ".join(f"torch.ravel(torch.as_tensor({x}, dtype=DTYPE))" for x in names) + "])" if len(names) > 1 else names[0],
    stack=lambda rows: f"torch.stack({rows})",
    reuses={"loop"},
    scalar=_scalar, array=_array,
    axis_kw=lambda axes, keep, rank: "",
    cast=lambda text, dtype: f"torch.as_tensor({text}, dtype=torch.{dtype})",
    all_true=lambda text: f"bool(torch.all(torch.as_tensor({text})))",
    tensor=lambda text: f"torch.tensor({text}, dtype=DTYPE)",
    dtype=lambda name: f"torch.{name}",
    result=lambda expr: expr,
    decorate=_decorate,
    forward_doc='"""The program\'s outputs, by name (values: tensors of DTYPE)."""',
    gradients=gradients,
    read_fn=READ.replace("CONVERT", "torch.as_tensor").replace(
        "        values.append(value)", "        values.append(value.detach().clone())"),
)
