"""Tests generated from the op registry, plus the contract's fixed points.

Every differentiable op in `cgraph.registry` (a vjp that is not None) is
checked automatically, at random points of its declared domain and for the
shapes/attributes its `test` hints give (or defaults by kind: elementwise ops
get broadcasting combinations, reductions get several axes):

- the shape rule agrees with the forward's result;
- first derivative: the graph gradient of sum(out * w) (w a fixed random
  cotangent) against central finite differences of the NumPy forward;
- second derivative: the gradient graph is differentiated again
  (z = Σ <∂/∂x_i, v_i>) and the Hessian-vector product is checked against a
  central difference of z along a random direction.

A newly declared op is covered without touching this file; if it has a
required attribute and no `test` hint, its test fails and says so.

`test` hints (the `test=` dict of `defop`): {"cases": [case, ...]} or a single
case; a case is {"shapes": [shape per tensor input], "attrs": {...}} and may
carry "index_n" (the size that "index"-domain inputs index into).

Domain vocabulary (`domain=` of `defop`, one entry per tensor input; the entry
of a `tensors` argument applies to each of its tensors):
    real    uniform in (-2, 2)                 pos     uniform in (0.5, 2)
    unit    uniform in (-0.9, 0.9)             away0   ±uniform(0.5, 2)
    nonzero same as away0                      lo, hi  clip bounds: (-1, -0.2), (0.2, 1)
    bool    random booleans (no gradient)      int     integer-valued floats (no gradient)
    labels  class indices 0..C-1, C = the last dim of the first input (no gradient)
    index   indices -n..n-1 (with a repeat), n = "index_n" or the first input's
            first dim (no gradient)
    matrix  a well-conditioned square matrix (batched): uniform(-1, 1) + 3·I
    spd     a symmetric positive definite matrix (batched): A·Aᵀ + n·I
"""
from __future__ import annotations

import math
import os
import zlib

import numpy as np
import pytest

from cgraph import registry as R
from cgraph import shape_math as S
from cgraph.autodiff import backward
from cgraph.ir import Graph
from cgraph.notation import F

OPS = R.REGISTRY

EPS = 1e-6
RTOL = 1e-4
NO_GRAD = {"bool", "labels", "index", "int"}


# ------------------------------------------------------------------ sampling
def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("/".join(map(str, key)).encode()))


def _square_batch(shape, what):
    assert len(shape) >= 2 and shape[-1] == shape[-2], f"a {what} domain needs square matrices"
    return shape[-1]


def sample(domain: str, shape: tuple, rng, prev: list, case: dict) -> np.ndarray:
    u = lambda lo, hi: rng.uniform(lo, hi, size=shape)  # noqa: E731
    if domain == "real":
        return u(-2.0, 2.0)
    if domain == "pos":
        return u(0.5, 2.0)
    if domain == "unit":
        return u(-0.9, 0.9)
    if domain in ("away0", "nonzero"):
        return u(0.5, 2.0) * rng.choice([-1.0, 1.0], size=shape)
    if domain == "lo":
        return u(-1.0, -0.2)
    if domain == "hi":
        return u(0.2, 1.0)
    if domain == "bool":
        return rng.random(size=shape) < 0.5
    if domain == "int":
        return rng.integers(-3, 4, size=shape).astype(float)
    if domain == "labels":
        c = prev[0].shape[-1]
        return rng.integers(0, c, size=shape).astype(float)
    if domain == "index":
        n = case.get("index_n") or prev[0].shape[0]
        idx = rng.integers(-n, n, size=shape).astype(float)
        if idx.size >= 2:
            idx.flat[1] = idx.flat[0]  # a repeated index: gradients must accumulate
        return idx
    if domain == "matrix":
        n = _square_batch(shape, domain)
        return u(-1.0, 1.0) + 3.0 * np.eye(n)
    if domain == "spd":
        n = _square_batch(shape, domain)
        a = u(-1.0, 1.0)
        return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)
    raise AssertionError(f"unknown test domain {domain!r}: add it to the sampler")


# --------------------------------------------------------------- test cases
def default_cases(op) -> list[dict]:
    t = op.test or {}
    if "cases" in t:
        return [dict(c) for c in t["cases"]]
    if "shapes" in t or "attrs" in t:
        return [dict(t)]
    names = {a.name for a in op.args}
    nt = len(op.tensor_args)
    if {"axis", "keepdims"} <= names and nt == 1:  # a reduction
        return [{"shapes": [(3, 4)], "attrs": a}
                for a in ({}, {"axis": 0}, {"axis": -1, "keepdims": True}, {"axis": [0, 1]})]
    if op.elementwise and nt == 1:
        return [{"shapes": [(2, 3)]}, {"shapes": [()]}]
    if op.elementwise and nt >= 2:
        rest = [()] * (nt - 2)
        return [{"shapes": [(2, 3)] * nt},
                {"shapes": [(3, 1), (4,)] + rest},
                {"shapes": [(), (2, 3)] + [(3,)] * (nt - 2)}]
    return [{"shapes": [(3,)] * nt}]


