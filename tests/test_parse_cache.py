"""The parser's table cache: JSON data in a private directory, a warm start
without lark, and every way the cache can be missing, damaged or unsafe.

Most tests run fresh interpreters (`_run`) with XDG_CACHE_HOME pointing at a
temporary directory, since what matters is what a new process does."""
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
from cgraph import lalr

ROOT = Path(__file__).resolve().parent.parent
PARSE = "from cgraph.parse import parse; assert parse('1+2').body\n"
REPORT = ("import sys, cgraph.parse as p\n"
          "print(p._engine.kind, any(m == 'lark' or m.startswith('lark.') for m in sys.modules))\n")


def _run(code: str, env_extra: dict, cwd=None, pythonpath=str(ROOT)):
    env = dict(os.environ)
    env.pop("CGRAPH_NO_CACHE", None)
    env.update(PYTHONPATH=pythonpath, **env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _parse_and_report(tmp_path, **extra) -> tuple[str, bool]:
    """(engine kind, whether lark was imported) of one fresh process."""
    r = _run(PARSE + REPORT, {"XDG_CACHE_HOME": str(tmp_path), **extra})
    assert r.returncode == 0, r.stderr
    kind, lark = r.stdout.split()
    return kind, lark == "True"


def _cache_files(tmp_path) -> list:
    return sorted((tmp_path / "cgraph").glob("parser-*.json"))


# ------------------------------------------------------------ warm starts
def test_import_is_cheap():
    r = _run("import sys, cgraph.parse as p\n"
             "assert p._engine is None, 'parser built at import'\n"
             "assert 'lark' not in sys.modules, 'lark imported at import'\n", {})
    assert r.returncode == 0, r.stderr


def test_warm_parse_imports_no_lark(tmp_path):
    assert _parse_and_report(tmp_path) == ("table", True)       # a miss: lark builds
    assert _parse_and_report(tmp_path) == ("table", False)      # warm: no lark at all
    seed = str(ROOT / "examples" / "seed.cg")
    code = ("import sys\n"
            "from cgraph.parse import parse\n"
            f"p = parse(open({seed!r}, encoding='utf-8').read())\n"
            "heavy = {'lark', 'importlib.resources', 'hashlib', 'tempfile', 'pickle'} & set(sys.modules)\n"
            "assert not heavy, heavy\n")
    r = _run(code, {"XDG_CACHE_HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr


def test_parser_cache_is_private_and_reused(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    r = _run(PARSE, env)
    assert r.returncode == 0, r.stderr
    d = tmp_path / "cgraph"
    assert (d.stat().st_mode & 0o777) == 0o700
    files = _cache_files(tmp_path)
    assert len(files) == 1 and (files[0].stat().st_mode & 0o777) == 0o600
    assert [p.name for p in d.iterdir()] == [files[0].name]     # no temporary files left
    mtime = files[0].stat().st_mtime_ns
    r = _run(PARSE, env)
    assert r.returncode == 0, r.stderr
    assert files[0].stat().st_mtime_ns == mtime        # read, not rewritten


def test_cache_file_is_json_data(tmp_path):
    assert _parse_and_report(tmp_path)[0] == "table"
    f, = _cache_files(tmp_path)
    head, body = f.read_bytes().split(b"\n", 1)
    header, tables = json.loads(head), json.loads(body)
    key = header["key"]
    assert key["format"] == lalr.FORMAT and key["python"] == sys.version
    assert key["grammar"] == (ROOT / "grammar" / "cgraph.lark").read_text(encoding="utf-8")
    import lark
    assert key["lark"] == lark.__version__ == P._lark_version()
    assert header["size"] == len(body) and header["check"] == lalr.digest(body)
    assert set(tables) == {"lexer", "rules", "states", "start", "end"}
    assert b"pickle" not in body and not body.startswith(b"\x80")


def test_no_cache_uses_lark_directly(tmp_path):
    assert _parse_and_report(tmp_path, CGRAPH_NO_CACHE="1") == ("lark", True)
    assert not (tmp_path / "cgraph").exists()


# ------------------------------------------------- unusable caches: ignored
def test_parser_cache_refuses_shared_directory(tmp_path):
    d = tmp_path / "cgraph"
    d.mkdir()
    d.chmod(0o777)
    assert _parse_and_report(tmp_path) == ("table", True)
    assert not list(d.iterdir())


def test_cache_directory_that_cannot_be_made(tmp_path):
    (tmp_path / "file").write_text("")
    kind, lark = _parse_and_report(tmp_path / "file")   # XDG_CACHE_HOME is a file
    assert (kind, lark) == ("table", True)


def test_parser_cache_survives_garbage(tmp_path):
    assert _parse_and_report(tmp_path)[0] == "table"
    for f in (tmp_path / "cgraph").iterdir():
        f.write_bytes(b"not a pickle")
    assert _parse_and_report(tmp_path) == ("table", True)       # rebuilt...
    assert _parse_and_report(tmp_path) == ("table", False)      # ...and rewritten


def _tamper(path: Path, edit, fix_check: bool = True) -> None:
    head, body = path.read_bytes().split(b"\n", 1)
    header = json.loads(head)
    tables = json.loads(body)
    edit(header, tables)
    body = json.dumps(tables).encode()
    if fix_check:
        header["size"], header["check"] = len(body), lalr.digest(body)
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)


def _bad_state(h, t):
    t["states"][3][0]["NAME"] = 10 ** 6          # a shift to a state that does not exist


def _bad_rule(h, t):
    t["rules"][5][4] = [[[99, False, 0]], 0]       # a child that is not there


def _bad_regexp(h, t):
    t["lexer"]["patterns"][0][0] = "(?P<NAME>["


@pytest.mark.parametrize("edit, fix_check, used", [
    (lambda h, t: None, True, True),        # re-encoded, checksum fixed: still good
    (lambda h, t: t["states"].pop(), False, False),                     # checksum mismatch
    (lambda h, t: h["key"].__setitem__("grammar", "other"), True, False),  # another grammar's
    (lambda h, t: h["key"].__setitem__("lark", "0.0.1"), True, False),     # another lark's
    (lambda h, t: h["key"].__setitem__("format", "cgraph-lalr/0"), True, False),
    (lambda h, t: h.__setitem__("key", None), True, False),
    (_bad_state, True, False),
    (_bad_rule, True, False),
    (_bad_regexp, True, False),
    (lambda h, t: t.__setitem__("states", {}), True, False),
    (lambda h, t: t["lexer"].__setitem__("keywords", []), True, False),
], ids=["control", "checksum", "grammar", "lark", "format", "nokey", "state", "rule", "regexp",
        "shape", "keywords"])
def test_damaged_or_foreign_tables_are_rebuilt(tmp_path, edit, fix_check, used):
    assert _parse_and_report(tmp_path)[0] == "table"
    f, = _cache_files(tmp_path)
    _tamper(f, edit, fix_check)
    assert _parse_and_report(tmp_path) == ("table", not used)
    assert _parse_and_report(tmp_path) == ("table", False)


def test_truncated_and_empty_files(tmp_path):
    assert _parse_and_report(tmp_path)[0] == "table"
    f, = _cache_files(tmp_path)
    data = f.read_bytes()
    for cut in (b"", data[:10], data[:len(data) // 2], data[:-1], data.split(b"\n")[0] + b"\n"):
        f.write_bytes(cut)
        assert _parse_and_report(tmp_path) == ("table", True)


def test_world_writable_cache_file_is_not_read(tmp_path):
    assert _parse_and_report(tmp_path)[0] == "table"
    f, = _cache_files(tmp_path)
    f.chmod(0o666)
    assert _parse_and_report(tmp_path) == ("table", True)     # not trusted: rebuilt
    assert (f.stat().st_mode & 0o777) == 0o600                # and replaced by a private one
    assert _parse_and_report(tmp_path) == ("table", False)


def test_symlinked_cache_file_is_not_followed(tmp_path):
    assert _parse_and_report(tmp_path)[0] == "table"
    f, = _cache_files(tmp_path)
    elsewhere = tmp_path / "elsewhere.json"
    shutil.copy(f, elsewhere)
    original = elsewhere.read_bytes()
    f.unlink()
    f.symlink_to(elsewhere)
    assert _parse_and_report(tmp_path) == ("table", True)
    assert not f.is_symlink()                                 # replaced, not written through
    assert elsewhere.read_bytes() == original


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0,
                    reason="making a file owned by someone else needs root")
def test_foreign_owned_cache_file_is_not_read(tmp_path):
    assert _parse_and_report(tmp_path)[0] == "table"
    f, = _cache_files(tmp_path)
    os.chown(f, 12345, 12345)
    key = P._cache_key(P._grammar_text())
    assert P._read_tables(str(f), key) is None
    assert _parse_and_report(tmp_path) == ("table", True)
    assert f.stat().st_uid == os.getuid()
    assert _parse_and_report(tmp_path) == ("table", False)


def test_read_tables_in_process(tmp_path, monkeypatch):
    """The same checks, without a subprocess: what `_read_tables` accepts."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("CGRAPH_NO_CACHE", raising=False)
    monkeypatch.setattr(P, "_engine", None)
    assert P._get_engine().kind == "table"
    key = P._cache_key(P._grammar_text())
    d = P._private_cache_dir()
    path = P._cache_path(d, key)
    assert os.path.exists(path) and P._read_tables(path, key) is not None
    assert P._read_tables(path, dict(key, python="2.7")) is None
    os.chmod(path, 0o620)
    assert P._read_tables(path, key) is None
    os.chmod(path, 0o600)
    assert P._read_tables(path + ".missing", key) is None
    os.mkdir(path + ".dir")
    assert P._read_tables(path + ".dir", key) is None
    if hasattr(os, "mkfifo"):
        os.mkfifo(path + ".fifo", 0o600)
        assert P._read_tables(path + ".fifo", key) is None      # and does not block


def test_stale_caches_are_removed(tmp_path):
    d = tmp_path / "cgraph"
    d.mkdir(mode=0o700)
    old_pickle = d / "parser-0123456789abcdef01234567.lark-cache"
    tmp_file = d / ".parser-x.json.1.ab.tmp"
    fresh_tmp = d / ".parser-y.json.2.cd.tmp"      # perhaps another process's, being written
    other = d / "notes.txt"
    others = [d / f"parser-{k:024x}.json" for k in range(5)]   # other grammars' tables
    for f in (old_pickle, tmp_file, fresh_tmp, other, *others):
        f.write_bytes(b"x")
    os.utime(tmp_file, (0, 0))
    for k, f in enumerate(others):
        os.utime(f, (1000 + k, 1000 + k))
    assert _parse_and_report(tmp_path)[0] == "table"
    mine, = set(_cache_files(tmp_path)) - set(others)
    left = {p.name for p in d.iterdir()}
    # the newest three other tables stay (two checkouts do not evict each other)
    assert left == {mine.name, other.name, fresh_tmp.name} | {f.name for f in others[2:]}


# ------------------------------------------------------------ concurrency
def test_concurrent_first_runs(tmp_path):
    """Several processes miss at once: each builds and writes its own
    temporary file, then renames it into place; all parse, and the file
    left behind is whole."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path))
    env.pop("CGRAPH_NO_CACHE", None)
    seed = ROOT / "examples" / "seed.cg"
    code = ("import sys\nfrom cgraph.parse import parse\n"
            "p = parse(open(sys.argv[1], encoding='utf-8').read())\n"
            "assert [s.target for s in p.body][-1] == 'Y'\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(seed)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(6)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    d = tmp_path / "cgraph"
    assert len(_cache_files(tmp_path)) == 1
    assert not [n for n in os.listdir(d) if n.endswith(".tmp")]
    assert _parse_and_report(tmp_path) == ("table", False)


def test_concurrent_writers_in_process(tmp_path):
    """`_write_tables` racing with itself and with readers: a reader sees
    a whole file (for this key) or none."""
    import threading

    key = P._cache_key(P._grammar_text())
    body = P._export(P._build_lark(P._grammar_text()))
    d = tmp_path / "c"
    d.mkdir(mode=0o700)
    path = P._cache_path(str(d), key)
    stop = threading.Event()
    seen: list = [[], []]

    def reader(k):
        while not stop.is_set():
            seen[k].append(P._read_tables(path, key) is not None)

    def writer():
        for _ in range(30):
            P._write_tables(path, key, body)

    rs = [threading.Thread(target=reader, args=(k,)) for k in range(2)]
    ws = [threading.Thread(target=writer) for _ in range(3)]
    for t in rs + ws:
        t.start()
    for t in ws:
        t.join()
    stop.set()
    for t in rs:
        t.join()
    assert P._read_tables(path, key) is not None
    for s in seen:      # once a reader found the file, it never found it broken
        first = s.index(True) if True in s else len(s)
        assert False not in s[first:]
    assert os.listdir(d) == [os.path.basename(path)]


# -------------------------------------------------------------- the grammar
def test_grammar_is_found_without_importlib_resources():
    from importlib.resources import files

    path = P._grammar_file()
    assert path is not None and os.path.samefile(path, ROOT / "grammar" / "cgraph.lark")
    assert P._grammar_text() == (files("cgraph.grammar") / "cgraph.lark").read_text(encoding="utf-8")


def test_lark_version_is_read_without_importing_lark():
    r = _run("import sys, cgraph.parse as p\nv = p._lark_version()\n"
             "assert 'lark' not in sys.modules\nprint(v)\n", {})
    assert r.returncode == 0, r.stderr
    import lark
    assert r.stdout.strip() == lark.__version__


def test_grammar_ships_in_the_wheel(tmp_path):
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
        z.extractall(tmp_path / "site")
    seed = ROOT / "examples" / "seed.cg"
    site = str(tmp_path / "site")
    code = ("import sys, cgraph.parse as p, importlib.resources as r\n"
            f"assert p.__file__.startswith({site!r}), p.__file__\n"
            "g = r.files('cgraph.grammar') / 'cgraph.lark'\n"
            f"assert str(g).startswith({site!r}), g\n"
            f"assert p._grammar_file().startswith({site!r}), p._grammar_file()\n"
            f"prog = p.parse(open({str(seed)!r}, encoding='utf-8').read())\n"
            "assert [s.target for s in prog.body][-1] == 'Y'\n"
            "print(p._engine.kind, 'lark' in sys.modules)\n")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    for expected in ("table True", "table False"):      # a miss, then a warm start
        r = _run(code, env, cwd=str(tmp_path), pythonpath=site)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n")[-2] == expected
