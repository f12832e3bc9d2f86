"""Batch runs through loop nodes (issue 20): one loop over every row, its body
batched like any graph — values and gradients equal a run per row, and the
loop op no longer falls back to a per-row loop."""
from __future__ import annotations

import numpy as np
import pytest

from cgraph.batch import run_rows
from cgraph.program import Program

PROGRAMS = {
    "one scalar carry": "input x\nfor i in range(40):\n    x = sin(x) * 0.99 + 0.01 * i\nY = x\n",
    "two carries and a capture": ("input x\ninput w\ny = x\nfor i in range(30):\n"
                                  "    t = tanh(x * w) * 0.5\n    x = x * 0.9 + y * 0.05\n"
                                  "    y = t + 0.1\nY = x + y\n"),
    "a tensor carry": ("input x\nv = [x, x * 2, 1]\nfor i in range(25):\n"
                       "    v = sin(v) * 0.95 + [0.1, 0.2, 0.3]\nY = sum(v * v)\n"),
    "a shared matrix": ("input x\nparam W = [[0.5, 0.1], [-0.2, 0.4]]\nh = [x, 1 - x]\n"
                        "for i in range(20):\n    h = tanh(W @ h)\nY = sum(h)\n"),
    "nested loops": ("input x\nfor i in range(20):\n    for j in range(18):\n"
                     "        x = x * 0.99 + 0.001\n    x = sin(x)\nY = x\n"),
    "a row-free start": ("input x\ns = 0.5\nfor i in range(20):\n    s = s * 0.9 + x * 0.1\nY = s\n"),
}
ROWS = {"x": np.array([0.1, 0.5, -0.3, 1.2]), "w": np.array([1.0, -0.5, 2.0, 0.25])}


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_a_batched_loop_equals_a_run_per_row(name):
    src = PROGRAMS[name]
    p = Program(src)
    rows = {k: v for k, v in ROWS.items() if f"input {k}" in src}
    assert any(n.op.name == "loop" for n in p.build({k: 0.5 for k in rows}).nodes)
    r = run_rows(p, rows, grad=True)
    assert "loop" not in r.looped   # vectorised through the body, not a row at a time
    for k in range(len(ROWS["x"])):
        value, grads = p.gradients({n: float(v[k]) for n, v in rows.items()})
        np.testing.assert_allclose(r.outputs["Y"][k], value, rtol=1e-12, atol=1e-15)
        for n in rows:
            np.testing.assert_allclose(r.gradients[n][k], grads[n], rtol=1e-10, atol=1e-14)
    if "param W" in src:  # a shared leaf: the gradient of the sum over rows
        total = sum(p.gradients({"x": float(x)})[1]["W"] for x in ROWS["x"])
        np.testing.assert_allclose(r.shared_gradients["W"], total, rtol=1e-10)