def case_attrs(op, case) -> dict:
    attrs = {}
    for a in op.args:
        if a.is_tensor:
            continue
        if a.name in case.get("attrs", {}):
            attrs[a.name] = case["attrs"][a.name]
        elif a.default is not R.REQUIRED:
            attrs[a.name] = a.default
        else:
            pytest.fail(f"{op.name}: attribute '{a.name}' is required; give the op "
                        f"test={{'attrs': {{'{a.name}': ...}}}} hints in its defop")
    return attrs


def input_domains(op, n: int) -> list[str]:
    doms = list(op.domain) + ["real"] * (len(op.tensor_args) - len(op.domain))
    out = []
    fixed = sum(1 for a in op.tensor_args if a.kind == "tensor")
    for a, d in zip(op.tensor_args, doms):
        out.extend([d] * (n - fixed if a.kind == "tensors" else 1))
    assert len(out) == n, f"{op.name}: {n} test shapes for {len(op.tensor_args)} tensor args"
    return out


def make_inputs(op, case, k):
    rng = _rng(op.name, k)
    shapes = [tuple(s) for s in case.get("shapes", [])]
    doms = input_domains(op, len(shapes))
    vals: list = []
    for s, d in zip(shapes, doms):
        vals.append(np.asarray(sample(d, s, rng, vals, case)))
    diff = [i for i, d in enumerate(doms) if d not in NO_GRAD]
    return vals, diff, rng


DIFF_CASES = [pytest.param(op.name, k, id=f"{op.name}-{k}")
              for op in OPS.values() if op.vjp is not None
              for k in range(len(default_cases(op)))]


# ----------------------------------------------------------------- checking
def _graph(op, vals, attrs):
    g = Graph(eager=True, feed={f"x{i}": v for i, v in enumerate(vals)})
    ids = [g.leaf(f"x{i}", "input", shape=v.shape) for i, v in enumerate(vals)]
    out = g.add(op, ids, dict(attrs))
    return g, ids, out


def _first(op, vals, attrs, w, diff):
    """(graph, leaf ids, {input index: gradient node id}, out id) of sum(op(vals) * w)."""
    g, ids, out = _graph(op, vals, attrs)
    y = F.sum(g.sym(out) * w)
    grads = backward(g, y.id, [ids[i] for i in diff])
    return g, ids, {i: grads[ids[i]] for i in diff}, out


def _fd_grad(f, vals, i):
    out = np.zeros(vals[i].shape)
    for j in np.ndindex(vals[i].shape):
        hi = [v.copy() for v in vals]
        lo = [v.copy() for v in vals]
        hi[i][j] += EPS
        lo[i][j] -= EPS
        out[j] = (f(hi) - f(lo)) / (2 * EPS)
    return out


def assert_close(actual, expected, what):
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


@pytest.mark.parametrize("name, k", DIFF_CASES)
def test_derivatives_against_finite_differences(name, k):
    op = OPS[name]
    case = default_cases(op)[k]
    attrs = case_attrs(op, case)
    vals, diff, rng = make_inputs(op, case, k)

    with np.errstate(all="ignore"):
        ref = np.asarray(op.forward(*[v.copy() for v in vals], **attrs))
    # the shape rule agrees with the forward
    inferred = op.infer_shape([v.shape for v in vals], dict(attrs))
    assert tuple(inferred) == ref.shape, f"{name}: shape rule {inferred} but forward {ref.shape}"
    assert np.all(np.isfinite(ref)), f"{name}: the test point is outside the op's domain"
    assert ref.dtype.kind == "f", f"{name}: a differentiable op returns {ref.dtype}"

    w = rng.standard_normal(ref.shape)

    def f(vs):
        with np.errstate(all="ignore"):
            return float(np.sum(np.asarray(op.forward(*vs, **attrs), float) * w))

    g, ids, grads, out = _first(op, vals, attrs, w, diff)
    cts = op.vjp(g.sym(g.const(w)), g.sym(out), *(g.sym(i) for i in ids), **attrs)
    assert len(cts) == len(ids), f"{name}: the vjp must return one cotangent per tensor input"
    for i in diff:
        assert_close(g.values[grads[i]], _fd_grad(f, vals, i), f"{name}: d/d input {i}")

    # second derivative: differentiate <grad, v> again, compare along a direction u
    if not diff:
        return
    vs = {i: rng.standard_normal(vals[i].shape) for i in diff}
    us = {i: rng.standard_normal(vals[i].shape) for i in diff}
    z = None
    for i in diff:
        term = F.sum(g.sym(grads[i]) * vs[i])
        z = term if z is None else z + term
    hv = backward(g, z.id, [ids[i] for i in diff])
    analytic = sum(float(np.sum(g.values[hv[ids[i]]] * us[i])) for i in diff)

    def Z(shift):
        moved = [v + shift * us[i] if i in us else v for i, v in enumerate(vals)]
        g2, _, grads2, _ = _first(op, moved, attrs, w, diff)
        return sum(float(np.sum(g2.values[grads2[i]] * vs[i])) for i in diff)

    numeric = (Z(EPS) - Z(-EPS)) / (2 * EPS)
    assert_close(analytic, numeric, f"{name}: second derivative")

    # static mode: the same derivative graphs built from inferred shapes alone
    # (eager mode takes every node's shape from its value, which could hide a
    # wrong shape rule) and run by the static executor give the same numbers
    first, second = _static_derivatives(op, vals, attrs, w, diff, vs)
    for i in diff:
        np.testing.assert_allclose(first[i], g.values[grads[i]], rtol=1e-9, atol=1e-12,
                                   err_msg=f"{name}: static first derivative {i}")
        np.testing.assert_allclose(second[i], g.values[hv[ids[i]]], rtol=1e-9, atol=1e-12,
                                   err_msg=f"{name}: static second derivative {i}")


