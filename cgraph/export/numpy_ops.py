"""How each op of the registry is written as NumPy code (`cgraph export --to numpy`).

`EMIT[op]` is a function of a `Site` (the node, its input expressions, its
shapes) returning one Python expression. The graph was built for fixed shapes,
so shape arguments are resolved here, at export time, into plain literals
(`sum_to` becomes a `np.sum(..., axis=...)` with the axes written out).
Ops whose NumPy form is more than an expression call a helper of `HELPERS`,
copied into the module only when used. `code.NOT_EXPORTED` names the ops that never
reach an exported graph, and why; tests/test_export.py checks that every op of
the registry is in one table or the other.
"""
from __future__ import annotations

import numpy as np

from .code import Library, call, helper, infix, literal, sum_to_axes

HELPERS = {
    "sigmoid": '''
def sigmoid(x):
    """1 / (1 + exp(-x)), with exp overflowing to inf giving the right 0."""
    return 1.0 / (1.0 + np.exp(-x))
''',
    "gelu": '''
def gelu(x):
    """Gaussian error linear unit, tanh approximation."""
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))
''',
    "shifted": '''
def shifted(x, axis):
    """x minus its largest value along axis (a finite one), for a stable exp."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return x - np.where(np.isfinite(m), m, 0.0)
''',
    "logsumexp": '''
def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) along axis, computed stably."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)
''',
    "softmax": '''
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along axis, computed stably."""
    e = np.exp(shifted(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)
''',
    "log_softmax": '''
def log_softmax(x, axis=-1):
    """x - logsumexp(x) along axis, computed stably."""
    z = shifted(x, axis)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
''',
    "labels": '''
def labels(values, n):
    """Integer labels (or indices) as int64, checked to lie in 0..n-1 (or -n..n-1)."""
    out = np.asarray(values).astype(np.int64)
    if np.any(out != np.asarray(values)) or np.any((out < -n) | (out >= n)):
        raise ValueError(f"labels or indices must be integers in range for size {n}")
    return out
''',
    "cross_entropy": '''
def cross_entropy(logits, targets):
    """Mean over rows of -log softmax(logits)[label]."""
    if logits.ndim == 1:
        logits, targets = logits[None, :], np.reshape(targets, (1,))
    n, c = logits.shape
    idx = labels(targets, c)
    z = shifted(logits, -1)
    return np.mean(np.log(np.sum(np.exp(z), axis=-1)) - z[np.arange(n), idx])
''',
    "one_hot": '''
def one_hot(targets, n):
    """Rows of the n×n identity picked by integer labels."""
    idx = labels(targets, n)
    out = np.zeros(idx.shape + (n,))
    np.put_along_axis(out, idx[..., None], 1.0, axis=-1)
    return out
''',
    "var": '''
def var(x, axis=None, keepdims=False, ddof=0):
    """Variance, computed on x minus its first element along the reduced axes
    (values that are all equal give exactly 0)."""
    if x.ndim and x.size:
        axes = range(x.ndim) if axis is None else [a % x.ndim for a in np.atleast_1d(axis)]
        x = x - x[tuple(slice(0, 1) if k in axes else slice(None) for k in range(x.ndim))]
    return np.var(x - x if x.ndim == 0 else x, axis=axis, keepdims=keepdims, ddof=ddof)
''',
    "norm": '''
def norm(x, ord, axis=None, keepdims=False):
    """The ord-norm of x along axis (2: Euclidean; inf, -inf, 0, 1, any p)."""
    a = np.abs(x)
    if ord == np.inf:
        return np.max(a, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return np.min(a, axis=axis, keepdims=keepdims)
    if ord == 0:
        return np.sum(a != 0, axis=axis, keepdims=keepdims).astype(np.result_type(x, 1.0))
    if ord == 1:
        return np.sum(a, axis=axis, keepdims=keepdims)
    if ord == 2:
        return np.sqrt(np.sum(a * a, axis=axis, keepdims=keepdims))
    return np.sum(a ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)
''',
    "index_grad": '''
def index_grad(g, shape, key):
    """Zeros of a shape with g written into the region x[key] (the gradient of x[key])."""
    out = np.zeros(shape, dtype=np.result_type(g, 1.0))
    out[key] = g
    return out
''',
    "scatter_add": '''
def scatter_add(g, idx, shape):
    """Zeros of a shape with g added at rows idx (repeated rows accumulate)."""
    out = np.zeros(shape, dtype=np.result_type(g, 1.0))
    np.add.at(out, labels(idx, shape[0]), g)
    return out
''',
}
NEEDS = {"softmax": ("shifted",), "log_softmax": ("shifted",),
         "cross_entropy": ("labels", "shifted"), "one_hot": ("labels",),
         "scatter_add": ("labels",)}


