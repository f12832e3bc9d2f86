"""`cgraph draw`: DOT text, rendering through graphviz-pure, safety, determinism.

CI has no system Graphviz: every rendering test here forces the
`graphviz-pure` binary the package installs (through CGRAPH_DOT), so what CI
checks is what a plain `pip install` gives. Regenerate the golden DOT with
`CGRAPH_REGEN_GOLDEN=1 pytest tests/test_draw.py` (then review the diff).
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from cgraph import CgraphError
from cgraph import render
from cgraph.draw_program import draw_program, draw_to_file
from cgraph.drawing import (fmt_value, format_of, html_text, produce,
                         svg_digest)

ROOT = Path(__file__).resolve().parent.parent
SEED_PATH = ROOT / "examples" / "seed.cg"
GOLDEN = Path(__file__).resolve().parent / "golden" / "seed.dot"
SVG = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

HOSTILE = '''θ = 2
α1 = 3
def ƒ(x): return x * θ
y = ƒ(α1) / 2
print("<b>bold</b> & \\"q\\" ]]> <!-- c --> \\\\N", y)
assert y > 0, "a<b> & </table> \\\\G"
Y = y + 1
'''


def _graphviz_pure() -> str:
    found = shutil.which("graphviz-pure")
    if not found:
        for d in render._scripts_dirs():
            found = shutil.which("graphviz-pure", path=d)
            if found:
                break
    assert found, "graphviz-pure is not installed: it is a dependency of cgraph (pyproject.toml)"
    return found


@pytest.fixture
def pure(monkeypatch):
    """Render with graphviz-pure, whatever else is installed."""
    path = _graphviz_pure()
    monkeypatch.setenv("CGRAPH_DOT", path)
    return path


def seed_drawing(**kw):
    return draw_program(SEED_PATH.read_text(encoding="utf-8"), str(SEED_PATH), **kw)


def svg_texts(data: bytes) -> list:
    root = ET.fromstring(data)
    return ["".join(t.itertext()).replace("\u200b", "") for t in root.iter(SVG + "text")]


def svg_groups(data: bytes, cls: str) -> list:
    return [g for g in ET.fromstring(data).iter(SVG + "g") if g.get("class") == cls]


def node_labels(dot: str) -> dict:
    """DOT node id -> its label, for the nodes (not the graph or the clusters)."""
    return dict(re.findall(r"^\s*(n\d+|g\d+) \[.*label=<(.*)>\];$", dot, re.M))


# ------------------------------------------------------------------- DOT
def test_seed_dot_golden():
    dot = seed_drawing().dot
    if os.environ.get("CGRAPH_REGEN_GOLDEN"):
        GOLDEN.write_text(dot, encoding="utf-8", newline="\n")
    assert dot == GOLDEN.read_text(encoding="utf-8"), \
        "the seed's DOT changed; if on purpose, regenerate with CGRAPH_REGEN_GOLDEN=1 and review"


def test_seed_dot_contents():
    d = seed_drawing()
    labels = node_labels(d.dot)
    assert len(labels) == 6 and d.nodes == 6 and d.edges == 6
    text = " ".join(labels.values())
    for name in "abcdeY":
        assert f"<b>{name}</b>" in text
    for v in ("data 2", "data 3", "data 4", "data 5", "data -1", "data -5"):
        assert v in text
    for g in ("grad -1", "grad 4", "grad -5", "grad 5", "grad 1"):
        assert g in text
    for sym in ("+", "−", "×"):
        assert sym in text
    # leaves and ops look different (shape and colour), and the output stands out
    assert re.search(r"n1 \[shape=cylinder", d.dot) and re.search(r"n6 \[shape=box, style=\"rounded", d.dot)
    assert "penwidth=2" in d.dot and "leaf (param or constant binding)" in d.dot  # legend


def test_dot_is_deterministic_across_processes():
    code = ("import sys; from cgraph.draw_program import draw_program; "
            "sys.stdout.write(draw_program(open(sys.argv[1]).read(), sys.argv[1], backward=True).dot)")
    outs = set()
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed, PYTHONPATH=str(ROOT))
        outs.add(subprocess.run([sys.executable, "-c", code, str(SEED_PATH)], env=env, check=True,
                                capture_output=True, text=True).stdout)
    assert len(outs) == 1
    assert outs.pop() == seed_drawing(backward=True).dot


def test_backward_cluster_and_local_derivatives():
    d = seed_drawing(backward=True)
    assert "subgraph cluster_forward" in d.dot and "subgraph cluster_backward" in d.dot
    # Y = d * e: ∂Y/∂d = e and ∂Y/∂e = d label the forward edges; c -> e (b - c) is -1
    assert re.search(r"n6 -> n8 \[label=<<font[^>]*>e</font>>\]", d.dot)
    assert re.search(r"n7 -> n8 \[label=<<font[^>]*>d</font>>\]", d.dot)
    assert re.search(r"n5 -> n7 \[label=<<font[^>]*>-1</font>>\]", d.dot)
    assert "∂Y/∂c" in d.dot and "∂Y/∂b" in d.dot
    bwd = d.dot.split("subgraph cluster_backward", 1)[1].split("\n  }\n", 1)[0]
    assert "#fbdde0" in bwd  # gradient ops have their own colour
    assert d.nodes > 6


def test_function_calls_are_clusters():
    src = "def sq(x): return x * x\ndef f(x):\n    y = sq(x) + 1\n    return sq(y)\na = 2\nY = f(a) + f(a + 1)\n"
    d = draw_program(src, "calls.cg")
    clusters = re.findall(r"subgraph (cluster_call_\d+) \{\n\s*label=<<b>(\w+)\(\)</b>", d.dot)
    assert [name for _, name in clusters].count("f") == 2
    assert [name for _, name in clusters].count("sq") == 4
    assert len({c for c, _ in clusters}) == 6


def test_tensors_show_shape_and_summary():
    src = "input x: [4, 3]\nparam W = randn([3, 2], seed=1)\nloss = mean(tanh(x @ W) ^ 2)\n"
    x = np.arange(12.0).reshape(4, 3) / 10
    d = draw_program(src, "t.cg", {"x": x})
    assert "[4, 3]" in d.dot and "[3, 2]" in d.dot and "[4, 2]" in d.dot
    assert "data mean" in d.dot and "norm" in d.dot and "grad mean" in d.dot
    assert fmt_value(np.array([1.0, -2.5])) == "[1, -2.5]"
    assert fmt_value(np.array(3.0)) == "3" and fmt_value(np.array(-0.0)) == "0"
    assert fmt_value(np.array([True, False, True, True, False])) == "3 of 5 true"


def test_structure_only_without_values():
    d = draw_program("input x: [3]\nY = sum(x * 2)\n", "s.cg")
    assert any("structure only" in n for n in d.notes)
    assert "data " not in d.dot and "[3]" in d.dot


def test_eager_mode_draws_the_path_taken():
    src = "x = 1.0\nwhile x < 100:\n    x = x * 1.7 + 1\nY = x\n"
    d = draw_program(src, "w.cg", mode="eager")
    muls = re.findall(r"<font point-size=\"14\">×</font>", d.dot)
    x, trips = 1.0, 0
    while x < 100:
        x, trips = x * 1.7 + 1, trips + 1
    assert len(muls) == trips == 8  # one × per trip actually taken
    assert any("eager" in n for n in d.notes)


def test_optimized_draws_the_optimised_graph_and_says_so():
    src = "input x: [3]\ny = x * 1 + 0\nz = exp(x) + exp(x)\nY = sum(y + z)\n"
    plain = draw_program(src, "o.cg", {"x": [1.0, 2.0, 3.0]})
    opt = draw_program(src, "o.cg", {"x": [1.0, 2.0, 3.0]}, optimized=True)
    assert any("optimised" in n for n in opt.notes) and not plain.notes
    assert opt.nodes < plain.nodes  # x * 1 + 0 and the second exp(x) are gone
    assert "Y = 66.39" in opt.dot and "Y = 66.39" in plain.dot  # 6 + 2(e + e² + e³)
    # x's gradient is the true one, 1 + 2·exp(x), not that of x * 1 + 0, which became x;
    # the two exp(x) merged into one node, whose gradient no original had: none is shown
    assert "grad [6.437, 15.78, 41.17]" in opt.dot
    assert opt.dot.count("grad [") == 3 and opt.dot.count("grad [1, 1, 1]") == 2


# -------------------------------------------------------------- big graphs
LOOP = "w = 1.5\nx = 0.3\nfor i in range(16):\n    x = tanh(w * x + 0.1)\nY = x * x\n"


def test_an_unrolled_loop_collapses_to_iterations():
    # 16 iterations: short enough to be unrolled, so drawn as the copies it is
    d = draw_program(LOOP, "loop.cg", max_nodes=40)
    assert d.nodes <= 40
    assert "× 15 more iterations" in d.dot
    assert any("collapsed" in n for n in d.notes)
    small = draw_program(LOOP, "loop.cg", max_nodes=6)
    assert small.nodes <= 6 and "× 16 iterations" in small.dot
    full = draw_program(LOOP, "loop.cg", max_nodes=1000)
    assert full.nodes == 67 and "iterations" not in full.dot


def test_a_loop_node_is_one_box_with_its_trip_count():
    src = LOOP.replace("range(16)", "range(10000)")
    d = draw_program(src, "loop.cg", backward=True)
    assert d.nodes < 24  # not 10,000 iterations, nor a collapsed chain of them
    assert "loop: 10,000 iterations of a" in d.dot
    assert "reverse loop: 10,000 iterations" in d.dot


def test_any_budget_is_met_with_backward():
    src = ("param W = randn([3, 3], seed=1)\ninput x: [3]\ndef cell(h, x):\n    return tanh(W @ h + x)\n"
           "h = zeros([3])\nfor t in range(20):\n    h = cell(h, x)\n    for k in range(3):\n"
           "        h = h * 0.9\nloss = sum(h ^ 2)\n")
    for n in (3, 10, 40, 120):
        d = draw_program(src, "big.cg", {"x": [1.0, 2.0, 3.0]}, backward=True, max_nodes=n)
        assert d.nodes <= n, (n, d.nodes)
        assert len(node_labels(d.dot)) == d.nodes


STRAIGHT = "input x\nv0 = sin(x) + x\n" + "".join(f"v{i} = sin(v{i - 1}) * {i} + x\n" for i in range(1, 80))


@pytest.mark.parametrize("example", ["mlp.cg", "attention.cg", None])
@pytest.mark.parametrize("backward", [False, True])
def test_small_budgets_collapse_without_a_backward_part(example, backward):
    """Issue 18: --max-nodes 2, 5, 8 … crashed (range() step 0) when one part was empty."""
    src = (Path(__file__).parent.parent / "examples" / example).read_text() if example else STRAIGHT
    for n in (1, 2, 5, 8, 10, 25, 50):
        d = draw_program(src, example or "straight.cg", backward=backward, max_nodes=n)
        assert d.nodes <= max(n, 2), (n, d.nodes)
        assert len(node_labels(d.dot)) == d.nodes


def test_calls_collapse_to_one_node_per_call():
    src = "def f(x):\n    y = x * 2 + 1\n    return tanh(y) * y\na = 1\nb = f(a)\nc = f(b)\nY = f(c) + b\n"
    d = draw_program(src, "c.cg", max_nodes=8)
    assert d.nodes <= 8
    assert "f()" in d.dot and "call · " in d.dot


# ------------------------------------------------------------------ safety
def test_escaping_helpers():
    assert html_text('"a<b>&') == "&quot;a&lt;b&gt;&amp;"
    assert "<" not in html_text("</table><b>") and "\n" not in html_text("a\nb")
    assert html_text("\\N") == "\\\u200bN"  # a backslash can never start a renderer escape
    assert len(html_text("x" * 500)) < 60


def test_hostile_names_and_strings(tmp_path, pure):
    prog = tmp_path / '"a<b> & \\N.cg'
    prog.write_text(HOSTILE, encoding="utf-8")
    out = tmp_path / "h.svg"
    draw_to_file(str(prog), str(out), backward=True)
    data = out.read_bytes()
    root = ET.fromstring(data)  # well-formed XML
    tags = {e.tag for e in root.iter()}
    assert not any(t.endswith("}b") or t.endswith("}table") for t in tags)  # no injected markup
    text = "\n".join(svg_texts(data))
    assert "θ" in text and "α1" in text and "ƒ()" in text
    assert '"a<b> & \\N.cg' in text                     # the file name, as text
    assert '<b>bold</b> & "q" ]]> <!-- c' in text       # print's string, as text
    assert 'a<b> & </table> \\G' in text                # assert's message, as text
    # and no label of the DOT holds raw user markup (tooltips are quoted strings)
    labels = node_labels(draw_program(HOSTILE, str(prog)).dot).values()
    assert not any("<b>bold" in lab or "</table> &" in lab for lab in labels)
    assert any("&lt;b&gt;bold" in lab for lab in labels)


def test_hostile_png_renders(tmp_path, pure):
    prog = tmp_path / "h.cg"
    prog.write_text(HOSTILE, encoding="utf-8")
    out = tmp_path / "h.png"
    draw_to_file(str(prog), str(out))
    assert out.read_bytes().startswith(PNG_MAGIC)


# --------------------------------------------------------------- rendering
def test_seed_svg(tmp_path, pure):
    out = tmp_path / "seed.svg"
    draw_to_file(str(SEED_PATH), str(out))
    data = out.read_bytes()
    assert len(svg_groups(data, "node")) == 6 and len(svg_groups(data, "edge")) == 6
    texts = svg_texts(data)
    for want in ("data -5", "grad -1", "grad 4", "grad -5", "data 2", "Y = -5"):
        assert any(want in t for t in texts), want
    assert svg_digest(data) == seed_drawing(title="seed.cg").digest


def test_seed_png_and_dot(tmp_path, pure):
    png, dot = tmp_path / "seed.png", tmp_path / "seed.gv"
    draw_to_file(str(SEED_PATH), str(png))
    draw_to_file(str(SEED_PATH), str(dot))
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert dot.read_text(encoding="utf-8") == GOLDEN.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed.gv", "seed.png"]  # nothing stray


def test_docs_seed_svg_is_current(pure):
    """docs/seed.svg (shown by the README) is what `draw_to_file(seed)` draws today."""
    committed = ROOT / "docs" / "seed.svg"
    assert committed.exists(), "docs/seed.svg is missing: run `make demo`"
    data = committed.read_bytes()
    d = seed_drawing(title="seed.cg")
    assert svg_digest(data) == d.digest, "docs/seed.svg is stale: run `make demo`"
    if b"(graphviz-pure)" in data:  # made by the same renderer as here: byte for byte
        assert produce(d, "svg") == data, "docs/seed.svg is stale: run `make demo`"


def test_format_from_flag_and_suffix():
    assert format_of("x.svg", None) == "svg" and format_of("x.PNG", None) == "png"
    assert format_of("x.gv", None) == "dot" and format_of("-", None) == "dot"
    assert format_of("x.out", "png") == "png" and format_of("noext", None) == "svg"
    with pytest.raises(CgraphError, match="does not match"):  # issue 18: a PNG in a .svg file
        format_of("x.svg", "png")
    with pytest.raises(CgraphError) as e:
        format_of("x.pdf", None)
    assert e.value.kind == "usage" and "--format" in e.value.hint


# --------------------------------------------------------- renderer discovery
def _fake_dot(directory: Path, name: str, svg_marker: str, fail: bool = False) -> Path:
    p = directory / name
    if fail:
        body = "#!/bin/sh\ncat >/dev/null\necho 'Error: syntax error in line 3' >&2\nexit 3\n"
    else:
        body = (f"#!/bin/sh\ncat >/dev/null\necho 'Warning: no value for width of non-ASCII "
                f"character 206. Falling back' >&2\n"
                f"printf '<?xml version=\"1.0\"?>\\n<svg xmlns=\"http://www.w3.org/2000/svg\">"
                f"<text>{svg_marker}</text></svg>\\n'\n")
    p.write_text(body)
    p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return p


posix_only = pytest.mark.skipif(os.name != "posix", reason="fake renderers are shell scripts")


@posix_only
def test_cgraph_dot_override_wins(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _fake_dot(bindir, "dot", "from-path")
    mine = _fake_dot(tmp_path, "my-dot", "from-env")
    r = render.find_renderer({"PATH": str(bindir), "CGRAPH_DOT": str(mine)})
    assert r.path == str(mine) and r.source == "CGRAPH_DOT"
    data, warnings = render.render("digraph { a }", "svg", r)
    assert b"from-env" in data and warnings == []  # the width warning is filtered


@posix_only
def test_dot_on_path_before_graphviz_pure(tmp_path):
    _fake_dot(tmp_path, "dot", "from-path")
    r = render.find_renderer({"PATH": str(tmp_path)})
    assert r.source == "PATH" and r.path == str(tmp_path / "dot")


def test_graphviz_pure_beside_the_interpreter(tmp_path):
    r = render.find_renderer({"PATH": str(tmp_path)})  # nothing on PATH: an unactivated venv
    assert r is not None and r.source == "graphviz-pure"
    assert os.path.basename(r.path).startswith("graphviz-pure")


def test_no_renderer_is_a_clean_error(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "_scripts_dirs", lambda: [])
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CGRAPH_DOT", raising=False)
    assert render.find_renderer() is None
    with pytest.raises(CgraphError) as e:
        draw_to_file(str(SEED_PATH), str(tmp_path / "seed.svg"))
    assert "renderer" in e.value.message and "--format dot" in e.value.hint
    assert list(tmp_path.iterdir()) == []            # nothing written, nothing stray
    draw_to_file(str(SEED_PATH), str(tmp_path / "seed.dot"))  # DOT needs no renderer
    assert [p.name for p in tmp_path.iterdir()] == ["seed.dot"]


def test_bad_override_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CGRAPH_DOT", str(tmp_path / "nope"))
    with pytest.raises(CgraphError) as e:
        render.find_renderer()
    assert "CGRAPH_DOT" in e.value.message


@posix_only
def test_failing_renderer_leaves_nothing(tmp_path, monkeypatch):
    bad = _fake_dot(tmp_path, "bad-dot", "", fail=True)
    monkeypatch.setenv("CGRAPH_DOT", str(bad))
    out = tmp_path / "out"
    out.mkdir()
    (out / "seed.svg").write_bytes(b"old")
    with pytest.raises(CgraphError) as e:
        draw_to_file(str(SEED_PATH), str(out / "seed.svg"))
    assert "syntax error in line 3" in e.value.message
    assert [p.name for p in out.iterdir()] == ["seed.svg"] and (out / "seed.svg").read_bytes() == b"old"


def test_write_atomic_replaces_whole_file(tmp_path):
    from cgraph.atomic import write_atomic

    p = tmp_path / "f.dot"
    write_atomic(str(p), b"one")
    write_atomic(str(p), b"two")
    assert p.read_bytes() == b"two" and [x.name for x in tmp_path.iterdir()] == ["f.dot"]
    with pytest.raises(CgraphError) as e:
        write_atomic(str(tmp_path / "no" / "f.dot"), b"x")
    assert e.value.kind == "usage"


# -------------------------------------------------------------------- CLI
def cgraph(*args, env=None):
    e = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
             NO_COLOR="1", CGRAPH_DOT=_graphviz_pure())
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "cgraph", *args], capture_output=True, env=e,
                          cwd=ROOT)


def test_cli_stdout_dot_and_svg():
    r = cgraph("draw", "(a+b)*(b-c)", "a=2", "b=3", "c=4", "-o", "-")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"digraph cgraph {") and b"grad -5" in r.stdout
    r = cgraph("draw", "examples/seed.cg", "-o", "-", "--format", "svg", "--rankdir", "TB")
    assert r.returncode == 0, r.stderr
    assert "data -5" in svg_texts(r.stdout) and b"rankdir" not in r.stdout


def test_cli_writes_files_and_flags(tmp_path):
    out = tmp_path / "g.png"
    r = cgraph("draw", "examples/seed.cg", "-o", str(out), "--backward", "--max-nodes", "50")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().startswith(PNG_MAGIC) and b"wrote" in r.stderr
    r = cgraph("draw", "examples/seed.cg", "-o", str(tmp_path / "g.dot"), "--quiet")
    assert r.returncode == 0 and r.stderr == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.dot", "g.png"]


def test_cli_errors(tmp_path):
    r = cgraph("draw", "examples/seed.cg", "-o", str(tmp_path / "g.pdf"))
    assert r.returncode == 2 and b"--format" in r.stderr
    r = cgraph("draw", "examples/seed.cg", "-o", str(tmp_path / "missing" / "g.svg"))
    assert r.returncode == 2 and b"does not exist" in r.stderr
    r = cgraph("draw", "examples/seed.cg", "-o", str(tmp_path / "g.svg"), env={"CGRAPH_DOT": "/nonexistent/dot"})
    assert r.returncode == 1 and b"CGRAPH_DOT" in r.stderr and b"Traceback" not in r.stderr
    r = cgraph("draw", "y = x +", "-o", "-")
    assert r.returncode == 1 and r.stdout == b""
    assert list(tmp_path.iterdir()) == []


def test_backward_labels_name_unnamed_values_by_their_text():
    """Issue 18: ∂loss/∂%47 said nothing; an unnamed value is referred to by its source text."""
    src = (Path(__file__).parent.parent / "examples" / "mlp.cg").read_text()
    d = draw_program(src, "mlp.cg", backward=True)
    assert "∂loss/∂(h @ W2)" in d.dot


# ------------------------------------------------ issue 18, second stop
def test_a_named_constant_shows_its_name(tmp_path):
    from cli_runner import cli

    src = tmp_path / "c.cg"
    src.write_text("const k = 3\ninput x\nY = k * x + 2\n")
    out = cli("draw", src, "x=1", "-o", "-", "--format", "dot")
    assert out.code == 0 and "label=<<b>k</b> = 3>" in out.stdout, out


def test_a_long_straight_script_collapses_to_a_readable_picture_by_default(tmp_path):
    """80 lines in a chain: at most ~30 ranks drawn; the collapsed nodes name the
    variables they compute and the value they end on; --max-nodes still rules."""
    from cli_runner import cli

    lines = ["input x", "a0 = sin(x) + x"] + [f"a{i} = tanh(a{i - 1}) * 0.5 + x" for i in range(1, 80)]
    src = tmp_path / "straight.cg"
    src.write_text("\n".join(lines + ["Y = a79"]) + "\n")
    out = cli("draw", src, "x=0.3", "-o", tmp_path / "s.dot", "--json")
    assert out.code == 0, out
    assert out.json["nodes"] <= 35 and "a long chain" in " ".join(out.json["notes"])
    dot = (tmp_path / "s.dot").read_text()
    assert "<b>a2 … a4</b>" in dot or "a2 …" in dot
    assert "a4 = 0.5" in dot
    out = cli("draw", src, "x=0.3", "-o", tmp_path / "t.dot", "--json", "--max-nodes", "200")
    assert out.json["nodes"] > 35