def _static_derivatives(op, vals, attrs, w, diff, vs):
    from cgraph.execute import Plan

    g = Graph()
    ids = [g.leaf(f"x{i}", "input", shape=tuple(v.shape)) for i, v in enumerate(vals)]
    for i, v in zip(ids, vals):
        g.nodes[i].dtype = "bool" if v.dtype == bool else "float64"
    out = g.add(op, ids, dict(attrs))
    assert g.nodes[out].shape == tuple(np.shape(op.forward(*vals, **attrs)))
    y = F.sum(g.sym(out) * w)
    grads = backward(g, y.id, [ids[i] for i in diff])
    z = None
    for i in diff:
        term = F.sum(g.sym(grads[ids[i]]) * vs[i])
        z = term if z is None else z + term
    hv = backward(g, z.id, [ids[i] for i in diff])
    targets = [grads[ids[i]] for i in diff] + [hv[ids[i]] for i in diff]
    res = Plan(g, targets).run({f"x{i}": v for i, v in enumerate(vals)})
    for i in diff:  # every derivative node has its operand's (inferred) shape
        assert g.nodes[grads[ids[i]]].shape == vals[i].shape, f"{op.name}: static grad shape"
        assert g.nodes[hv[ids[i]]].shape == vals[i].shape, f"{op.name}: static hvp shape"
    return ({i: res[grads[ids[i]]] for i in diff}, {i: res[hv[ids[i]]] for i in diff})


def test_every_differentiable_op_is_checked():
    checked = {p.values[0] for p in DIFF_CASES}
    assert {op.name for op in OPS.values() if op.vjp is not None} == checked
    assert len(checked) >= 60


# ------------------------------------------------------------------ contract
#: every builtin of LANGUAGE.md §6, by family (operators by the op they make)
SPEC_BUILTINS = {
    "elementwise": "abs sign exp log log1p expm1 sqrt square sin cos tan asin acos atan sinh cosh "
                   "tanh sigmoid relu leaky_relu softplus gelu silu floor ceil round clip",
    "binary": "maximum minimum atan2 pow where",
    "reductions": "sum mean prod max min logsumexp var std norm argmax argmin",
    "linalg": "matmul dot outer transpose trace diag inv det solve einsum",
    "shape": "reshape flatten squeeze expand_dims broadcast_to concat stack",
    "neural": "softmax log_softmax cross_entropy mse one_hot",
    "creation": "zeros ones full eye arange linspace randn rand",
    "data": "load",
    "derivatives": "grad jacobian hessian",
}
SPEC_OPERATORS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "^": "pow", "**": "pow",
                  "%": "mod", "@": "matmul", ".T": "transpose", "<": "lt", "<=": "le",
                  ">": "gt", ">=": "ge", "==": "eq", "!=": "ne", "[]": "index", "[idx]": "take"}
NOT_DIFFERENTIABLE = {"argmax", "argmin", "one_hot", "load", "zeros", "ones", "eye", "arange",
                      "linspace", "randn", "rand", "grad", "jacobian", "hessian"}
