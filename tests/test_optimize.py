"""Each optimiser pass on its own, and the optimised plan against the plain one."""
from __future__ import annotations

import numpy as np
import pytest

from cgraph.execute import Plan
from cgraph.ir import Graph
from cgraph.notation import F
from cgraph.optimize import compact, cse, fold, fuse, optimize, simplify
from cgraph.program import Program


def ops_of(g):
    return [n.op.name for n in g.nodes]


def leaf(g, name="x", shape=(4,)):
    return g.sym(g.leaf(name, "input", shape=shape))


def run(g, targets, **feed):
    return Plan(g, targets).run({k: np.asarray(v, dtype=float) for k, v in feed.items()})


def test_fold_computes_constant_subgraphs():
    g = Graph(fold=False)
    a, b = g.sym(g.const(2.0)), g.sym(g.const(3.0))
    y = F.exp(a * b) + leaf(g, shape=())
    fold.run(g)
    assert g.nodes[y.node.inputs[0]].op.name == "const"
    assert float(g.nodes[y.node.inputs[0]].attrs["value"]) == pytest.approx(np.exp(6.0))


def test_fold_does_not_materialise_broadcasts():
    g = Graph(fold=False)
    big = F.broadcast_to(g.sym(g.const(1.0)), shape=[100_000])
    fold.run(g)
    assert big.node.op.name == "broadcast_to"


def test_cse_merges_identical_nodes():
    g = Graph()
    x = leaf(g)
    a, b = F.sin(x) * 2.0, F.sin(x) * 2.0
    y = a + b
    moved = cse.run(g)
    assert moved  # the second sin and the second product are the first ones
    assert y.node.inputs[0] == y.node.inputs[1]


def test_cse_keeps_effects_apart():
    g = Graph()
    x = leaf(g, shape=())
    g.add("print", [x.id], {"parts": (("val", 0),)})
    g.add("print", [x.id], {"parts": (("val", 0),)})
    cse.run(g)
    assert ops_of(g).count("print") == 2


@pytest.mark.parametrize("expr, gone", [
    (lambda x: x * 1.0, "mul"), (lambda x: 1.0 * x, "mul"), (lambda x: x / 1.0, "div"),
    (lambda x: x + 0.0, "add"), (lambda x: 0.0 + x, "add"), (lambda x: x - 0.0, "sub"),
    (lambda x: -(-x), "neg"), (lambda x: x ** 1.0, "pow"), (lambda x: x.T.T, "transpose"),
])
def test_simplify_identities(expr, gone):
    g = Graph()
    x = leaf(g, shape=(2, 3))
    y = expr(x)
    remap = simplify.run(g)
    assert remap.get(y.id) == x.id, f"{gone} should reduce to x"


@pytest.mark.parametrize("expr", [lambda x: x * 0.0, lambda x: x - x])
def test_simplify_respects_ieee(expr):
    """x·0 and x−x are nan for x = inf: never rewritten to 0."""
    g = Graph()
    x = leaf(g, shape=(2,))
    y = expr(x)
    simplify.run(g)
    compact(g, [y.id])
    vals = Plan(g, [g.nodes[-1].id]).run({"x": np.array([np.inf, 1.0])})
    assert np.isnan(vals[g.nodes[-1].id][0])


def test_simplify_keeps_broadcasting_products():
    g = Graph()
    x = leaf(g, shape=())
    y = x * np.ones(3)  # x·1 with a bigger 1: a broadcast, not an identity
    assert simplify.run(g).get(y.id) is None


def test_dead_code_keeps_print_and_assert(capsys):
    p = Program("x = 3\nunused = sin(x) * 100\nprint(x)\nassert x > 0, \"pos\"\ny = x * 2\n")
    r = p.run()
    assert capsys.readouterr().out.strip() == "3"
    g = r.graph
    assert "print" in ops_of(g) and "assert" in ops_of(g)
    assert "sin" not in ops_of(g)  # dead


def test_fusion_matches_unfused_bit_for_bit():
    x = np.random.default_rng(0).random(300_000)
    src = "input x\nL = sum(tanh(x)*sigmoid(x) + exp(-x*x)*sin(x) + log1p(x*x)/(1+cos(x)^2))\n"
    fused = Program(src)
    plain = Program(src, optimize=False)
    v1, g1 = fused.gradients({"x": x})
    v2, g2 = plain.gradients({"x": x})
    assert "fused" in ops_of(fused.build({"x": x}, grad=True))
    np.testing.assert_array_equal(g1["x"], g2["x"])
    assert float(v1) == float(v2)


