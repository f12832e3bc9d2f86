"""The clean-source parse (`cgraph.parse_fast`) against the careful one.

`cgraph.parse` first parses in one tight loop and falls back to the careful,
diagnosing parse when that loop gives up. Both must give the same AST (spans
included) for every source the tight loop accepts, and the tight loop must give
up on every source with something to report.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from cgraph import parse as P
from cgraph.errors import CgraphError

from fuzz_strategies import hostile_sources
from strategies import programs

ROOT = Path(__file__).resolve().parent.parent

SNIPPETS = [
    "x = 1\n",
    "  x = 1\n  y = x\n",              # a base indentation
    "\n\n# c\nx = 1  # c\n\n",
    "input x\ny = (x +\n   2) * [1,\n 2][0]\n",
    "input x\nx = x \\\n  + 1\n",
    "input = 3\nparam = input\noutput = param\noutput output\n",
    "input x: [2, n]\nparam w: [n] = zeros([n])\nconst c = 2\noutput x\n",
    "def f(a, b,):\n    return a * b\ny = f(1, 2); z = y ^ -2 ** 3\n",
    "for i in range(3):\n    if i < 1:\n        x = 1\n    elif i == 2: x = 2\n    else:\n\tx = 3\n",
    "for i in range(3):\n    x = 1\n        \ny = 2",
    "while x > 0:\n  x -= 1\n  while x: x = x - 1\n",
    "x = a[1:2, :, ::2, 3].T\ny = 'a\\'b' + \"c\\n\"\nz = not true or false and x\n",
    "assert x > 0, \"positive\"\nprint(x, y)\n",
    "if x:\n    y = 1\n# end",
    "x = 1;",
    "x = é + ｘ\n",
    # with errors: the tight loop must give up, the careful one reports
    "x = (1\n", "x = 1)\n", "x = [1)\n", "x = 1 $ 2\n", "if x:\ny = 1\n",
    "x = 1\n  y = 2\n", "  x = 1\n y = 2\n", "def f(x, x): return x\n",
    "x = f(a=1, 2)\n", "x.t\n", "return 1\n", "x = = 1\n", "input\n", "\tx = 1\n        y = 1\n",
]


def _both(source: str):
    """(the parse as it is, the careful parse alone): an AST or the error text."""
    def one():
        try:
            return P.parse(source, "t.cg")
        except CgraphError as e:
            return ("error", str(e))

    fast = one()
    saved = P.parse_clean
    P.parse_clean = lambda *a: None
    try:
        careful = one()
    finally:
        P.parse_clean = saved
    return fast, careful


def _clean(source: str):
    text = P._normalise(source)
    P.CONTEXT.file, P.CONTEXT.diags = "t.cg", []
    try:
        return P.parse_clean(P._parser(), text + "\n", text), P.CONTEXT.diags
    finally:
        P.CONTEXT.diags = None


@pytest.mark.parametrize("source", SNIPPETS)
def test_snippets(source):
    fast, careful = _both(source)
    assert fast == careful
    body, diags = _clean(source)
    # an error the parse finds (not `return` outside a def, checked after it):
    # the tight loop gave up or a callback reported it
    if isinstance(careful, tuple) and "outside a function" not in careful[1]:
        assert body is None or diags


@pytest.mark.parametrize("path", sorted((ROOT / "examples").rglob("*.cg")), ids=lambda p: p.name)
def test_examples(path):
    source = path.read_text(encoding="utf-8")
    fast, careful = _both(source)
    assert fast == careful
    assert _clean(source)[0] is not None


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_random_programs(case):
    fast, careful = _both(case[0])
    assert fast == careful


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile_sources())
def test_hostile_sources(case):
    fast, careful = _both(case[0])
    assert fast == careful


def test_repeated_line_shapes_replay_to_the_same_ast():
    # each line shape is recorded once per stack and replayed after: at the top
    # level, inside blocks, after a dedent, with soft keywords in both roles
    block = "x = x * 1.01 + 0.5\ny = sin(x) + y\ninput = y - 1\n"
    source = ("input x\ny = 1\n" + block * 3
              + "def f(a):\n    " + block.replace("\n", "\n    ").rstrip() + "\n    return a\n"
              + "for i in range(3):\n    if i < 1:\n        " + block.replace("\n", "\n        ").rstrip()
              + "\n    " + block.replace("\n", "\n    ").rstrip() + "\n" + block * 2 + "output y\n")
    fast, careful = _both(source)
    assert fast == careful and not isinstance(fast, tuple)
    assert _clean(source)[0] is not None
    # a replayed line whose callback reports: the careful parse words it
    fast, careful = _both("x = a.t\ny = b.t\n")
    assert fast == careful and isinstance(fast, tuple) and fast[1].count("unknown attribute") == 2


def test_recorded_line_shapes_are_bounded(monkeypatch):
    from cgraph import parse_fast

    monkeypatch.setattr(parse_fast, "MAX_LINE_SHAPES", 10)
    source = "\n".join("x = " + "+".join(["a"] * k) for k in range(1, 40)) + "\n" + "y = 1\n" * 3
    fast, careful = _both(source)
    assert fast == careful and not isinstance(fast, tuple)
    assert 0 < len(P._parser().programs) <= 10