#: parameter names (a prefix of the signature) and defaults the spec spells out
SPEC_PARAMS = {
    "leaky_relu": (["x", "slope"], {"slope": 0.01}), "clip": (["x", "lo", "hi"], {}),
    "norm": (["x", "ord"], {"ord": 2}), "transpose": (["x", "axes"], {"axes": None}),
    "reshape": (["x", "shape"], {}), "squeeze": (["x", "axis"], {}),
    "expand_dims": (["x", "axis"], {}), "broadcast_to": (["x", "shape"], {}),
    "concat": ([None, "axis"], {"axis": 0}), "stack": ([None, "axis"], {"axis": 0}),
    "softmax": (["x", "axis"], {"axis": -1}), "log_softmax": (["x", "axis"], {"axis": -1}),
    "cross_entropy": (["logits", "labels"], {}), "mse": (["a", "b"], {}),
    "one_hot": (["labels", "n"], {}), "full": (["shape", "v"], {}), "eye": (["n"], {}),
    "arange": (["a", "b", "step"], {}), "linspace": (["a", "b", "n"], {}),
    "randn": (["shape", "seed"], {}), "rand": (["shape", "seed"], {}), "solve": (["a", "b"], {}),
    "einsum": (["spec"], {}), "sum": (["x", "axis", "keepdims"], {"axis": None, "keepdims": False}),
}


@pytest.mark.parametrize("family", sorted(SPEC_BUILTINS))
def test_every_spec_builtin_is_registered(family):
    for name in SPEC_BUILTINS[family].split():
        assert name in OPS, f"builtin {name} ({family}) is missing from the registry"
        op = OPS[name]
        assert op.family != "internal", f"{name} must be listed by `cgraph ops`"
        if name in NOT_DIFFERENTIABLE:
            assert op.vjp is None or name == "full", f"{name} should not be differentiable"
        elif family != "derivatives":
            assert op.vjp is not None, f"{name} needs its derivative"
    for sym, name in SPEC_OPERATORS.items():
        assert name in OPS, f"operator {sym} needs op {name}"
    assert OPS["full"].vjp is not None  # gradient with respect to the fill value


def test_spec_parameter_names_and_defaults():
    for name, (params, defaults) in SPEC_PARAMS.items():
        args = OPS[name].args
        for want, arg in zip(params, args):
            if want is not None:
                assert arg.name == want, f"{OPS[name].signature}: expected '{want}'"
        for k, v in defaults.items():
            arg = next(a for a in args if a.name == k)
            assert arg.default == v, f"{OPS[name].signature}: {k} defaults to {v}"


def test_every_op_has_doc_and_deriv():
    for op in OPS.values():
        assert op.doc.strip(), f"{op.name} has no doc"
        if op.family != "internal" or op.vjp is not None:
            assert op.deriv.strip(), f"{op.name} has no derivative text"
        if op.vjp is None and op.family != "internal":
            assert op.deriv, f"{op.name}: say 'not differentiable' or why there is no derivative"


def test_builtins_hide_internal_ops():
    names = {op.name for op in R.builtins()}
    for hidden in ("index", "index_grad", "take", "scatter_add", "reshape_like", "eye_like",
                   "sum_to", "const"):
        assert hidden in OPS and hidden not in names


# ------------------------------------------------------------- eager helpers
def run(op, *vals, **attrs):
    """Run one op through the graph (shape rule + forward), return the value."""
    g = Graph(eager=True, feed={f"x{i}": np.asarray(v, float) for i, v in enumerate(vals)})
    ids = [g.leaf(f"x{i}", "input") for i in range(len(vals))]
    return g.values[g.add(op, ids, attrs)]


def grads_at(op, *vals, **attrs):
    """Gradients of sum(op(vals)) w.r.t. every input, through the graph."""
    g = Graph(eager=True, feed={f"x{i}": np.asarray(v, float) for i, v in enumerate(vals)})
    ids = [g.leaf(f"x{i}", "input") for i in range(len(vals))]
    y = F.sum(g.sym(g.add(op, ids, attrs)))
    d = backward(g, y.id, ids)
    return [g.values[d[i]] for i in ids]


# ------------------------------------------------- forwards against NumPy
def test_softmax_rows_sum_to_one_and_are_stable():
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1001.0, 1002.0], [-1e4, 0.0, 1e4]])
    s = run("softmax", x)
    np.testing.assert_allclose(s.sum(axis=-1), 1.0)
    np.testing.assert_allclose(s[0], s[1])
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(s[0], e / e.sum())
    np.testing.assert_allclose(run("softmax", x[:2], axis=0).sum(axis=0), 1.0)
    ls = run("log_softmax", x)
    assert np.all(np.isfinite(ls))
    np.testing.assert_allclose(ls[:2], np.log(s[:2]))


