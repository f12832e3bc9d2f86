"""The registry as a formula sheet: the three spellings of each elementwise
op's derivative agree, and its Python-float forward agrees with its NumPy one.

Generated from the registry, so a new op is checked without a new test:

* `deriv` (what `cgraph ops` prints) and `partials` (the templates
  `--explain` and drawings fill in) say the same thing;
* each `partials` template, read as a cgraph expression, gives the numbers
  the op's VJP gives (points sampled from the op's test domain, and ties for
  the ops that have them);
* `scalar` (the all-scalar plan's implementation) equals `forward`.

A template that is prose rather than a formula must be listed in PROSE.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import cgraph
import cgraph.ops  # noqa: F401  (fills the registry)
from cgraph import registry as R

#: ops whose partials are words, not a formula (checked by the finite-difference tests only)
PROSE = {"gelu"}

ELEMENTWISE = [op for op in R.builtins() if op.elementwise and op.differentiable and op.partials]


def _points(domain: str, rng, n: int = 6) -> np.ndarray:
    if domain == "pos":
        return rng.uniform(0.2, 3.0, n)
    if domain == "unit":
        return rng.uniform(-0.9, 0.9, n)
    if domain in ("away0", "nonzero"):
        return rng.choice([-1.0, 1.0], n) * rng.uniform(0.3, 2.0, n)
    if domain == "lo":
        return rng.uniform(-1.5, -0.5, n)
    if domain == "hi":
        return rng.uniform(0.5, 1.5, n)
    if domain == "bool":
        return rng.choice([-1.0, 1.0], n)
    return rng.uniform(-2.0, 2.0, n)


def to_cgraph(template: str, args: list) -> str:
    """A partials template as a cgraph expression: {k} is the k-th argument,
    · × ² σ √ ‖‖ ≥ ≤ become cgraph, `[c]` is 1 where c holds, and
    `a if c else b` is where(c, a, b)."""
    s = template
    for k, a in enumerate(args):
        s = s.replace("{%d}" % k, a)
    s = (s.replace("{out}", "out").replace("·", "*").replace("²", "^2").replace("σ(", "sigmoid(")
         .replace("√(", "sqrt(").replace("≥", ">=").replace("≤", "<="))
    s = re.sub(r"‖([^‖]+)‖", r"norm(\1)", s)

    def iverson(m) -> str:
        c = re.sub(r"(?<![<>!=])=(?!=)", "==", m[1])           # [a = b] is a test
        chain = re.fullmatch(r"(.+?) (<=|<) (.+?) (<=|<) (.+)", c)  # [a ≤ x ≤ b]
        if chain:
            c = f"({chain[1]} {chain[2]} {chain[3]}) and ({chain[3]} {chain[4]} {chain[5]})"
        return f"where({c}, 1, 0)"

    s = re.sub(r"\[([^\]]+)\]", iverson, s)
    m = re.fullmatch(r"(.+?) if (.+?) else (.+)", s)
    if m:
        s = f"where({m[2]}, {m[1]}, {m[3]})"
    return s


def _names(op) -> list:
    return [a.name for a in op.tensor_args]


def test_every_partials_template_is_checked():
    """Each elementwise op has one template per tensor input (or one shared by
    all), and a template names only the op's own inputs."""
    for op in ELEMENTWISE:
        if op.name in PROSE:
            continue
        n = len(op.tensor_args)
        assert len(op.partials) in (1, n), f"{op.name}: {len(op.partials)} partials for {n} inputs"
        for t in op.partials:
            left = re.sub(r"\{\d\}|\{out\}", "", t)
            stray = set(re.findall(r"(?<![A-Za-z_0-9])[a-z][A-Za-z_0-9]*", left)) & set(_names(op))
            assert not stray, f"{op.name}: the template {t!r} names {stray} instead of {{k}}"


@pytest.mark.parametrize("op", [op for op in ELEMENTWISE if len(op.tensor_args) == 1],
                         ids=lambda op: op.name)
def test_deriv_text_and_partials_agree_one_input(op):
    assert op.partials == (R.partial_of_x(op.deriv),), \
        f"{op.name}: deriv {op.deriv!r} but partials {op.partials!r}"


@pytest.mark.parametrize("op", [op for op in ELEMENTWISE if op.name not in PROSE],
                         ids=lambda op: op.name)
