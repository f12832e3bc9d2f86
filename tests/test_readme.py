"""Every command shown in README.md runs, and prints what the README shows.

The README's conventions (also written in its "About this README" section):

- in a ```console block, a line starting with `$ ` is a command; it is run by
  `bash -c` with the repository's root as the working directory and
  `.venv/bin` first on PATH (the directory of this Python when there is no
  .venv), standard input empty, a timeout;
- the lines under a command, up to the next command or the end of the block,
  are its output: stdout and stderr together. Each shown line must appear in
  the real output, in the order shown (other real lines may come between),
  whitespace runs compared as one space. A shown line ending in `# …` is
  illustrative (machine-dependent digits) and is not compared; a line that is
  only `…` stands for lines left out;
- the command must exit 0, unless its shown output ends with the line
  `(exit status N)`;
- commands write files only under `out/` (ignored by git); this test creates
  it when missing and removes what it created;
- ```python blocks are run (in this process, in a fresh namespace, from the
  root); a block that imports a module that is not installed (the seed's
  PyTorch and TensorFlow listings) is skipped;
- the ```sh block of the set-up (`make demo`, `make test`) is NOT run: it
  builds the virtual environment this test runs in. Any other block language
  is not run either.
"""
from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
OUT = os.path.join(ROOT, "out")
TIMEOUT = 60  # seconds per command
EXIT_LINE = re.compile(r"^\(exit status (\d+)\)$")
FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass
class Block:
    lang: str
    line: int                      # 1-based line of the opening fence
    lines: list = field(default_factory=list)


@dataclass
class Command:
    cmd: str
    line: int
    expected: list = field(default_factory=list)   # output lines to find, in order
    status: int = 0


def read_blocks(path: str = README) -> list:
    blocks, cur = [], None
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            m = FENCE.match(line.strip()) if line.startswith("```") else None
            if cur is None:
                if m:
                    cur = Block(m.group(1), n)
            elif line.strip() == "```":
                blocks.append(cur)
                cur = None
            else:
                cur.lines.append(line)
    assert cur is None, f"README.md: the block opened at line {cur.line} is not closed"
    return blocks


def normalise(line: str) -> str:
    return " ".join(line.split())


def illustrative(line: str) -> bool:
    s = line.rstrip()
    return s.endswith("# …") or s.strip() == "…"


def commands(block: Block) -> list:
    cmds = []
    for i, line in enumerate(block.lines):
        if line.startswith("$ "):
            cmds.append(Command(line[2:].strip(), block.line + 1 + i))
        elif line.strip():
            assert cmds, f"README.md:{block.line + 1 + i}: output before any command"
            cmds[-1].expected.append(line)
    for c in cmds:
        if c.expected and EXIT_LINE.match(c.expected[-1].strip()):
            c.status = int(EXIT_LINE.match(c.expected.pop().strip()).group(1))
        c.expected = [normalise(x) for x in c.expected if not illustrative(x)]
    return cmds


def bin_dir() -> str:
    venv = os.path.join(ROOT, ".venv", "bin")
    return venv if os.path.exists(os.path.join(venv, "cgraph")) else os.path.dirname(sys.executable)


def environment() -> dict:
    env = dict(os.environ)
    for k in ("COLUMNS", "LINES", "FORCE_COLOR", "CLICOLOR_FORCE", "CGRAPH_DOT"):
        env.pop(k, None)
    env["PATH"] = bin_dir() + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"  # stdout and stderr interleave as on a terminal
    env["NO_COLOR"] = "1"
    return env


def find_in_order(expected: list, actual: list):
    """The first expected line not found (in order) in actual, or None."""
    i = 0
    for want in expected:
        while i < len(actual) and actual[i] != want:
            i += 1
        if i == len(actual):
            return want
        i += 1
    return None


BLOCKS = read_blocks()
CONSOLE = [b for b in BLOCKS if b.lang == "console"]
PYTHON = [b for b in BLOCKS if b.lang == "python"]


@pytest.fixture(scope="module")
def out_dir():
    """out/ exists while the README's commands run; what they made is removed after."""
    existed = os.path.isdir(OUT)
    before = set(os.listdir(OUT)) if existed else set()
    os.makedirs(OUT, exist_ok=True)
    yield OUT
    if not existed:
        shutil.rmtree(OUT, ignore_errors=True)
    else:
        for name in set(os.listdir(OUT)) - before:
            path = os.path.join(OUT, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)