def reduction(fn: str, helper_name: str = ""):
    def emit(s):
        if helper_name:
            s.use(helper_name, *s.lib.needs.get(helper_name, ()))
        return f"{fn}({s[0]}{s.axis_kw()})"
    return emit


def reshape(s):
    return f"np.reshape({s[0]}, {s.lit(s.out_shape)})"


EMIT = {
    "abs": call("np.abs"), "sign": call("np.sign"), "exp": call("np.exp"),
    "log": call("np.log"), "log1p": call("np.log1p"), "expm1": call("np.expm1"),
    "sqrt": call("np.sqrt"), "square": call("np.square"), "sin": call("np.sin"),
    "cos": call("np.cos"), "tan": call("np.tan"), "asin": call("np.arcsin"),
    "acos": call("np.arccos"), "atan": call("np.arctan"), "sinh": call("np.sinh"),
    "cosh": call("np.cosh"), "tanh": call("np.tanh"), "sigmoid": helper("sigmoid"),
    "relu": call("np.maximum", "0.0"),
    "leaky_relu": lambda s: f"np.where({s[0]} > 0, {s[0]}, {s.p(0)} * {s.lit(s.attr('slope', 0.01))})",
    "softplus": lambda s: f"np.logaddexp(0.0, {s[0]})",
    "gelu": helper("gelu"),
    "silu": lambda s: (s.use("sigmoid"), f"{s.p(0)} * sigmoid({s[0]})")[1],
    "floor": call("np.floor"), "ceil": call("np.ceil"), "round": call("np.round"),
    "neg": lambda s: f"-{s.p(0)}",
    "clip": lambda s: f"np.minimum(np.maximum({s[0]}, {s[1]}), {s[2]})",
    "add": infix("+"), "sub": infix("-"), "mul": infix("*"), "div": infix("/"),
    "pow": lambda s: f"np.power({s[0]}, {s[1]})",
    "mod": call("np.mod"), "maximum": call("np.maximum"), "minimum": call("np.minimum"),
    "atan2": call("np.arctan2"),
    "lt": infix("<"), "le": infix("<="), "gt": infix(">"), "ge": infix(">="),
    "eq": infix("=="), "ne": infix("!="),
    "logical_and": call("np.logical_and"), "logical_or": call("np.logical_or"),
    "logical_not": call("np.logical_not"), "where": call("np.where"),
    "sum": reduction("np.sum"), "mean": reduction("np.mean"), "prod": reduction("np.prod"),
    "max": reduction("np.max"), "min": reduction("np.min"),
    "logsumexp": reduction("logsumexp", "logsumexp"),
    "var": lambda s: (s.use("var"), f"var({s[0]}{s.axis_kw()}, ddof={s.lit(s.attr('ddof', 0))})")[1],
    "std": lambda s: (s.use("var"), f"np.sqrt(var({s[0]}{s.axis_kw()}, "
                                    f"ddof={s.lit(s.attr('ddof', 0))}))")[1],
    "argmax": reduction("np.argmax"), "argmin": reduction("np.argmin"),
    "norm": lambda s: (s.use("norm"), f"norm({s[0]}, {s.lit(float(s.attr('ord', 2.0)))}{s.axis_kw()})")[1],
    "matmul": infix("@"), "dot": call("np.dot"), "outer": call("np.outer"),
    "transpose": lambda s: f"np.transpose({s[0]}, {s.lit(s.permutation())})",
    "matrix_transpose": lambda s: f"np.swapaxes({s[0]}, -1, -2)",
    "trace": call("np.trace"), "diag": call("np.diag"), "inv": call("np.linalg.inv"),
    "det": call("np.linalg.det"),
    "solve": lambda s: (f"np.linalg.solve({s[0]}, {s.p(1)}[:, None])[..., 0]"
                        if len(s.shapes[1]) == 1 else f"np.linalg.solve({s[0]}, {s[1]})"),
    "einsum": lambda s: f"np.einsum({s.lit(s.attr('spec'))}, {', '.join(s.args)})",
    "eye_like": lambda s: f"np.broadcast_to(np.eye({s.out_shape[-2]}, {s.out_shape[-1]}), "
                          f"{s.lit(s.out_shape)})",
    "reshape": reshape, "flatten": reshape, "squeeze": reshape, "expand_dims": reshape,
    "reshape_like": reshape,
    "broadcast_to": lambda s: f"np.broadcast_to({s[0]}, {s.lit(s.out_shape)})",
    "concat": lambda s: f"np.concatenate([{', '.join(s.args)}], axis={s.lit(s.attr('axis', 0))})",
    "stack": lambda s: f"np.stack([{', '.join(s.args)}], axis={s.lit(s.attr('axis', 0))})",
    "index": lambda s: f"{s.p(0)}[{s.index_key()}]",
    "index_grad": lambda s: (s.use("index_grad"),
                             f"index_grad({s[0]}, {s.lit(s.out_shape)}, np.s_[{s.index_key()}])")[1],
    "take": lambda s: (s.use("labels"), f"{s.p(0)}[labels({s[1]}, {s.shapes[0][0]})]")[1],
    "scatter_add": lambda s: (s.use("scatter_add", "labels"),
                              f"scatter_add({s[0]}, {s[1]}, {s.lit(s.out_shape)})")[1],
    "scatter_add_like": lambda s: (s.use("scatter_add", "labels"),
                                   f"scatter_add({s[0]}, {s[1]}, np.shape({s[2]}))")[1],
    "softmax": helper("softmax", "axis={axis}"),
    "log_softmax": helper("log_softmax", "axis={axis}"),
    "cross_entropy": helper("cross_entropy"),
    "mse": lambda s: f"np.mean(np.square({s.p(0)} - {s.p(1)}))",
    "one_hot": helper("one_hot", "{n}"),
    "sum_to": lambda s: sum_to_axes(s, "np.sum({x}, axis={axes}, keepdims=True)", "np.reshape"),
    "zeros_like": lambda s: f"np.zeros({s.lit(s.out_shape)})",
    "ones_like": lambda s: f"np.ones({s.lit(s.out_shape)})",
    "dim_of": lambda s: s.lit(float(s.shapes[0][s.attr("axis")])),
    "variable": lambda s: s[0],
    "zeros": lambda s: f"np.zeros({s.lit(s.out_shape)})",
    "ones": lambda s: f"np.ones({s.lit(s.out_shape)})",
    "full": lambda s: f"np.full({s.lit(s.out_shape)}, {s[0]}, dtype=float)",
    "eye": lambda s: f"np.eye({s.out_shape[0]}, {s.out_shape[1]})",
    "arange": lambda s: "np.arange({a}, {b}, {step})".format(**s.attrs_text()) if s.attr("b")
                        is not None else "np.arange(0.0, {a}, {step})".format(**s.attrs_text()),
    "linspace": lambda s: f"np.linspace({s.attrs_text()['a']}, {s.attrs_text()['b']}, "
                          f"{s.out_shape[0]})",
}