def test_cross_entropy_against_hand_computation():
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0]])
    labels = np.array([0.0, 2.0])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    hand = -(math.log(p[0, 0]) + math.log(p[1, 2])) / 2
    assert run("cross_entropy", logits, labels) == pytest.approx(hand, rel=1e-12)
    # 1-D logits with a scalar label
    assert run("cross_entropy", logits[1], 1.0) == pytest.approx(-math.log(p[1, 1]), rel=1e-12)
    # the gradient is (softmax - one_hot) / N
    gl, glab = grads_at("cross_entropy", logits, labels)
    np.testing.assert_allclose(gl, (p - np.eye(3)[[0, 2]]) / 2)
    assert np.all(glab == 0)


def test_cross_entropy_and_one_hot_reject_bad_labels():
    from cgraph.errors import CgraphError

    for bad in ([0.0, 3.0], [0.0, -1.0], [0.0, 1.5]):
        with pytest.raises(ValueError):
            OPS["cross_entropy"].forward(np.zeros((2, 3)), np.array(bad))
        with pytest.raises(ValueError):
            OPS["one_hot"].forward(np.array(bad), n=3)
    with pytest.raises(CgraphError, match="out of range"):
        run("cross_entropy", np.zeros((2, 3)), [0.0, 3.0])
    with pytest.raises(S.ShapeError, match=r"\[2, 3\].*\[3\]"):
        OPS["cross_entropy"].infer_shape([(2, 3), (3,)], {})


def test_one_hot_and_mse():
    np.testing.assert_array_equal(run("one_hot", [2.0, 0.0], n=3), [[0, 0, 1], [1, 0, 0]])
    assert run("one_hot", [2.0, 0.0], n=3).dtype == np.float64
    a, b = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -1.0])
    assert run("mse", a, b) == pytest.approx(np.mean((a - b) ** 2))


def test_linalg_against_numpy():
    rng = _rng("linalg")
    a = rng.standard_normal((4, 4)) + 4 * np.eye(4)
    b = rng.standard_normal(4)
    m = rng.standard_normal((4, 2))
    np.testing.assert_allclose(run("det", a), np.linalg.det(a))
    np.testing.assert_allclose(run("inv", a), np.linalg.inv(a))
    np.testing.assert_allclose(run("solve", a, b), np.linalg.solve(a, b))
    np.testing.assert_allclose(run("solve", a, m), np.linalg.solve(a, m))
    batch = np.stack([a, a.T + np.eye(4)])
    np.testing.assert_allclose(run("solve", batch, b), np.linalg.solve(batch, b[:, None])[..., 0])
    np.testing.assert_allclose(run("det", batch), np.linalg.det(batch))
    np.testing.assert_allclose(run("trace", a), np.trace(a))
    np.testing.assert_allclose(run("diag", b), np.diag(b))
    np.testing.assert_allclose(run("diag", m), np.diag(m))
    np.testing.assert_allclose(run("outer", b, m), np.outer(b, m))
    np.testing.assert_allclose(run("dot", b, b), b @ b)
    for x, y in [(a, m), (b, a), (a, b), (b, b), (rng.standard_normal((2, 1, 3, 4)), m)]:
        np.testing.assert_allclose(run("matmul", x, y), np.matmul(x, y))
    x3 = rng.standard_normal((2, 3, 4))
    np.testing.assert_allclose(run("transpose", x3), x3.T)
    np.testing.assert_allclose(run("transpose", x3, axes=[2, 0, 1]), np.transpose(x3, (2, 0, 1)))
    for spec, ops in [("ij,jk->ik", (a, m)), ("ii->", (a,)), ("ij->ji", (m,)),
                      ("i,i", (b, b)), ("ij,j->i", (a, b)), ("bij,bjk->bik", (x3, x3.transpose(0, 2, 1)))]:
        np.testing.assert_allclose(run("einsum", *ops, spec=spec), np.einsum(spec, *ops))


def test_linalg_shape_errors_name_both_shapes():
    cases = [("matmul", [(2, 3), (4, 5)], {}), ("solve", [(3, 3), (4,)], {}),
             ("inv", [(2, 3)], {}), ("einsum", [(2, 3), (4, 5)], {"spec": "ij,jk->ik"}),
             ("dot", [(3,), (4,)], {})]
    for name, shapes, attrs in cases:
        with pytest.raises(S.ShapeError) as info:
            OPS[name].infer_shape(shapes, attrs)
        text = info.value.message + " " + (info.value.hint or "")
        assert any(S.fmt(s) in text for s in shapes), (name, text)
    with pytest.raises(S.ShapeError, match="operands"):
        OPS["einsum"].infer_shape([(2, 3)], {"spec": "ij,jk->ik"})
    with pytest.raises(S.ShapeError, match="ellipsis"):
        OPS["einsum"].infer_shape([(2, 3)], {"spec": "...j->j"})


