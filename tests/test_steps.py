"""Stepping through the backward pass: `grad --step` piped and on a real
pseudo-terminal, and `draw --steps` as SVG files and one offline HTML page
(one frame per step, the seed's numbers in the right frames)."""
from __future__ import annotations

import html
import os
import re
import subprocess
import sys

import pytest

from cli_runner import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = os.path.join(ROOT, "examples", "seed.cg")


def test_grad_step_piped_prints_every_step_as_a_numbered_frame():
    r = cli("grad", SEED, "--step", env={"NO_COLOR": "1"})
    assert r.code == 0, r
    heads = re.findall(r"^step (\d)/5: ∂Y/∂(\w)$", r.stdout, re.M)
    assert heads == [("1", "d"), ("2", "e"), ("3", "a"), ("4", "b"), ("5", "c")]
    frames = r.stdout.split("step ")[1:]
    assert "backward: ∂Y/∂a = ∂Y/∂d·∂d/∂a = e·1 = e = -1·1 = -1" in frames[2]
    assert "known so far (4 of 5)" in frames[3] and "∂Y/∂b  = 4" in frames[3]
    assert "∂Y/∂c" not in frames[3].split("known so far")[1]
    r = cli("grad", SEED, "--step", "--json")
    steps = r.json["steps"]
    assert [s["name"] for s in steps] == ["d", "e", "a", "b", "c"]
    assert steps[-1]["known"] == {"d": "-1", "e": "5", "a": "-1", "b": "4", "c": "-5"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminals as on Linux")
def test_grad_step_on_a_terminal_goes_forward_back_and_quits():
    from test_repl import Terminal

    env = {**os.environ, "TERM": "xterm", "NO_COLOR": "1"}
    t = Terminal.__new__(Terminal)
    import pty

    t.master, slave = pty.openpty()
    t.proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "cgraph"), "grad",
                               SEED, "--step"], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    t.seen = ""
    t.expect("step 1/5: ∂Y/∂d")
    t.send("n")
    t.expect("step 2/5: ∂Y/∂e")
    t.send("\x1b[C")            # → arrow
    t.expect("step 3/5: ∂Y/∂a")
    t.seen = ""
    t.send("p")                 # back
    t.expect("step 2/5: ∂Y/∂e")
    t.send("q")
    t.close()
    assert t.proc.returncode == 0


def _frames(page: str) -> list:
    return [(html.unescape(cap), html.unescape(body)) for cap, body in
            re.findall(r'<figure class="frame" id="f\d+"[^>]*><figcaption>(.*?)</figcaption>(.*?)</figure>',
                       page, re.S)]


def test_draw_steps_writes_one_offline_page_with_a_frame_per_step(tmp_path):
    out = tmp_path / "steps.html"
    r = cli("draw", SEED, "--steps", "-o", out)
    assert r.code == 0, r
    page = out.read_text(encoding="utf-8")
    frames = _frames(page)
    assert len(frames) == 6                      # the forward pass, then 5 backward steps
    assert frames[0][0] == "forward pass: Y = -5" and "grad" not in frames[0][1]
    grads = [re.findall(r"grad (-?\d+)", body) for _, body in frames]
    assert frames[3][0].endswith("= -1") and "-1" in grads[3] and "-5" not in grads[3]
    assert frames[4][0].endswith("= 4") and "4" in grads[4]
    assert frames[5][0].endswith("= -5") and "-5" in grads[5]
    # offline: nothing is fetched
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "<script src" not in page
    assert "ArrowRight" in page and 'id="play"' in page


def test_draw_steps_into_a_directory_of_svgs(tmp_path):
    r = cli("draw", SEED, "--steps", "-o", str(tmp_path / "frames") + "/")
    assert r.code == 0, r
    names = sorted(os.listdir(tmp_path / "frames"))
    assert names == [f"step-{k:02d}.svg" for k in range(6)]
    assert (tmp_path / "frames" / "step-05.svg").read_text().count("grad") >= 6
    r = cli("draw", SEED, "--steps", "-o", tmp_path / "x.svg")
    assert r.code == 2 and "DIR/" in r.stderr
