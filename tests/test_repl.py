"""`cgraph repl`: piped input (scripted sessions) and a real pseudo-terminal
(prompt_toolkit: completion, a block, an error, Ctrl-C, Ctrl-D, history across
two sessions)."""
from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time

import pytest

from cgraph.repl import Session, read_blocks

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r")
CGRAPH = os.path.join(os.path.dirname(sys.executable), "cgraph")


def piped(text: str, *args):
    return subprocess.run([CGRAPH, "repl", *args], input=text, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "NO_COLOR": "1"})


def test_statements_accumulate_and_print_their_values():
    r = piped("a = 2\nb = a * 3\nprint(b)\na + b\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["a = 2", "b = 6", "6", "8"]


def test_a_block_ends_at_a_blank_or_dedented_line():
    r = piped("a = 1\nfor i in range(3):\n    a = a * 2\n\na\ndef f(x):\n    return x + 1\nf(a)\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["a = 1", "8", "9"]


def test_an_error_is_a_diagnostic_and_the_session_goes_on():
    r = piped("a = 2\nsinn(a)\nb = a + 1\n")
    assert r.returncode == 1
    assert "<input>:1:1: name error: unknown function 'sinn'" in r.stderr
    assert "^^^^" in r.stderr and "did you mean 'sin'" in r.stderr
    assert r.stdout.splitlines() == ["a = 2", "b = 3"]
    assert "Traceback" not in r.stderr


def test_prints_of_earlier_statements_are_not_repeated():
    r = piped("a = 2\nprint(\"a is\", a)\nb = a + 1\nprint(b)\n")
    assert r.stdout.splitlines() == ["a = 2", "a is 2", "b = 3", "3"]


def test_commands_grad_explain_vars_save_load(tmp_path):
    saved = tmp_path / "s.cg"
    r = piped(f"a = 2\nb = a * 3\n:grad b\n:explain b\n:vars\n:save {saved}\n")
    assert r.returncode == 0, r.stderr
    assert "∂b/∂leaf" in r.stdout and "∂b/∂a = 3" in r.stdout
    assert re.search(r"^a\s+\[\]\s+2$", r.stdout, re.M)
    assert saved.read_text() == "a = 2\nb = a * 3\n"
    r = piped(f":load {saved}\nb + 1\n:draw {tmp_path / 'g.dot'}\n")
    assert r.returncode == 0, r.stderr
    assert "7" in r.stdout.splitlines() and (tmp_path / "g.dot").read_text().startswith("digraph")
    r = piped(":bogus\n:grad\n")
    assert r.returncode == 1 and "no command :bogus" in r.stderr


def test_read_blocks_and_session_directly():
    assert list(read_blocks(["if a > 0:\n", "    b = 1\n", "else:\n", "    b = 2\n", "c = 3\n"])) \
        == ["if a > 0:\n    b = 1\nelse:\n    b = 2\n", "c = 3\n"]
    s = Session()
    assert s.feed("x = [1, 2]").text == "x = [1, 2]\n"
    assert s.feed(":reset").text and s.script == []


# ------------------------------------------------------------ a real terminal
class Terminal:
    """`cgraph repl` on a pseudo-terminal: send keys, wait for text."""

    def __init__(self, env):
        import pty

        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([CGRAPH, "repl"], stdin=slave, stdout=slave, stderr=slave,
                                     env=env, close_fds=True)
        os.close(slave)
        self.seen = ""

    def read(self, seconds=0.3):
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    break
                self.seen += ANSI.sub("", data.decode("utf-8", "replace"))

    def expect(self, text, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if text in self.seen:
                return
            self.read(0.1)
        raise AssertionError(f"{text!r} not seen; the screen had:\n{self.seen[-2000:]}")

    def send(self, keys: str):
        os.write(self.master, keys.encode())
        time.sleep(0.15)

    def close(self):
        try:
            self.proc.wait(timeout=20)
        finally:
            os.close(self.master)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminals as on Linux")
def test_the_prompt_on_a_real_terminal(tmp_path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "TERM": "xterm",
           "PROMPT_TOOLKIT_NO_CPR": "1",
           "NO_COLOR": "1", "COLUMNS": "100", "LINES": "30"}
    t = Terminal(env)
    t.expect("cg>")
    t.send("a = 2\r")
    t.expect("a = 2")
    t.send("sigm\t")            # tab completion of a builtin
    t.send("(0)\r")
    t.expect("0.5")
    t.send("for i in range(3):\r")
    t.expect("...")
    t.send("    a = a + 1\r")
    t.send("\r")                # a blank line ends the block
    t.send("a\r")
    t.expect("5")
    t.send("sinn(a)\r")         # a wrong line: a diagnostic, and the session goes on
    t.expect("unknown function 'sinn'")
    t.send("b = 99")
    t.send("\x03")              # Ctrl-C drops the line
    t.send(":vars\r")
    t.expect("name")
    t.read(0.5)
    assert "b  " not in t.seen.split(":vars")[-1]
    t.send("\x04")              # Ctrl-D leaves
    t.close()
    assert t.proc.returncode == 0
    history = (tmp_path / "state" / "cgraph" / "history").read_text()
    assert ":vars" in history and "a = 2" in history
    t2 = Terminal(env)          # a second session remembers the first one's lines
    t2.expect("cg>")
    t2.send("\x1b[A")           # up arrow: the last line of the previous session
    t2.send("\r")
    t2.expect("name")
    t2.send("\x04")
    t2.close()


def test_a_line_that_is_not_utf8_is_one_error_and_the_session_goes_on():
    r = subprocess.run([CGRAPH, "repl"], input=b"a = 1\n\xff\xfe\nb = a + 1\n", capture_output=True,
                       timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode == 1
    assert r.stdout.decode().splitlines() == ["a = 1", "b = 2"]
    assert b"not valid UTF-8" in r.stderr and b"Traceback" not in r.stderr