def test_fused_node_runs_blockwise_with_broadcast_operands():
    g = Graph()
    x = leaf(g, shape=(600, 500))
    b = leaf(g, "b", shape=(500,))
    y = F.exp((x * 2.0 + b) * 0.5) - 1.0
    fuse.run(g, [y.id])
    assert "fused" in ops_of(g)
    xv, bv = np.random.rand(600, 500), np.random.rand(500)
    out = Plan(g, [g.nodes[-1].id]).run({"x": xv, "b": bv})[g.nodes[-1].id]
    np.testing.assert_array_equal(out, np.exp((xv * 2.0 + bv) * 0.5) - 1.0)


def test_memory_plan_frees_and_reuses():
    x = np.random.rand(100_000)
    p = Program("input x\ny = sum(exp(sin(x) * 2) * cos(x) + x)\n")
    p.gradients({"x": x})
    plan = p.compiled({"x": x}, grad=True).plan
    assert 0 < plan.peak_bytes < plan.naive_bytes
    assert len(plan.slot_shapes) < sum(1 for s in plan.steps if s[0].shape == (100_000,))
    v1, g1 = p.gradients({"x": x})
    v2, g2 = p.gradients({"x": x})  # buffers reused across calls give the same answer
    np.testing.assert_array_equal(g1["x"], g2["x"])
    _, g3 = Program("input x\ny = sum(exp(sin(x) * 2) * cos(x) + x)\n", optimize=False).gradients({"x": x})
    np.testing.assert_allclose(g1["x"], g3["x"], rtol=1e-12)


def test_scalar_plan_matches_numpy_plan():
    src = "x = 0.3\nfor i in range(12):\n    x = sin(x) * 0.999 + 0.1\n"  # short: unrolled
    p = Program(src)
    value, grads = p.gradients()
    plan = p.compiled(grad=True).plan
    assert plan.scalar
    plan.scalar = False  # the same plan, the NumPy way
    v2, g2 = p.gradients()
    assert float(value) == float(v2) and float(grads["x"]) == float(g2["x"])


def test_scalar_plan_falls_back_on_overflow():
    p = Program("input x\ny = exp(x) * 0 + 1 / x\n")
    value, grads = p.gradients({"x": 1000.0})
    assert np.isnan(value)  # inf·0, as NumPy says
    value, _ = p.gradients({"x": 0.0})
    assert np.isnan(value) or np.isinf(value)


def test_pipeline_report_counts_nodes():
    p = Program("a = 2\nb = 3\nd = a + b\ne = b - a\nY = d * e * 1\n")
    g = p.build(grad=False)
    report = []
    g2 = Program("a = 2\nb = 3\nd = a + b\ne = b - a\nY = d * e * 1\n", optimize=False)
    graph = g2.build()
    optimize(graph, list(graph.outputs.values()), report=report)
    names = [n for n, _ in report]
    assert names[0] == "built" and "common subexpressions" in names and "dead code" in names
    assert report[-1][1] <= report[0][1]


def test_check_passes_reports_counts_and_memory(capsys):
    from cgraph.cli import run as cli

    src = "input x: [1000]\ny = sum(exp(sin(x) * 2) * cos(x) + x * 1 + 0)\n"
    assert cli(["check", src, "--passes"]) == 0
    out = capsys.readouterr().out
    for name in ("built", "dead code", "constant folding", "algebraic simplification",
                 "common subexpressions", "elementwise fusion", "peak memory, planned"):
        assert name in out
    report = Program(src).pass_report()
    fwd, bwd = report["forward"], report["backward"]
    assert fwd["passes"][-1][1] < fwd["passes"][0][1]  # x*1 + 0 simplified away
    assert bwd["bytes_after"] < bwd["bytes_before"] and bwd["shapes_known"]


def test_fusion_region_with_several_outputs_spans_forward_and_backward():
    x = np.random.default_rng(1).random(300_000)
    src = "input x\nL = sum(tanh(x) * sin(x) + exp(-x * x))\n"
    g = Program(src).build({"x": x}, grad=True)
    assert ops_of(g).count("fused") == 1 and ops_of(g).count("fused_out") == 2
    _, g1 = Program(src).gradients({"x": x})
    _, g2 = Program(src, optimize=False).gradients({"x": x})
    np.testing.assert_array_equal(g1["x"], g2["x"])


def test_fusion_never_joins_across_a_reduction():
    """x -> t -> sum(t) -> y = t * sum(t): y needs all of t first, so it is another step."""
    g = Graph()
    x = leaf(g, shape=(300_000,))
    t = F.exp(x) * 2.0
    y = (t * F.sum(t)) + 1.0
    fuse.run(g, [y.id])
    order = ops_of(g)
    assert order.index("sum") < len(order) - 1
    xv = np.random.rand(300_000)
    out = Plan(g, [g.nodes[-1].id]).run({"x": xv})[g.nodes[-1].id]
    tv = np.exp(xv) * 2.0
    np.testing.assert_allclose(out, tv * tv.sum() + 1.0, rtol=1e-12)