def test_gelu_is_the_tanh_approximation():
    x = 1.0
    want = 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    assert run("gelu", x) == pytest.approx(want, rel=1e-12)
    assert run("gelu", x) == pytest.approx(0.8411919906082768, rel=1e-12)


def test_var_std_are_population_statistics():
    x = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]])
    assert run("var", x) == pytest.approx(np.var(x))
    assert run("std", x) == pytest.approx(np.std(x))
    np.testing.assert_allclose(run("var", x, axis=1), np.var(x, axis=1))
    assert run("var", [1.0, 3.0]) == pytest.approx(1.0)  # ddof=0, not 2.0


def test_mod_has_the_sign_of_the_divisor():
    np.testing.assert_array_equal(run("mod", [-7.0, 7.0, -7.0], [3.0, -3.0, -3.0]), [2.0, -2.0, -1.0])
    # d/dy (x % y) = -floor(x / y)
    gx, gy = grads_at("mod", -7.0, 3.0)
    assert gx == 1.0 and gy == 3.0


def test_norm_defaults_to_frobenius():
    m = np.array([[3.0, 4.0], [1.0, -2.0]])
    assert run("norm", m) == pytest.approx(np.linalg.norm(m, "fro"))
    assert run("norm", m, ord=1) == pytest.approx(np.abs(m).sum())
    np.testing.assert_allclose(run("norm", m, axis=1), np.linalg.norm(m, axis=1))


# ----------------------------------------------------------- kink conventions
def test_kink_conventions():
    assert grads_at("relu", 0.0)[0] == 0.0
    assert grads_at("abs", 0.0)[0] == 0.0
    assert grads_at("sqrt", 0.0)[0] == np.inf
    for name in ("floor", "ceil", "round", "sign"):
        np.testing.assert_array_equal(grads_at(name, [-1.5, 0.0, 0.5, 2.0])[0], 0.0)
    np.testing.assert_allclose(grads_at("max", [1.0, 3.0, 3.0])[0], [0, 0.5, 0.5])
    np.testing.assert_allclose(grads_at("min", [2.0, 2.0, 5.0, 2.0])[0], [1 / 3, 1 / 3, 0, 1 / 3])
    np.testing.assert_allclose(grads_at("max", [[1.0, 1.0], [0.0, 2.0]], axis=1)[0],
                               [[0.5, 0.5], [0, 1]])
    for name in ("maximum", "minimum"):
        assert grads_at(name, 2.0, 2.0) == [0.5, 0.5]
    assert grads_at("maximum", 3.0, 2.0) == [1.0, 0.0]
    assert grads_at("minimum", 3.0, 2.0) == [0.0, 1.0]


# ------------------------------------------------------------------ shape ops
def test_reshape_infers_one_dim_and_reports_mismatches():
    x = np.arange(12.0)
    assert run("reshape", x, shape=[-1, 3]).shape == (4, 3)
    assert OPS["reshape"].infer_shape([(12,)], {"shape": [2, -1, 2]}) == (2, 3, 2)
    with pytest.raises(S.ShapeError, match=r"\[12\].*\[5, -1\]"):
        OPS["reshape"].infer_shape([(12,)], {"shape": [5, -1]})
    with pytest.raises(S.ShapeError, match="only one"):
        OPS["reshape"].infer_shape([(12,)], {"shape": [-1, -1]})
    with pytest.raises(S.ShapeError, match="12 elements"):
        OPS["reshape"].infer_shape([(3, 4)], {"shape": [5, 2]})


def test_shape_ops_against_numpy():
    x = np.arange(6.0).reshape(2, 1, 3)
    np.testing.assert_array_equal(run("squeeze", x), x.squeeze())
    np.testing.assert_array_equal(run("flatten", x), x.ravel())
    assert run("expand_dims", x, axis=[0, -1]).shape == (1, 2, 1, 3, 1)
    assert run("broadcast_to", x, shape=[4, 2, 5, 3]).shape == (4, 2, 5, 3)
    y = np.ones((2, 2, 3))
    np.testing.assert_array_equal(run("concat", x, y, axis=1), np.concatenate([x, y], axis=1))
    np.testing.assert_array_equal(run("stack", x, x, axis=-1), np.stack([x, x], axis=-1))
    with pytest.raises(S.ShapeError, match="size is 3"):
        OPS["squeeze"].infer_shape([(2, 1, 3)], {"axis": 2})
    with pytest.raises(S.ShapeError, match=r"\[2, 1, 3\].*\[2, 3\]"):
        OPS["concat"].infer_shape([(2, 1, 3), (2, 3)], {"axis": 0})
    with pytest.raises(S.ShapeError, match=r"\[2, 1, 3\].*\[2, 2, 4\]"):
        OPS["concat"].infer_shape([(2, 1, 3), (2, 2, 4)], {"axis": 1})
    with pytest.raises(S.ShapeError, match="broadcast"):
        OPS["broadcast_to"].infer_shape([(3,)], {"shape": [2, 4]})