HELPERS.update({
    "array": '''
def array(data, dtype, shape):
    """An array from its bytes (base64), exactly as cgraph held it."""
    return np.frombuffer(base64.b64decode(data), dtype=dtype).reshape(shape)
''',
    "show": '''
def show(v):
    """A value as cgraph's print shows it: 35, not 35.0; full precision."""
    def one(x):
        if isinstance(x, (bool, np.bool_)):
            return "true" if x else "false"
        x = float(x)
        return str(int(x)) if x.is_integer() and abs(x) < 1e16 else repr(x)
    v = np.asarray(v)
    if v.ndim == 0:
        return one(v.item())
    return np.array2string(v, separator=", ", formatter={"all": one}, threshold=1000)
''',
    "pick": '''
def pick(grads, wrt):
    """The gradients asked for: every name of WRT when wrt is None."""
    names = WRT if wrt is None else [wrt] if isinstance(wrt, str) else list(wrt)
    unknown = [n for n in names if n not in grads]
    if unknown:
        raise KeyError(f"no gradient for {unknown}: the program's leaves are {list(grads)}")
    return {n: grads[n] for n in names}
''',
})

READ = '''def read(inputs):
    """The leaves' values in SHAPES order: as given, else the program's default."""
    inputs = dict(inputs or {})
    unknown = sorted(set(inputs) - set(SHAPES))
    if unknown:
        raise KeyError(f"unknown names {unknown}; the program's are {list(SHAPES)}")
    values = []
    for name, shape in SHAPES.items():
        if name in inputs:
            value = CONVERT(inputs[name], dtype=DTYPE)
        elif name in DEFAULTS:
            value = CONVERT(DEFAULTS[name], dtype=DTYPE)
        else:
            raise KeyError(f"no value for {name!r}")
        if tuple(value.shape) != shape:
            raise ValueError(f"{name!r} has shape {list(value.shape)}; this module was "
                             f"exported for {list(shape)}")
        values.append(value)
    return values'''


