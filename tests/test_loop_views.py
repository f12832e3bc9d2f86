"""How loops are shown: the optimiser's unrolling choice in `check --passes`, a
loop node drawn as one cluster of its body, and `--explain` writing the body's
chain rule once (issue 20, part 3)."""
from __future__ import annotations

import math
import re

import numpy as np

from cgraph.draw_program import draw_program
from cgraph.program import Program
from cli_runner import cli

CHAIN = "input x\nw = 0.999\nfor i in range(N):\n    h = sin(x) * w\n    x = h + 0.1\noutput x\n"


def chain(n: int) -> str:
    return CHAIN.replace("N", str(n))


def test_unrolling_is_the_optimiser_s_choice_and_check_passes_lists_it(tmp_path):
    src = tmp_path / "loops.cg"
    src.write_text("input x: []\ny = x\nfor i in range(4):\n    y = sin(y) * 0.9 + i\n"
                   "for j in range(100):\n    y = y * 0.99 + 0.01\n"
                   "for m in range(30):\n    print(y)\n    y = y + 1\noutput y\n")
    r = cli("check", str(src), "--passes")
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    at = lines.index("  loops:")
    assert "line 3: for, 4 iterations: unrolled by the optimiser (at most 16 iterations" \
        in lines[at + 1]
    assert re.search(r"line 5: for, 100 iterations of a \d+-node body: one loop node", lines[at + 2])
    assert "line 7: for, 30 iterations: unrolled while building (its body has print)" in lines[at + 3]
    doc = cli("check", str(src), "--passes", "--json").json
    loops = doc["files"][0]["passes"]["forward"]["loops"]
    assert [(e["line"], e["choice"]) for e in loops] == [
        (3, "unrolled by the optimiser"), (5, "one loop node"), (7, "unrolled while building")]
    # the choice made is what runs: no loop node for the short loop, one for the long
    g = Program(src.read_text()).build({"x": 0.5})
    assert [n.attrs["n"] for n in g.nodes if n.op.name == "loop"] == [100]


def test_a_short_loop_unrolled_by_the_optimiser_gives_eager_mode_s_numbers():
    src = chain(12)
    g = Program(src).build({"x": 0.5}, grad=True)
    assert not any(n.op.name == "loop" for n in g.nodes)
    assert g.loops[0]["choice"] == "unrolled by the optimiser"
    v, gr = Program(src).gradients({"x": 0.5})
    ev, eg = Program(src, mode="eager").gradients({"x": 0.5})
    np.testing.assert_allclose(v, ev, rtol=1e-14)
    for k in eg:
        np.testing.assert_allclose(gr[k], eg[k], rtol=1e-12)


def test_a_loop_node_is_drawn_as_one_cluster_of_its_body():
    d = draw_program(chain(10_000), "chain.cg", inputs={"x": 0.5})
    dot = d.dot
    assert dot.count("subgraph cluster_") == 1
    assert "loop: 10,000 iterations (i = 0, 1, …)" in dot
    # the body once: sin, ×, + (and its inputs: the carried x, the captured w)
    assert dot.count("<font point-size=\"14\">sin</font>") == 1
    assert "carried</font>" in dot and "captured</font>" in dot
    assert "label=<<font color=\"#3b6fb6\">next</font>>" in dot   # the back edge
    assert d.nodes < 20
    back = draw_program(chain(10_000), "chain.cg", inputs={"x": 0.5}, backward=True).dot
    assert "reverse loop: 10,000 iterations, last to first" in back
    assert "loop, keeping every carry: 10,000 iterations" in back
    assert back.count("<font point-size=\"14\">cos</font>") == 1   # the reverse body's VJP


def test_explain_writes_the_body_s_chain_rule_once(tmp_path):
    src = tmp_path / "chain.cg"
    src.write_text(chain(10_000))
    r = cli("grad", str(src), "x=0.5", "--explain")
    assert r.code == 0, r.stderr
    out = r.stdout
    assert "The loop at line 3 (10,000 iterations): its body once, with the numbers of its " \
           "first iteration (i = 0)." in out
    step = 0.999 * math.cos(0.5)
    assert f"∂x′/∂x = ∂x′/∂t1·∂t1/∂x = w·cos(x) = 0.999·0.877583 = {step:.6g}" in out
    assert f"∂x′/∂w = ∂x′/∂h·∂h/∂w = 1·t1 = t1 = 1·0.479426 = {math.sin(0.5):.6g}" in out
    assert len(out.splitlines()) < 40
    doc = cli("grad", str(src), "x=0.5", "--explain", "--json").json
    loop = doc["explain"]["loops"][0]
    assert loop["line"] == 3 and loop["steps"][0]["carry"] == "x"
    assert "x′ = h + 0.1 = 0.578946" in loop["steps"][0]["forward"]


def test_a_while_node_and_its_reverse_loop_are_drawn_and_explained(tmp_path):
    src = "input a\nx = a\nwhile abs(x * x - a) > 1e-12:\n    x = 0.5 * (x + a / x)\nY = x\n"
    dot = draw_program(src, "newton.cg", inputs={"a": 2.0}, backward=True).dot
    assert "while the condition holds (at most 100,000 iterations)" in dot
    assert "reverse loop: as many iterations as the while loop ran, last to first" in dot
    assert "<b>condition</b>" in dot
    path = tmp_path / "newton.cg"
    path.write_text(src)
    r = cli("grad", str(path), "a=2", "--explain")
    assert r.code == 0, r.stderr
    assert "The while loop at line 3: its body once" in r.stdout
    assert "x′ = 0.5 × t2 = 1.5" in r.stdout   # (2 + 2/2) / 2


def test_fusion_runs_inside_a_loop_body(tmp_path):
    """A body over big tensors gets the static graph's elementwise fusion when it
    first runs (after every derivative was taken): same numbers as eager mode."""
    src = ("input v: [300000]\nx = v\nfor i in range(20):\n"
           "    x = tanh(x * 0.9 + 0.05) * 0.99 + sin(x) * 0.01\nY = sum(x * x)\n")
    v = np.linspace(-1, 1, 300_000)
    p = Program(src)
    c = p.compiled({"v": v}, grad=True)
    value, grads = p.gradients({"v": v})
    bodies = [n.attrs["body"] for n in c.graph.nodes if n.op.name == "loop"]
    assert bodies and any(any(m.op.name == "fused" for m in b.graph.nodes) for b in bodies)
    ev, eg = Program(src, mode="eager").gradients({"v": v})
    np.testing.assert_allclose(value, ev, rtol=1e-12)
    np.testing.assert_allclose(grads["v"], eg["v"], rtol=1e-10, atol=1e-15)
    path = tmp_path / "big.cg"
    path.write_text(src)
    np.save(tmp_path / "v.npy", v)
    r = cli("grad", str(path), f"v=@{tmp_path / 'v.npy'}", "--explain")
    assert r.code == 0, r.stderr
    assert "ran fused" in r.stdout