def test_partials_give_the_vjp(op):
    rng = np.random.default_rng(sum(map(ord, op.name)))
    names = _names(op)
    doms = list(op.domain) + ["real"] * (len(names) - len(op.domain))
    args = [f"({n} > 0)" if d == "bool" else n for n, d in zip(names, doms)]
    attrs = "".join(f"{a.name} = {a.default}\n" for a in op.args
                    if not a.is_tensor and isinstance(a.default, (int, float)) and a.default is not True)
    head = "".join(f"input {n}\n" for n in names) + attrs + f"out = {op.name}({', '.join(args)})\n"
    value = cgraph.compile(head + "Y = out\n")
    cols = [_points(d, rng) for d in doms]
    if op.name in ("maximum", "minimum"):           # ties share the gradient
        cols[1][:2] = cols[0][:2]
    for row in zip(*cols):
        feed = {n: float(v) for n, v in zip(names, row)}
        _, grads = value.gradients(feed, wrt=[n for n, d in zip(names, doms) if d != "bool"])
        for k, (n, d) in enumerate(zip(names, doms)):
            if d == "bool":
                continue
            tmpl = op.partials[k] if len(op.partials) > 1 else op.partials[0]
            expr = to_cgraph(tmpl, args)
            got = float(cgraph.compile(head + f"Y = {expr}\n").evaluate(feed)["Y"])
            want = float(grads[n])
            assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), \
                f"{op.name} at {feed}: the template {tmpl!r} ({expr}) gives {got}, the VJP {want}"


@pytest.mark.parametrize("op", [op for op in R.REGISTRY.values() if op.scalar is not None],
                         ids=lambda op: op.name)
def test_scalar_forward_matches_numpy_forward(op):
    rng = np.random.default_rng(sum(map(ord, op.name)) + 1)
    names = _names(op)
    doms = list(op.domain) + ["real"] * (len(names) - len(op.domain))
    cols = [_points(d, rng, 20) for d in doms]
    for row in zip(*cols):
        want = float(op.forward(*(np.float64(v) for v in row)))
        got = op.scalar(*(float(v) for v in row))
        assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-300) or \
            (math.isnan(got) and math.isnan(want)), f"{op.name}{row}: scalar {got}, numpy {want}"


SPECIAL = (0.0, -0.0, 1.0, -1.0, 2.5, math.inf, -math.inf, math.nan)


@pytest.mark.parametrize("op", [op for op in R.REGISTRY.values() if op.scalar is not None],
                         ids=lambda op: op.name)
def test_scalar_forward_keeps_ieee_special_values(op):
    """The all-scalar plans (static mode) and NumPy (eager mode) agree at 0, ±inf
    and NaN too: `x / x` at 0 and `abs(abs(x))` at NaN once differed by mode."""
    import itertools

    for row in itertools.product(SPECIAL, repeat=len(_names(op))):
        with np.errstate(all="ignore"):
            want = float(op.forward(*(np.float64(v) for v in row)))
        try:
            got = float(op.scalar(*row))
        except (ValueError, OverflowError, ZeroDivisionError):
            continue  # the plan reruns such a step the NumPy way (execute.Plan._run_scalar)
        assert math.isclose(got, want, rel_tol=1e-14) or (math.isnan(got) and math.isnan(want)), \
            f"{op.name}{row}: scalar {got}, numpy {want}"


def test_ops_known_by_name_elsewhere_are_registered():
    """The few places that name ops (buffer reuse, the NaN messages) name
    only ops the registry has: a renamed or removed op cannot linger there."""
    import inspect

    from cgraph import execute
    from cgraph import nonfinite as numerics

    assert execute.FRESH <= set(R.REGISTRY), execute.FRESH - set(R.REGISTRY)
    src = inspect.getsource(numerics.describe)
    named = set(re.findall(r'op == "(\w+)"', src))
    for group in re.findall(r"op in \(([^)]*)\)", src):
        named |= set(re.findall(r'"(\w+)"', group))
    assert named and named <= set(R.REGISTRY), named - set(R.REGISTRY)


def test_registry_entries_take_keywords():
    """An op is declared by name, then keywords: no two positional strings to swap."""
    import inspect

    from cgraph.ops.binary import binary
    from cgraph.ops.elementwise import unary
    from cgraph.ops.reductions import reduction
    from cgraph.registry import defop

    for helper in (defop, unary, binary, reduction):
        params = list(inspect.signature(helper).parameters.values())
        positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        assert positional == ["name"], (helper.__name__, positional)