def _scalar(arr) -> str:
    if arr.dtype.kind == "b":
        return repr(bool(arr))
    if arr.dtype == np.float32:
        return f"np.float32({literal(float(arr))})"
    return literal(arr.item())


def _array(arr, small: int) -> str:
    dtype = "bool" if arr.dtype.kind == "b" else f"np.{arr.dtype.name}"
    if arr.size <= small:
        return f"np.array({literal(arr.tolist())}, dtype={dtype})"
    import base64

    data = base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode("ascii")
    return f"array({literal(data)}, {literal(arr.dtype.str)}, {literal(tuple(arr.shape))})"


def _axis_kw(axes, keep, rank) -> str:
    out = "" if axes is None else f", axis={literal(axes)}"
    return out + (", keepdims=True" if keep else "")


LIB = Library(
    name="numpy", title="NumPy", emit=EMIT, helpers=HELPERS, needs=NEEDS,
    helper_order=("array", "show", "pick", "sigmoid", "gelu", "shifted", "labels", "logsumexp",
                  "softmax", "log_softmax", "cross_entropy", "one_hot", "var", "norm",
                  "index_grad", "scatter_add"),
    imports=lambda used: (("import base64", "") if "array" in used else ()) + ("import numpy as np",),
    inf='float("inf")', nan='float("nan")',
    cast_inputs=False, keep_dtype={"where": (0,), "take": (1,), "scatter_add": (1,)},
    part=lambda v, at, size, shape: f"np.reshape({v}[{at}:{at + size}], {shape})",
    join=lambda names: "np.concatenate([" + ", ".join(f"np.ravel({x})" for x in names) + "])" if len(names) > 1 else names[0],
    stack=lambda rows: f"np.stack({rows})",
    reuses={"leaky_relu", "silu", "loop"},
    scalar=_scalar, array=_array, axis_kw=_axis_kw,
    cast=lambda text, dtype: f"np.asarray({text}, dtype=np.{dtype})",
    all_true=lambda text: f"np.all({text})",
    tensor=lambda text: text,
    dtype=lambda name: f"np.{name}",
    result=lambda expr: f"np.asarray({expr})",
    decorate=lambda sig: ('@np.errstate(all="ignore")  # as cgraph: inf and nan are values here\n'
                          f"def {sig}:\n"),
    forward_doc='"""The program\'s outputs, by name."""',
    gradients_doc='"""OUTPUT\'s value and its gradient with respect to each name of wrt '
                  '(default: WRT)."""',
    read_fn=READ.replace("CONVERT", "np.asarray"),
)