# ---------------------------------------------------------------- the README
def test_readme_has_what_a_newcomer_needs():
    text = open(README, encoding="utf-8").read()
    cmds = [c for b in CONSOLE for c in commands(b)]
    assert len(cmds) >= 30, "the README's console blocks lost their commands?"
    # the first sections' facts
    for fact in ("make demo", "make test", "docs/seed.svg", "examples/seed.cg"):
        assert fact in text
    # the seed's gradients, and the tutorial's misprints named as such
    assert "∂Y/∂b : 4.0" in text and "∂Y/∂c : -5.0" in text
    assert re.search(r"misprint", text) and "`2.0` and `3.0`" in text
    for wrong in ("∂Y/∂b : 2.0", "∂Y/∂c : 3.0"):
        assert wrong not in text
    # the sh block with make demo / make test is there and is not run
    sh = [b for b in BLOCKS if b.lang == "sh"]
    assert any("make demo" in "\n".join(b.lines) for b in sh)
    assert not any("make " in c.cmd for c in cmds)
    # every module the "how it works" section promises exists
    for path in re.findall(r"`(cgraph/[\w/]+(?:\.py|/))`", text):
        assert os.path.exists(os.path.join(ROOT, path)), path


def test_the_readme_table_of_examples_lists_every_example():
    text = open(README, encoding="utf-8").read()
    for name in sorted(os.listdir(os.path.join(ROOT, "examples"))):
        if name.endswith(".cg"):
            assert f"`{name}`" in text, f"examples/{name} is missing from the README's table"


def run_command(c: Command, env: dict):
    r = subprocess.run(["bash", "-c", c.cmd], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT)
    return r.returncode, r.stdout.decode("utf-8", "replace")


def run_blocks(blocks: list) -> dict:
    """Run the blocks' commands, several blocks at a time (each block's commands
    in order): {block line: [(command, status, output), ...]}."""
    env = environment()

    def one(block):
        return block.line, [(c, *run_command(c, env)) for c in commands(block)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, blocks))


def check_block(results: list, doc: str = "README.md"):
    assert results, f"{doc}: a console block with no command"
    for c, status, got in results:
        where = f"{doc}:{c.line}: $ {c.cmd}\n--- it printed:\n{got}"
        assert status == c.status, f"exit status {status}, shown {c.status}\n{where}"
        assert "Traceback" not in got, where
        missing = find_in_order(c.expected, [normalise(x) for x in got.splitlines()])
        assert missing is None, f"shown line not printed (in order): {missing!r}\n{where}"


@pytest.fixture(scope="module")
def console_results(out_dir):
    return run_blocks(CONSOLE)


@pytest.mark.parametrize("block", CONSOLE, ids=[f"line{b.line}" for b in CONSOLE])
def test_console_block(block, console_results):
    check_block(console_results[block.line])


def _imports(src: str) -> set:
    names = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("block", PYTHON, ids=[f"line{b.line}" for b in PYTHON])
def test_python_block(block, monkeypatch):
    src = "\n".join(block.lines) + "\n"
    missing = sorted(m for m in _imports(src) if importlib.util.find_spec(m) is None)
    if missing:
        pytest.skip(f"README.md:{block.line} needs {', '.join(missing)} (not installed)")
    monkeypatch.chdir(ROOT)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(src, f"README.md:{block.line}", "exec"), {"__name__": "__readme__"})
    # the `# comments` after a print show what it prints: check the simple ones
    out = buf.getvalue()
    for line in block.lines:
        m = re.match(r"\s*print\(.*\)\s+#\s+(.+)$", line)
        if m and "then" not in m.group(1):
            assert normalise(m.group(1)) in normalise(out), (line, out)


def test_conventions_are_checked_by_this_file():
    """The parser of this test itself: commands, output, exit status, illustrative lines."""
    b = Block("console", 1, ["$ echo hi", "hi", "$ false", "(exit status 1)",
                             "$ printf 'a  b\\nx 1\\n'", "a b", "x 9   # …", "…"])
    cs = commands(b)
    assert [(c.cmd, c.expected, c.status) for c in cs] == [
        ("echo hi", ["hi"], 0), ("false", [], 1), ("printf 'a  b\\nx 1\\n'", ["a b"], 0)]
    assert find_in_order(["a", "c"], ["a", "b", "c"]) is None
    assert find_in_order(["c", "a"], ["a", "b", "c"]) == "a"