INDEX_ITEMS = [
    (("int", 0),), (("int", -1), ("slice", None, None, -1)),
    (("slice", 1, None, None), ("newaxis",), ("int", 2)),
    (("slice", None, None, -2),), (("ellipsis",), ("int", 0)),
    (("newaxis",), ("slice", 5, 1, -2)), (("slice", -10, 10, 3), ("slice", 3, 1, None)),
]


@pytest.mark.parametrize("items", INDEX_ITEMS)
def test_index_matches_numpy_basic_indexing(items):
    x = np.arange(20.0).reshape(4, 5)
    key = tuple({"int": lambda e: e[1], "slice": lambda e: slice(*e[1:]),
                 "newaxis": lambda e: None, "ellipsis": lambda e: Ellipsis}[e[0]](e) for e in items)
    want = x[key]
    assert OPS["index"].infer_shape([x.shape], {"items": items}) == np.shape(want)
    np.testing.assert_array_equal(run("index", x, items=items), want)
    # the gradient writes g back into the indexed region
    gx = grads_at("index", x, items=items)[0]
    ref = np.zeros_like(x)
    ref[key] = 1.0
    np.testing.assert_array_equal(gx, ref)


def test_index_out_of_range_is_a_shape_error():
    with pytest.raises(S.ShapeError, match="out of range"):
        OPS["index"].infer_shape([(3, 4)], {"items": (("int", 3),)})
    with pytest.raises(S.ShapeError, match="too many"):
        OPS["index"].infer_shape([(3,)], {"items": (("int", 0), ("int", 0))})


def test_take_gathers_and_gradients_accumulate():
    x = np.arange(12.0).reshape(4, 3)
    idx = np.array([1.0, -1.0, 1.0])
    np.testing.assert_array_equal(run("take", x, idx), x[[1, -1, 1]])
    gx = grads_at("take", x, idx)[0]
    np.testing.assert_array_equal(gx, [[0, 0, 0], [2, 2, 2], [0, 0, 0], [1, 1, 1]])
    with pytest.raises(ValueError, match="out of range"):
        OPS["take"].forward(x, np.array([4.0]))
    with pytest.raises(ValueError, match="not an integer"):
        OPS["take"].forward(x, np.array([0.5]))


# --------------------------------------------------------------- creation
def test_creation_ops():
    np.testing.assert_array_equal(run("arange", a=5.0), np.arange(5.0))
    np.testing.assert_array_equal(run("arange", a=1.0, b=2.0, step=0.25), np.arange(1, 2, 0.25))
    assert OPS["arange"].infer_shape([], {"a": 0.0, "b": 1.0, "step": 0.1}) == (10,)
    assert OPS["arange"].infer_shape([], {"a": 3.0, "b": None, "step": 1}) == (3,)
    np.testing.assert_array_equal(run("linspace", a=0.0, b=1.0, n=5), np.linspace(0, 1, 5))
    np.testing.assert_array_equal(run("eye", n=3), np.eye(3))
    np.testing.assert_array_equal(run("zeros", shape=[2, 3]), np.zeros((2, 3)))
    np.testing.assert_array_equal(run("ones", shape=[2]), np.ones(2))
    np.testing.assert_array_equal(run("full", 7.0, shape=[2, 2]), np.full((2, 2), 7.0))
    assert grads_at("full", 7.0, shape=[2, 3]) == [6.0]
    a = run("randn", shape=[3, 2], seed=1)
    assert a.shape == (3, 2) and a.dtype == np.float64
    np.testing.assert_array_equal(a, run("randn", shape=[3, 2], seed=1))
    assert not np.array_equal(a, run("randn", shape=[3, 2], seed=2))
    np.testing.assert_array_equal(a, np.random.default_rng(1).standard_normal((3, 2)))
    r = run("rand", shape=[100], seed=0)
    assert r.min() >= 0 and r.max() < 1
    np.testing.assert_array_equal(OPS["rand"].forward(shape=[2], seed=None),
                                  OPS["rand"].forward(shape=[2], seed=0))
    with pytest.raises(S.ShapeError):
        OPS["zeros"].infer_shape([], {"shape": [-1, 2]})
    with pytest.raises(S.ShapeError):
        OPS["arange"].infer_shape([], {"a": 0.0, "b": 1.0, "step": 0.0})


# ----------------------------------------------------------------- load
from cgraph import datafiles as D  # noqa: E402


