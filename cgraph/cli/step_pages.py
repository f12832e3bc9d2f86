"""`draw --steps`: the frames of a backward pass as drawings — one SVG per step in
a directory, or one self-contained HTML page (no network resources) with
previous / next / play buttons and the arrow keys.

Frame 0 is the forward pass (values, no gradients yet); frame k highlights
the node whose gradient step k finds, with the gradients known so far (the
steps are `grad --step`'s, cgraph/cli/stepper.py).
"""
from __future__ import annotations

import html
import os
import re


def step_drawings(result, feed: dict, digits: int, **draw_options) -> list:
    """[(caption, Drawing)] for the forward pass and every backward step."""
    from ..drawing import result_to_dot
    from .stepper import frames

    out, steps = frames(result, feed, digits)
    g = result.graph
    y = g.outputs.get(out, g.names.get(out))
    drawn = [(f"forward pass: {out} = {_value(out, result)}",
              result_to_dot(result, grad_ids={}, **draw_options))]
    known = {y} if y is not None else set()
    for f in steps:
        known.add(f.node)
        grads = {i: result.grad_ids[i] for i in known if i in result.grad_ids}
        caption = f"step {f.step}/{f.of}: {f.line}"
        drawn.append((caption, result_to_dot(result, grad_ids=grads, highlight=f.node,
                                             **draw_options)))
    return drawn


def _value(out, result) -> str:
    from .output import show_array

    return show_array(result.outputs[out])


def write_svgs(directory: str, drawn: list) -> list:
    """step-00.svg (the forward pass), step-01.svg ...: each written atomically."""
    from ..atomic import write_atomic
    from ..drawing import produce

    os.makedirs(directory, exist_ok=True)
    paths = []
    for k, (_, drawing) in enumerate(drawn):
        path = os.path.join(directory, f"step-{k:02d}.svg")
        write_atomic(path, produce(drawing, "svg"))
        paths.append(path)
    return paths


def html_page(title: str, drawn: list) -> str:
    """One page: every frame's SVG inline, one shown at a time."""
    from ..drawing import produce

    frames = []
    for k, (caption, drawing) in enumerate(drawn):
        svg = produce(drawing, "svg").decode("utf-8")
        svg = re.sub(r"^\s*<\?xml[^>]*>\s*", "", svg)
        svg = re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)
        frames.append(f'<figure class="frame" id="f{k}"{"" if k == 0 else " hidden"}>'
                      f"<figcaption>{html.escape(caption)}</figcaption>{svg}</figure>")
    return PAGE.format(title=html.escape(title), n=len(drawn), frames="\n".join(frames))


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
figcaption {{ font-family: monospace; white-space: pre-wrap; margin: .5em 0; }}
figure {{ margin: 0; }} svg {{ max-width: 100%; height: auto; }}
nav button {{ font-size: 1em; margin-right: .3em; }}
</style></head>
<body>
<h1>{title}</h1>
<nav><button id="prev">◀ previous</button><button id="play">▶ play</button>
<button id="next">next ▶</button> <span id="where">1 / {n}</span>
<small>(← → keys)</small></nav>
{frames}
<script>
(function () {{
  var k = 0, n = {n}, timer = null;
  function show(j) {{
    k = Math.max(0, Math.min(n - 1, j));
    for (var i = 0; i < n; i++) document.getElementById("f" + i).hidden = (i !== k);
    document.getElementById("where").textContent = (k + 1) + " / " + n;
  }}
  function stop() {{ if (timer) {{ clearInterval(timer); timer = null;
    document.getElementById("play").textContent = "▶ play"; }} }}
  document.getElementById("prev").onclick = function () {{ stop(); show(k - 1); }};
  document.getElementById("next").onclick = function () {{ stop(); show(k + 1); }};
  document.getElementById("play").onclick = function () {{
    if (timer) {{ stop(); return; }}
    this.textContent = "❚❚ pause";
    timer = setInterval(function () {{ if (k >= n - 1) stop(); else show(k + 1); }}, 1500);
  }};
  document.addEventListener("keydown", function (e) {{
    if (e.key === "ArrowRight") {{ stop(); show(k + 1); }}
    if (e.key === "ArrowLeft") {{ stop(); show(k - 1); }}
  }});
}})();
</script>
</body></html>
"""
