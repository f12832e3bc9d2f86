"""The reference docs stay true.

- docs/builtins.md is a hand-written header, a marker line, then exactly what
  `cgraph ops --markdown` prints. The test fails when the table is stale (an op
  added, a doc or derivative changed). Regenerate it with

      .venv/bin/python tests/test_docs.py --update

  which keeps the header and rewrites everything after the marker.
- docs/language.md: every command of its ```console blocks runs and prints
  what is shown (the README's conventions, tests/test_readme.py), and every
  ```cg program listing builds and runs (`cgraph eval -`, in eager mode when
  the listing has a `# mode: eager` line, with the NAME=VALUE words of a
  `# run with: ...` line; a listing whose first line is `# error` must fail
  with exit status 1 instead).
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import test_readme as R  # noqa: E402  (the README's block parser and conventions)

ROOT = R.ROOT
BUILTINS = os.path.join(ROOT, "docs", "builtins.md")
LANGUAGE = os.path.join(ROOT, "docs", "language.md")
MARKER = "<!-- everything below is `cgraph ops --markdown`: regenerate with `python tests/test_docs.py --update` -->"


def ops_markdown() -> str:
    r = subprocess.run(["cgraph", "ops", "--markdown"], cwd=ROOT, env=R.environment(),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode("utf-8")


def split_builtins(text: str):
    head, sep, table = text.partition(MARKER + "\n")
    assert sep, f"docs/builtins.md lost its marker line:\n{MARKER}"
    return head, table


def update() -> None:
    with open(BUILTINS, encoding="utf-8") as f:
        head, _ = split_builtins(f.read())
    with open(BUILTINS, "w", encoding="utf-8") as f:
        f.write(head + MARKER + "\n" + ops_markdown())


# ------------------------------------------------------------ docs/builtins.md
def test_builtins_table_is_what_cgraph_ops_prints():
    with open(BUILTINS, encoding="utf-8") as f:
        head, table = split_builtins(f.read())
    assert table == ops_markdown(), (
        "docs/builtins.md is stale: regenerate it with `python tests/test_docs.py --update`")
    assert head.startswith("# ")


def test_builtins_table_lists_the_contract_builtins():
    with open(BUILTINS, encoding="utf-8") as f:
        _, table = split_builtins(f.read())
    names = set(re.findall(r"^\| [\w ]+ \| `(\w+)`", table, re.MULTILINE))
    for op in ("sin", "relu", "gelu", "clip", "where", "logsumexp", "norm", "det", "inv", "solve",
               "einsum", "softmax", "cross_entropy", "randn", "load", "grad", "hessian"):
        assert op in names, op


# ------------------------------------------------------------ docs/language.md
LANG_BLOCKS = R.read_blocks(LANGUAGE)
LANG_CONSOLE = [b for b in LANG_BLOCKS if b.lang == "console"]
LANG_CG = [b for b in LANG_BLOCKS if b.lang == "cg"]


def test_language_doc_covers_the_topics():
    with open(LANGUAGE, encoding="utf-8") as f:
        text = f.read()
    for topic in ("## Statements", "## Expressions", "precedence", "broadcast", "float32",
                  "## Derivatives", "## Static and eager", "## Errors", "# mode: eager",
                  "relu'(0) = 0", "cross_entropy", "gelu", "ddof=0"):
        assert topic in text, topic
    assert len(LANG_CONSOLE) >= 5 and len(LANG_CG) >= 3


@pytest.fixture(scope="module")
def language_results():
    return R.run_blocks(LANG_CONSOLE)


@pytest.mark.parametrize("block", LANG_CONSOLE, ids=[f"line{b.line}" for b in LANG_CONSOLE])
def test_language_console_block(block, language_results):
    R.check_block(language_results[block.line], "docs/language.md")


@pytest.mark.parametrize("block", LANG_CG, ids=[f"line{b.line}" for b in LANG_CG])
def test_language_program_listing(block):
    src = "\n".join(block.lines) + "\n"
    args = ["cgraph", "eval", "-"]
    m = re.search(r"^#\s*run with:(.*)$", src, re.MULTILINE)
    if m:
        args += shlex.split(m.group(1))
    if re.search(r"^#\s*mode:\s*eager\s*$", src, re.MULTILINE):
        args += ["--mode", "eager"]
    r = subprocess.run(args, cwd=ROOT, env=R.environment(), input=src.encode(),
                       capture_output=True, timeout=R.TIMEOUT)
    err = r.stderr.decode("utf-8", "replace")
    expected = 1 if block.lines and block.lines[0].startswith("# error") else 0
    assert r.returncode == expected, f"docs/language.md:{block.line}: exit {r.returncode}\n{err}"
    assert "Traceback" not in err


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        update()
        print(f"wrote {os.path.relpath(BUILTINS, ROOT)}")
    else:
        sys.exit("usage: python tests/test_docs.py --update   (rewrites docs/builtins.md)")