def test_load_npy_npz(tmp_path):
    a = np.arange(6.0).reshape(2, 3)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "i.npy", np.arange(3))
    np.savez(tmp_path / "one.npz", only=a)
    np.savez(tmp_path / "two.npz", W=a, b=np.ones(2))
    np.testing.assert_array_equal(D.read_array(tmp_path / "a.npy"), a)
    assert D.read_array(tmp_path / "i.npy").dtype == np.float64
    np.testing.assert_array_equal(D.read_array(tmp_path / "one.npz"), a)
    np.testing.assert_array_equal(D.read_array(tmp_path / "two.npz", "b"), np.ones(2))
    with pytest.raises(D.DataFileError, match="W, b"):
        D.read_array(tmp_path / "two.npz")
    with pytest.raises(D.DataFileError, match="no array named 'w'"):
        D.read_array(tmp_path / "two.npz", "w")
    assert D.split_ref("x/two.npz:W") == ("x/two.npz", "W")
    assert D.split_ref("a.npy") == ("a.npy", None)
    # through the graph: the shape is known when the graph is built (static)
    g = Graph()
    node = g.add("load", [], {"path": str(tmp_path / "two.npz"), "key": "W"})
    assert g.nodes[node].shape == (2, 3)
    np.testing.assert_array_equal(run("load", path=str(tmp_path / "a.npy"), key=None), a)


def test_load_refuses_pickles(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(D.DataFileError, match="pickle"):
        D.read_array(tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(D.DataFileError, match="pickle"):
        D.read_array(tmp_path / "obj.npz")


def test_load_csv(tmp_path):
    (tmp_path / "h.csv").write_text("x,y\n1,2\n3.5,-4\n")
    np.testing.assert_array_equal(D.read_array(tmp_path / "h.csv"), [[1, 2], [3.5, -4]])
    (tmp_path / "n.csv").write_text("1,2\n3,4\n\n")
    np.testing.assert_array_equal(D.read_array(tmp_path / "n.csv"), [[1, 2], [3, 4]])
    (tmp_path / "one.csv").write_text("5\n6\n")
    assert D.read_array(tmp_path / "one.csv").shape == (2, 1)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,oops\n")
    with pytest.raises(D.DataFileError, match="row 3, column 2"):
        D.read_array(tmp_path / "bad.csv")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(D.DataFileError, match="row 2"):
        D.read_array(tmp_path / "ragged.csv")
    header, _ = D.read_csv_table(tmp_path / "h.csv")
    assert header == ["x", "y"]


def test_load_json(tmp_path):
    (tmp_path / "a.json").write_text("[[1, 2], [3, 4.5]]")
    np.testing.assert_array_equal(D.read_array(tmp_path / "a.json"), [[1, 2], [3, 4.5]])
    (tmp_path / "s.json").write_text("2.5")
    assert D.read_array(tmp_path / "s.json").shape == ()
    (tmp_path / "r.json").write_text("[[1, 2], [3]]")
    with pytest.raises(D.DataFileError, match="ragged"):
        D.read_array(tmp_path / "r.json")
    (tmp_path / "n.json").write_text('[1, "two"]')
    with pytest.raises(D.DataFileError, match="not a number"):
        D.read_array(tmp_path / "n.json")
    (tmp_path / "v.json").write_text('{"x": 2, "W": [[1, 0], [0, 1]], "m": [true, false]}')
    vals = D.read_json_values(tmp_path / "v.json")
    assert vals["x"].shape == () and vals["W"].shape == (2, 2) and vals["m"].dtype == bool
    with pytest.raises(D.DataFileError, match="object"):
        D.read_array(tmp_path / "v.json")


def test_load_refuses_special_and_oversized_files(tmp_path, monkeypatch):
    fifo = tmp_path / "pipe.npy"
    os.mkfifo(fifo)
    with pytest.raises(D.DataFileError, match="not a regular file"):
        D.read_array(fifo)
    if os.path.exists("/dev/zero"):
        with pytest.raises(D.DataFileError):
            D.read_array("/dev/zero")
    with pytest.raises(D.DataFileError, match="no such file"):
        D.read_array(tmp_path / "missing.csv")
    with pytest.raises(D.DataFileError, match="unknown file type"):
        D.read_array(tmp_path / "x.txt")
    (tmp_path / "big.csv").write_text("1,2\n" * 100)
    monkeypatch.setattr(D, "MAX_LOAD_BYTES", 64)
    with pytest.raises(D.DataFileError, match="limit"):
        D.read_array(tmp_path / "big.csv")
    # the builder reports a bad file when the graph is built
    with pytest.raises(S.ShapeError, match="no such file"):
        OPS["load"].infer_shape([], {"path": str(tmp_path / "missing.csv"), "key": None})
