"""`grad --step`: the backward pass one node at a time (the frames come from
`explain.Explainer`, so the numbers are the --explain ledger's).

`frames(result, feed, digits)` gives one frame per backward step: the node and
how the forward pass computed it, its chain-rule line (chain, local
derivative, numbers, value) and the table of ∂Y/∂node known so far.
`step_through(printer, frames)` shows them: on a terminal one at a time, with
→/n/space/Enter forward, ←/p/b back, q/Esc quit; otherwise every frame,
numbered, one after the other (so it can be piped and tested). The drawings of
`draw --steps` use the same frames (cgraph/cli/step_pages.py).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field


@dataclass
class Frame:
    step: int                 # 1-based
    of: int                   # number of backward steps
    node: int                 # graph node id of the node whose gradient is found here
    name: str                 # its label (a, t1, h)
    computed: str             # how the forward pass made it: `t1 = a + b = 5`
    line: str                 # ∂Y/∂t1 = ... = value
    known: list = field(default_factory=list)   # [(label, value text)] up to this step

    def text(self, out: str) -> str:
        head = f"step {self.step}/{self.of}: ∂{out}/∂{self.name}"
        rows = [head, "─" * len(head)]
        if self.computed:
            rows.append(f"forward:  {self.computed}")
        rows.append(f"backward: {self.line}")
        rows.append("")
        width = max(len(f"∂{out}/∂{n}") for n, _ in self.known)
        rows.append(f"known so far ({len(self.known)} of {self.of}):")
        rows += [f"  {('∂' + out + '/∂' + n).ljust(width)}  = {v}" for n, v in self.known]
        return "\n".join(rows)


def frames(result, feed: dict, digits: int = 6) -> tuple[str, list]:
    """(the output's name, the frames of its backward pass)."""
    from .explain import Explainer

    ex = Explainer(result, feed, digits)
    out = ex.out_name
    forward = {}
    for i in range(ex.y + 1):
        node = ex.g.nodes[i]
        if node.op.name not in ("input", "leaf"):
            forward[i] = f"{ex.label(i)} = {ex.op_text(i)} = {ex.show(ex.values[i])}"
        else:
            forward[i] = f"{ex.label(i)} = {ex.show(ex.values[i])} ({'input' if node.op.name == 'input' else 'leaf'})"
    lines = ex.lines()
    known: list = []
    out_frames = []
    for k, line in enumerate(lines, start=1):
        known = known + [(line.name, line.value)]
        out_frames.append(Frame(k, len(lines), line.node, line.name, forward.get(line.node, ""),
                                line.text(out), list(known)))
    return out, out_frames


def step_through(printer, out: str, frames_: list) -> None:
    if not frames_:
        printer.line(f"({out} depends on no leaf: there is no backward pass to step through)")
        return
    if sys.stdin.isatty() and sys.stdout.isatty() and not printer.json:
        _interactive(out, frames_)
        return
    for f in frames_:
        printer.line(f.text(out))
        printer.line()


KEYS_FORWARD = ("n", " ", "\r", "\n", "\x1b[C", "j", "l")
KEYS_BACK = ("p", "b", "\x1b[D", "k", "h")
KEYS_QUIT = ("q", "\x1b", "\x03", "\x04")


def _interactive(out: str, frames_: list) -> None:
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    k = 0
    try:
        tty.setcbreak(fd)
        while True:
            sys.stdout.write("\x1b[2J\x1b[H" + frames_[k].text(out).replace("\n", "\r\n")
                             + "\r\n\r\n→/n next   ←/p back   q quit\r\n")
            sys.stdout.flush()
            key = _key(fd)
            if key in KEYS_QUIT:
                break
            if key in KEYS_FORWARD:
                if k == len(frames_) - 1:
                    break
                k += 1
            elif key in KEYS_BACK:
                k = max(0, k - 1)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        sys.stdout.write("\n")


def _key(fd) -> str:
    """One key press (an arrow key's escape sequence as one string)."""
    import select

    ch = os.read(fd, 1).decode("utf-8", "replace")
    if ch == "\x1b":
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            ch += os.read(fd, 2).decode("utf-8", "replace")
    return ch
