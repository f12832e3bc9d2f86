"""Notebooks: a compiled program and `cgraph.draw(...)` display as SVG in Jupyter
(`_repr_svg_`) with a readable repr; `cgraph.explain(...)` is text and data."""
from __future__ import annotations

import cgraph

SEED = "(a+b)*(b-c)"
VALUES = {"a": 2, "b": 3, "c": 4}


def test_a_drawing_displays_as_svg_and_saves(tmp_path):
    d = cgraph.draw(SEED, VALUES, backward=True)
    svg = d._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "-5" in svg
    assert repr(d).startswith("<cgraph.Drawing: ") and "nodes" in repr(d)
    d.save(str(tmp_path / "g.dot"))
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


def test_a_compiled_program_displays_as_its_graph():
    p = cgraph.compile("input x\nY = sin(x) * x", "m.cg")
    assert "<svg" in p._repr_svg_()
    assert repr(p) == "<cgraph.Program m.cg (static, float64): 2 statements; inputs x>"
    assert "<svg" in p.draw({"x": 1.0}, backward=True).svg()


def test_explain_is_text_and_data():
    e = cgraph.explain(SEED, VALUES)
    assert "∂Y/∂b = ∂Y/∂t1·∂t1/∂b + ∂Y/∂t2·∂t2/∂b" in str(e)
    values = {r["name"]: r["value"] for r in e.data["backward"]}
    assert values["a"] == "-1" and values["b"] == "4" and values["c"] == "-5"
    assert e.data["forward"][-1] == "Y = t1 × t2 = -5"
    assert repr(e).startswith("<cgraph.Explanation: 5 derivatives>")
