"""The CLI as a real process: pipes, terminals, stdin, Ctrl-C, the console script."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CGRAPH = [sys.executable, "-m", "cgraph"]
SCRIPT = Path(sys.executable).with_name("cgraph")
SEED = ["(a+b)*(b-c)", "a=2", "b=3", "c=4"]


def run(*args, stdin=None, env=None, cmd=CGRAPH):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(cmd + list(args), input=stdin, capture_output=True, text=True,
                          env=full_env, timeout=60)


def test_piped_output_has_no_ansi_codes():
    for args in (["grad", *SEED, "--explain"], ["eval", "log(x + (a+"], ["grad", "--help"],
                 ["eval", "x", "--bogus"], ["eval", "log(x)", "x=-1"]):
        r = run(*args)
        assert "\x1b[" not in r.stdout and "\x1b[" not in r.stderr, args
        assert "Traceback" not in r.stderr, args


def test_seed_json_and_exit_codes():
    r = run("grad", *SEED, "--json")
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    assert doc["value"] == -5.0
    assert {k: v["value"] for k, v in doc["gradients"].items()} == {"a": -1.0, "b": 4.0, "c": -5.0}
    assert run("eval", "missing.cg").returncode == 2
    assert run("eval", "x", "y=1").returncode == 1


def test_stdin_program():
    r = run("eval", "-", "--json", stdin="a = 2\nb = 3\nY = a * b\n")
    assert r.returncode == 0 and json.loads(r.stdout) == {"outputs": {"Y": {"value": 6.0, "shape": []}}}


@pytest.mark.skipif(not SCRIPT.exists(), reason="the console script is not installed")
def test_console_script():
    r = run("grad", *SEED, cmd=[str(SCRIPT)])
    assert r.returncode == 0 and r.stdout.startswith("Y = -5\n")
    r = run("--version", cmd=[str(SCRIPT)])
    assert r.returncode == 0 and r.stdout.startswith("cgraph ")


def test_ctrl_c_exits_130(tmp_path):
    prog = tmp_path / "forever.cg"
    prog.write_text("i = 0\nwhile i >= 0:\n    i = i + 1\n")
    p = subprocess.Popen(CGRAPH + ["eval", str(prog), "--mode", "eager",
                                   "--max-iterations", "1000000000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("no_color", [False, True])
def test_terminal_gets_rich_tables_unless_no_color(no_color):
    import pty  # noqa: F401  (Unix only)

    master, slave = os.openpty()
    env = dict(os.environ, COLUMNS="100", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    p = subprocess.Popen(CGRAPH + ["grad", *SEED], stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    p.wait(timeout=30)
    os.close(master)
    out = b"".join(chunks).decode("utf-8", "replace")
    assert p.returncode == 0
    assert "∂Y/∂leaf" in out and "-5" in out
    if no_color:
        assert "\x1b[" not in out
    else:
        assert "━" in out or "─" in out  # a Rich table
