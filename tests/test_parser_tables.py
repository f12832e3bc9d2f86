"""The parser tables shipped as package data: made from the grammar by
`cgraph.tablegen`, read at run time without lark, never written anywhere.

(That they lex and parse exactly as lark does is checked by every test of
tests/test_parse.py, against tests/lark_reference.py.)"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import cgraph.parse as P
from cgraph import parser_tables, tablegen

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str, env_extra: dict, cwd=None, pythonpath=str(ROOT)):
    env = dict(os.environ)
    env.update(PYTHONPATH=pythonpath, **env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_shipped_tables_are_made_from_the_shipped_grammar():
    data = parser_tables.shipped()
    assert data is not None, "grammar/cgraph.tables.json is stale or missing: run `make tables`"
    assert data["format"] == tablegen.FORMAT


def test_shipped_tables_are_what_tablegen_writes():
    import lark

    shipped = Path(parser_tables.TABLES_FILE).read_text(encoding="utf-8")
    if json.loads(shipped)["lark"] != lark.__version__:
        pytest.skip("made with another lark release (state numbers may differ); "
                    "the parse tests still compare every result with this lark")
    assert shipped == tablegen.tables_json(parser_tables.grammar_text()), \
        "grammar/cgraph.tables.json is stale: run `make tables`"


def test_import_is_cheap():
    r = _run("import sys, cgraph.parse as p\n"
             "assert p._tables is None, 'parser built at import'\n"
             "assert 'lark' not in sys.modules, 'lark imported at import'\n", {})
    assert r.returncode == 0, r.stderr


def test_a_run_imports_no_lark_and_writes_nothing(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    seed = str(ROOT / "examples" / "seed.cg")
    code = ("import sys\n"
            "from cgraph.parse import parse\n"
            f"p = parse(open({seed!r}, encoding='utf-8').read())\n"
            "assert [s.target for s in p.body][-1] == 'Y'\n"
            "heavy = {'lark', 'importlib.resources', 'hashlib', 'tempfile', 'pickle'} & set(sys.modules)\n"
            "assert not heavy, heavy\n")
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "XDG_STATE_HOME": str(home / ".state")}
    r = _run(code, env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("edit", ["stale", "damaged", "missing"])
def test_tables_that_do_not_fit_are_made_in_memory(monkeypatch, edit):
    """An edited grammar (tables not regenerated), a damaged or a missing
    file: the parser is generated from the grammar for this process."""
    read = parser_tables._read
    grammar = parser_tables.grammar_text()

    def fake(name):
        if name == "cgraph.tables.json":
            return {"stale": read(name), "damaged": read(name)[:-40], "missing": None}[edit]
        return read(name)

    monkeypatch.setattr(parser_tables, "_read", fake)
    if edit == "stale":
        monkeypatch.setattr(parser_tables, "grammar_text", lambda: grammar + "\n// edited\n")
    assert parser_tables.shipped() is None
    from cgraph.ast_builder import AstBuilder

    monkeypatch.setattr(P, "_tables", parser_tables.load(AstBuilder()))
    assert [s.target for s in P.parse("a = 1\nY = a * 2\n").body] == ["a", "Y"]


def test_grammar_is_found_without_importlib_resources():
    from importlib.resources import files

    path = parser_tables.GRAMMAR_FILE
    assert path is not None and os.path.samefile(path, ROOT / "grammar" / "cgraph.lark")
    assert parser_tables.grammar_text() == \
        (files("cgraph.grammar") / "cgraph.lark").read_text(encoding="utf-8")


def test_grammar_and_tables_ship_in_the_wheel(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "cgraph", src / "cgraph",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "grammar", src / "grammar",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--no-index", "-q", "-w", str(out), str(src)],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        log = r.stdout + r.stderr
        if any(s in log for s in ("bdist_wheel", "No module named 'setuptools'",
                                  "setuptools>=", "Cannot import 'setuptools")):
            pytest.skip("cannot build a wheel offline: the venv needs setuptools>=70.1 (or wheel)")
        pytest.fail(log)
    wheel, = out.glob("cgraph-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "cgraph/grammar/cgraph.lark" in names
        assert "cgraph/grammar/cgraph.tables.json" in names
        z.extractall(tmp_path / "site")
    seed = ROOT / "examples" / "seed.cg"
    site = str(tmp_path / "site")
    code = ("import sys, cgraph.parse as p, cgraph.parser_tables as t\n"
            f"assert p.__file__.startswith({site!r}), p.__file__\n"
            f"assert t.TABLES_FILE.startswith({site!r}), t.TABLES_FILE\n"
            "assert t.shipped() is not None\n"
            f"prog = p.parse(open({str(seed)!r}, encoding='utf-8').read())\n"
            "assert [s.target for s in prog.body][-1] == 'Y'\n"
            "print('lark' in sys.modules)\n")
    r = _run(code, {}, cwd=str(tmp_path), pythonpath=site)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[-2] == "False"
