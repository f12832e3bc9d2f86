"""The front end: source text -> `cgraph.ast.Program`, or a `CgraphError`.

The syntax lives in one place, `grammar/cgraph.lark` (installed as
`cgraph/grammar/cgraph.lark`). Lark builds an LALR(1) table from it and this
module drives that table token by token:

    text -> lexer (bad characters become diagnostics and are skipped)
         -> layout (Python-style NEWLINE / INDENT / DEDENT, brackets)
         -> LALR table, whose reductions call `_AstBuilder` directly (no
            parse tree; no recursion, so 5,000 nested parentheses are fine)

Driving the table ourselves (rather than `Lark.parse(on_error=...)`) lets us
recover after a syntax error with the layout's state intact: we report the
error, unwind the parser to the last statement boundary, skip to the end of
the line and carry on, so one run reports every broken statement.

Importing lark and building (or loading) its parser costs 25-90 ms, more
than the rest of a calculator run. So lark runs only on a cache miss: what
the parse needs (the lexer's regexps, the LALR table, the rules' shapes) is
exported as JSON data into a private per-user cache directory, and a warm
start rebuilds the parser from that with `cgraph.lalr` in ~3 ms, without
importing lark. Everything is built lazily, once per process.
"""
from __future__ import annotations

import _thread  # threading's C core (importing `threading` costs 0.4 ms)
import gc
import os
import re
import stat
import sys
from collections import deque
from typing import Optional

from . import ast as A
from .errors import CgraphError, Diagnostic
from .source import Span
from .syntax_errors import Situation, explain, span_of

__all__ = ["parse", "parse_bytes", "MAX_SOURCE_CHARS"]

MAX_SOURCE_CHARS = 8_000_000  # ~30 s of parsing; a 100,000-statement script is ~3 MB
"""Longer sources are refused with a diagnostic: programs are small, data
comes in through inputs and load(); this bounds memory and time."""

MAX_ERRORS = 50

_GC_PAUSE_CHARS = 100_000

_LARK_OPTIONS = dict(parser="lalr", lexer="basic", maybe_placeholders=True)

_OPENS = {"LPAR": ("RPAR", ")"), "LSQB": ("RSQB", "]")}
_CLOSES = {"RPAR": "(", "RSQB": "["}
_SOFT = frozenset({"INPUT", "PARAM", "CONST", "OUTPUT"})
_NAMEISH = frozenset({"NAME"}) | _SOFT
_LAYOUT = frozenset({"_NEWLINE", "_INDENT", "_DEDENT", "$END"})
_BLOCK_HEADS = frozenset({"IF", "ELIF", "ELSE", "WHILE", "FOR", "DEF"})
_TEST_HEADS = frozenset({"IF", "ELIF", "WHILE", "FOR"})   # headers ending in `test ":"`

# per-parse state for the AST builder, whose one instance lives in the
# (shared, memoised) engine
_ctx = _thread._local()


# ------------------------------------------------------------------ AST
class _Shape:
    __slots__ = ("dims", "span")

    def __init__(self, dims, span):
        self.dims, self.span = dims, span


def _span(tok) -> Span:
    return Span(_ctx.file, tok.line, tok.column, tok.end_line, tok.end_column)


def _join(a: Span, b: Span) -> Span:
    return Span(a.file, a.line, a.column, b.end_line, b.end_column)


def _tok_to(tok, b: Span) -> Span:
    return Span(b.file, tok.line, tok.column, b.end_line, b.end_column)


def _report(message: str, span: Span, hint: Optional[str] = None) -> None:
    _ctx.diags.append(Diagnostic("syntax", message, span, hint))


def _name(tok) -> str:
    s = str(tok)
    if s.isascii():
        return s
    import unicodedata

    return unicodedata.normalize("NFKC", s)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
_ESCAPE_RE = re.compile(r"\\(.)", re.S)


def _unescape(body: str) -> str:
    if "\\" not in body:
        return body
    # unknown escapes stay as written, so Windows paths like "C:\data" survive
    return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), body)


def _flatten(items) -> tuple:
    out = []
    for it in items:
        if it is None:          # a statement lost to error recovery
            continue
        if isinstance(it, list):
            out.extend(it)
        else:
            out.append(it)
    return tuple(out)


def _end_of(header_tok, *blocks) -> Span:
    """Span from a block header's keyword to the end of its last statement."""
    for body in reversed(blocks):
        if body:
            return _tok_to(header_tok, body[-1].span)
    return _span(header_tok)


class _AstBuilder:
    """Callbacks run by the LALR parser at each reduction (lark's inline
    transformer): children in, AST node out. Never raises: problems that
    the grammar lets through are reported with `_report`."""

    # -- atoms
    def name(self, c):
        return A.Name(_name(c[0]), _span(c[0]))

    def number(self, c):
        return A.Num(float(c[0]), _span(c[0]))

    def string(self, c):
        return A.Str(_unescape(str(c[0])[1:-1]), _span(c[0]))

    def boolean(self, c):
        return A.Bool(c[0].type == "TRUE", _span(c[0]))

    def list(self, c):
        return A.ListLit(tuple(x for x in c[1:-1] if x is not None), _join(_span(c[0]), _span(c[-1])))

    # -- operators
    def chain(self, c):
        rest = tuple(c[2::2])
        return A.Chain(c[0], tuple(str(op) for op in c[1::2]), rest, _join(c[0].span, rest[-1].span))

    or_test = and_test = arith = term = chain

    def unary(self, c):
        return A.Unary(str(c[0]), c[1], _tok_to(c[0], c[1].span))

    def binary(self, c):
        op = "^" if c[1] == "**" else str(c[1])
        return A.Binary(op, c[0], c[2], _join(c[0].span, c[2].span))

    # -- postfix
    def call(self, c):
        func, _lpar, args, rpar = c
        span = _join(func.span, _span(rpar))
        pos, kws, seen = [], [], set()
        for a in args or ():
            if isinstance(a, A.Keyword):
                if a.name in seen:
                    _report(f"keyword argument '{a.name}' is given twice", a.span)
                seen.add(a.name)
                kws.append(a)
            else:
                if kws:
                    _report("a positional argument cannot follow a keyword argument", a.span,
                            "put the positional arguments first: f(x, y, axis=0)")
                pos.append(a)
        if not isinstance(func, A.Name):
            _report("only a named function can be called", func.span,
                    "call functions by name, as in f(x)")
            return func
        return A.Call(func.id, tuple(pos), tuple(kws), span, func.span)

    def arguments(self, c):
        return c

    def keyword(self, c):
        return A.Keyword(_name(c[0]), c[1], _tok_to(c[0], c[1].span))

    def index(self, c):
        value, items, rsqb = c
        return A.Index(value, tuple(items), _join(value.span, _span(rsqb)))

    def subscripts(self, c):
        return c

    def slice(self, c):
        start, colon1, stop, colon2, step = c
        first = start.span if start is not None else _span(colon1)
        last = next((x.span if not hasattr(x, "type") else _span(x)
                     for x in (step, colon2, stop) if x is not None), _span(colon1))
        return A.Slice(start, stop, step, _join(first, last))

    def attribute(self, c):
        value, attr = c
        span = _join(value.span, _span(attr))
        if attr != "T":
            hint = "did you mean .T?" if attr == "t" else None
            _report(f"unknown attribute '.{attr}'; the only attribute is '.T' (transpose)",
                    _span(attr), hint)
        return A.Transpose(value, span)

    # -- simple statements
    def expr_stmt(self, c):
        v = c[0]
        if isinstance(v, A.Call) and v.func == "print":
            if v.kwargs:
                _report("print takes no keyword arguments", v.kwargs[0].span)
            return A.Print(v.args, v.span)
        if isinstance(v, A.Name) and v.id in ("input", "param", "const", "output"):
            _report(f"expected a name after '{v.id}'", v.span,
                    f"for example: {v.id} x" + (" = 0" if v.id in ("param", "const") else ""))
        return A.ExprStmt(v, v.span)

    def _target(self, t) -> Optional[str]:
        if isinstance(t, A.Name):
            return t.id
        if isinstance(t, A.Index):
            _report("cannot assign to an element: tensors are never changed in place", t.span,
                    "build a new tensor instead, e.g. with where(...) or concat(...)")
        elif isinstance(t, A.Call):
            _report("cannot assign to a function call", t.span,
                    f"to define a function write: def {t.func}(x): return ...")
        else:
            _report("only a name can be assigned to", t.span)
        return None

    def assign(self, c):
        target, value = c
        name = self._target(target)
        return A.Assign(name or "?", value, None, _join(target.span, value.span), target.span)

    def augassign(self, c):
        target, op, value = c
        name = self._target(target)
        return A.Assign(name or "?", value, str(op)[0], _join(target.span, value.span), target.span)

    def shape(self, c):
        dims = tuple(d for d in c[1:-1] if d is not None)
        for d in dims:
            if isinstance(d, A.Num) and not (d.value >= 0 and float(d.value).is_integer()):
                _report("a dimension must be a whole number or a name", d.span)
        return _Shape(dims, _join(_span(c[0]), _span(c[-1])))

    def input_stmt(self, c):
        kw, name, shape = c
        end = shape.span if shape is not None else _span(name)
        return A.Input(_name(name), shape.dims if shape is not None else None, _tok_to(kw, end))

    def param_stmt(self, c):
        kw, name, shape, value = c
        return A.Param(_name(name), shape.dims if shape is not None else None, value,
                       _tok_to(kw, value.span))

    def const_stmt(self, c):
        kw, name, value = c
        return A.Const(_name(name), value, _tok_to(kw, value.span))

    def output_stmt(self, c):
        names = c[1:]
        return A.Output(tuple(_name(n) for n in names), _tok_to(c[0], _span(names[-1])),
                        tuple(_span(n) for n in names))

    def return_stmt(self, c):
        return A.Return(c[1], _tok_to(c[0], c[1].span))

    def assert_stmt(self, c):
        kw, cond, msg = c
        text = None
        if msg is not None:
            if isinstance(msg, A.Str):
                text = msg.value
            else:
                _report("the message of an assert must be a string", msg.span,
                        'for example: assert x > 0, "x must be positive"')
        return A.Assert(cond, text, _tok_to(kw, (msg or cond).span))

    def simple_stmts(self, c):
        return c

    # -- blocks
    def suite(self, c):
        return _flatten(c)

    def elif_clause(self, c):
        return ("elif", c[0], c[1])

    def else_clause(self, c):
        return ("else", c[0])

    def if_stmt(self, c):
        kw, cond, body, *clauses = c
        conds, bodies, orelse = [cond], [body], ()
        for cl in clauses:
            if cl is None:
                continue
            if cl[0] == "elif":
                conds.append(cl[1])
                bodies.append(cl[2])
            else:
                orelse = cl[1]
        return A.If(tuple(conds), tuple(bodies), orelse, _end_of(kw, *bodies, orelse))

    def for_stmt(self, c):
        kw, var, it, body = c
        args: tuple = ()
        if isinstance(it, A.Call) and it.func == "range":
            args = it.args
            if it.kwargs:
                _report("range takes no keyword arguments", it.kwargs[0].span)
            if not 1 <= len(args) <= 3:
                _report(f"range takes 1 to 3 arguments, not {len(args)}", it.span,
                        "range(n), range(start, stop) or range(start, stop, step)")
        else:
            _report("a for loop runs over range(...)", it.span,
                    "for example: for i in range(n):")
        return A.For(_name(var), tuple(args), body, _end_of(kw, body))

    def while_stmt(self, c):
        kw, cond, body = c
        return A.While(cond, body, _end_of(kw, body))

    def params(self, c):
        return c

    def funcdef(self, c):
        kw, name, params, body = c
        names, seen = [], set()
        for p in params or ():
            n = _name(p)
            if n in seen:
                _report(f"parameter '{n}' appears twice", _span(p))
            seen.add(n)
            names.append(n)
        return A.FuncDef(_name(name), tuple(names), body, _end_of(kw, body))

    def start(self, c):
        return _flatten(c)


# --------------------------------------------------------- parser build
#
# Two engines drive the same loop (`_Run`) and the same callbacks:
#
#   _TableEngine  the LALR table, lexer regexps and rule shapes that lark
#                 built, kept as JSON in the private cache and rebuilt by
#                 `cgraph.lalr` without importing lark (a warm start);
#   _LarkEngine   lark itself: its lexer, its table, its tree-builder
#                 callbacks. Used with CGRAPH_NO_CACHE=1, and to build the
#                 table on a cache miss.
#
# The tests run everything through both and require the same result.

_HERE = os.path.dirname(os.path.abspath(__file__))


def _grammar_file() -> Optional[str]:
    """The path of cgraph.lark, found without importlib.resources (3-8 ms):
    a wheel has it in cgraph/grammar/; a checkout (editable or on
    PYTHONPATH) has the package `cgraph.grammar` mapped to grammar/ beside
    cgraph/."""
    for path in (os.path.join(_HERE, "grammar", "cgraph.lark"),
                 os.path.join(os.path.dirname(_HERE), "grammar", "cgraph.lark")):
        if os.path.isfile(path):
            return path
    try:
        import cgraph.grammar as g      # wherever an installer mapped it
    except ImportError:
        return None
    f = getattr(g, "__file__", None)
    path = os.path.join(os.path.dirname(f), "cgraph.lark") if f else None
    return path if path and os.path.isfile(path) else None


def _grammar_text() -> str:
    path = _grammar_file()
    if path is not None:
        with open(path, encoding="utf-8") as f:
            return f.read()
    from importlib.resources import files     # e.g. a zipped install

    return (files("cgraph.grammar") / "cgraph.lark").read_text(encoding="utf-8")


def _lark_version() -> str:
    """lark's version, read from its source without importing it (~40 ms)."""
    for finder in sys.meta_path:
        try:
            spec = finder.find_spec("lark", None)
        except Exception:       # a finder without find_spec, or a broken one
            continue
        if spec is not None and spec.origin:
            break
    else:
        return "none"
    origin = spec.origin
    try:
        with open(origin, encoding="utf-8") as f:
            m = re.search(r"""^__version__\s*(?::\s*str\s*)?=\s*['"]([^'"]+)['"]""", f.read(), re.M)
        if m:
            return m.group(1)
        st = os.stat(origin)
        return f"{origin}:{st.st_size}:{st.st_mtime_ns}"
    except (OSError, TypeError, ValueError):
        return f"unknown:{origin}"


def _build_lark(grammar: str):
    from lark import Lark

    return Lark(grammar, transformer=_AstBuilder(), **_LARK_OPTIONS)


class _LarkEngine:
    """lark's own lexer, table and callbacks. The table is recompiled for
    `_Run`'s loop: per state, terminal -> next state (shift) or (length,
    callback, goto symbol) (reduce), and nonterminal -> next state (goto).
    A reduction that only wraps one child (`?rule: other`) gets no
    callback: the child is the value."""

    kind = "lark"

    def __init__(self, lk):
        from lark.grammar import NonTerminal
        from lark.lexer import Token
        from lark.parsers.lalr_analysis import Shift

        self.lark = lk
        self.Token = Token
        self.lexer = lk._build_lexer()
        conf = lk.parse_interactive("").parser_state.parse_conf
        # our own state numbers, so "shift" is simply an int
        number = {state: i for i, state in enumerate(conf.states)}
        self.start, self.end = number[conf.start_state], number[conf.end_state]
        self.actions: list = [None] * len(number)
        self.gotos: list = [None] * len(number)
        reductions: dict = {}
        for state, row in conf.states.items():
            acts, gotos = {}, {}
            for sym, (action, arg) in row.items():
                if not sym.isupper():
                    gotos[sym] = number[arg]
                elif action is Shift:
                    acts[sym] = number[arg]
                else:
                    red = reductions.get(id(arg))
                    if red is None:
                        exp = arg.expansion
                        unit = (arg.options.expand1 and arg.alias is None and len(exp) == 1
                                and isinstance(exp[0], NonTerminal) and not exp[0].name.startswith("_"))
                        red = (len(exp), None if unit else conf.callbacks[arg], arg.origin.name)
                        reductions[id(arg)] = red
                    acts[sym] = red
            self.actions[number[state]], self.gotos[number[state]] = acts, gotos

    def tokens(self, text: str, on_error):
        """lark's lexer over `text`; at a character no token matches,
        `on_error(pos, line, column)` says where to carry on."""
        from lark.exceptions import UnexpectedCharacters
        from lark.lexer import LexerThread

        thread = LexerThread.from_text(self.lexer, text)
        counter = thread.state.line_ctr
        while True:
            try:
                yield from thread.lex(None)
                return
            except UnexpectedCharacters:
                pos = counter.char_pos
                new = on_error(pos, counter.line, counter.column)
            counter.feed(text[pos:new])


class _TableEngine:
    """The exported table, lexer and rule shapes, run by `cgraph.lalr`."""

    kind = "table"

    def __init__(self, data: dict):
        from .lalr import Tables

        t = Tables(data, _AstBuilder())
        self.actions, self.gotos, self.start, self.end = t.actions, t.gotos, t.start, t.end
        self.Token, self.tokens = t.Token, t.tokens


# -- the private cache of exported tables
_CACHE_PREFIX, _CACHE_SUFFIX = "parser-", ".json"
_MAX_CACHE_BYTES = 8 << 20


def _private_cache_dir() -> Optional[str]:
    """`$XDG_CACHE_HOME/cgraph` or `~/.cache/cgraph`, only if it is a real
    directory owned by us that nobody else can write: its tables decide
    what every program means."""
    if os.environ.get("CGRAPH_NO_CACHE") or not hasattr(os, "getuid"):
        return None
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None
    path = os.path.join(base, "cgraph")
    try:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.makedirs(base, mode=0o700, exist_ok=True)
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
            st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        return None
    return path


def _cache_key(grammar: str) -> dict:
    """Everything the exported tables depend on; compared exactly on load."""
    from .lalr import FORMAT

    return {"format": FORMAT, "grammar": grammar, "lark": _lark_version(),
            "python": sys.version, "options": repr(sorted(_LARK_OPTIONS.items()))}


def _cache_path(d: str, key: dict) -> str:
    from .lalr import digest

    blob = "\0".join(f"{k}={key[k]}" for k in sorted(key)).encode("utf-8")
    return os.path.join(d, _CACHE_PREFIX + digest(blob)[:24] + _CACHE_SUFFIX)


def _read_tables(path: str, key: dict) -> Optional[dict]:
    """The tables stored at `path` for exactly `key`, or None: missing,
    not a regular file of ours that only we can write, damaged, or for
    another grammar / lark / Python / format."""
    try:
        # no symlinks; and a FIFO planted under our name must not block us
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022
                or st.st_size > _MAX_CACHE_BYTES):
            return None
        with os.fdopen(fd, "rb") as f:
            fd = -1
            raw = f.read(_MAX_CACHE_BYTES + 1)
    except OSError:
        return None
    finally:
        if fd >= 0:
            os.close(fd)
    import json

    from .lalr import digest

    head, sep, body = raw.partition(b"\n")
    try:
        header = json.loads(head)
        if (not sep or type(header) is not dict or header.get("key") != key
                or header.get("size") != len(body) or header.get("check") != digest(body)):
            return None
        data = json.loads(body)
    except ValueError:          # JSON or UTF-8 errors
        return None
    return data if type(data) is dict else None


def _write_tables(path: str, key: dict, body: bytes) -> None:
    """Store atomically (a private temporary file, then rename), so a
    concurrent reader sees the old file or the new one, never a part."""
    import json

    from .lalr import digest

    header = json.dumps({"key": key, "size": len(body), "check": digest(body)},
                        separators=(",", ":")).encode("utf-8")
    d, name = os.path.split(path)
    tmp = os.path.join(d, f".{name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header + b"\n" + body)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return
    _forget_stale(d, name)


_KEEP_OTHER_TABLES = 3


def _forget_stale(d: str, keep: str) -> None:
    """Tidy up after writing `keep`: old lark pickles go, and so do
    temporary files left by a writer that died; of other grammars' tables
    (another checkout, an older grammar) the newest few stay, so two
    checkouts do not evict each other on every run. Only our own names
    (prefix and suffixes) are ever touched."""
    import time

    others = []
    try:
        for n in os.listdir(d):
            p = os.path.join(d, n)
            if n == keep:
                continue
            if n.startswith(_CACHE_PREFIX) and n.endswith(".lark-cache"):
                os.unlink(p)
            elif n.startswith(_CACHE_PREFIX) and n.endswith(_CACHE_SUFFIX):
                others.append((os.lstat(p).st_mtime, p))
            elif n.startswith("." + _CACHE_PREFIX) and n.endswith(".tmp"):
                if os.lstat(p).st_mtime < time.time() - 3600:
                    os.unlink(p)
        others.sort(reverse=True)
        for _, p in others[_KEEP_OTHER_TABLES:]:
            os.unlink(p)
    except OSError:
        pass


def _export(lk) -> Optional[bytes]:
    """The JSON text of lark's tables, or None if they cannot be exported."""
    import json

    from .lalr import export

    try:
        return json.dumps(export(lk), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except Exception:   # lalr.Unsupported, or a lark whose insides have changed
        return None


def _load_engine():
    """A warm start: the cached tables, no lark. A miss: lark builds the
    parser, its tables are exported (and cached when the cache is usable)
    and run the same way as a warm start would run them. lark itself
    parses only with CGRAPH_NO_CACHE=1 or when the export is refused."""
    grammar = _grammar_text()
    if os.environ.get("CGRAPH_NO_CACHE"):
        return _LarkEngine(_build_lark(grammar))
    key = _cache_key(grammar)
    d = _private_cache_dir()
    path = _cache_path(d, key) if d is not None else None
    if path is not None:
        data = _read_tables(path, key)
        if data is not None:
            try:
                return _TableEngine(data)
            except Exception:       # damaged beyond the checksum: rebuild
                pass
    lk = _build_lark(grammar)
    body = _export(lk)
    if body is None:
        return _LarkEngine(lk)
    import json

    try:
        eng = _TableEngine(json.loads(body))
    except Exception:
        return _LarkEngine(lk)
    if path is not None:
        _write_tables(path, key, body)
    return eng


_engine = None
_lock = _thread.allocate_lock()


def _get_engine():
    """Built on first use, memoised for the process."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = _load_engine()
    return _engine


# ------------------------------------------------------------------ lexing
_CHAR_HINTS = {
    "\u2212": "use '-' (the ASCII minus)", "\u2013": "use '-' (the ASCII minus)",
    "\u00d7": "use '*' to multiply", "\u00b7": "use '*' to multiply, '@' for a matrix product",
    "\u00f7": "use '/' to divide", "\u2264": "use '<='", "\u2265": "use '>='", "\u2260": "use '!='",
    "\u201c": 'use straight quotes: "..."', "\u201d": 'use straight quotes: "..."',
    "\u2018": 'use straight quotes: "..."', "\u2019": 'use straight quotes: "..."',
    "\u00b2": "write x^2", "\u00b3": "write x^3",
    "!": "use 'not' for negation; '!=' means not equal",
    "&": "use 'and'", "|": "use 'or'",
    "{": "tensor literals use square brackets: [[1, 2], [3, 4]]",
    "}": "tensor literals use square brackets: [[1, 2], [3, 4]]",
    "?": "for a choice between values use where(cond, a, b)",
    "\\": "a backslash continues a line only at the very end of the line",
}


def _show_char(ch: str) -> str:
    return f"'{ch}'" if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"


class _BadChars:
    """What the lexer does where no token matches (both engines): a stray
    character is reported and skipped (a run of them, one report); an
    unterminated string is reported and skipped to the end of its line."""

    def __init__(self, text: str, file: str, diags: list):
        self.text, self.file, self.diags = text, file, diags
        self.last_bad = None  # (index in diags, end position) of the previous bad character

    def __call__(self, pos: int, line: int, col: int) -> int:
        """Report what is at `pos`; returns where lexing carries on."""
        text, file, diags = self.text, self.file, self.diags
        ch = text[pos]
        if ch in "\"'":
            eol = text.find("\n", pos)
            eol = len(text) if eol < 0 else eol
            diags.append(Diagnostic("syntax", "unterminated string",
                                    Span(file, line, col, line, col + eol - pos),
                                    f"close the string with {ch} on the same line"))
            self.last_bad = None
            return eol
        last_bad = self.last_bad
        if last_bad is not None and last_bad[1] == pos:
            k = last_bad[0]
            s = diags[k].span
            run = text[pos - (s.end_column - s.column):pos + 1]
            shown = f"'{run}'" if run.isprintable() else "characters"
            diags[k] = Diagnostic("syntax", f"unexpected characters {shown}",
                                  Span(file, s.line, s.column, s.line, s.end_column + 1), diags[k].hint)
        else:
            diags.append(Diagnostic("syntax", f"unexpected character {_show_char(ch)}",
                                    Span(file, line, col, line, col + 1), _CHAR_HINTS.get(ch)))
        self.last_bad = (len(diags) - 1, pos + 1)
        return pos + 1


def _lex(eng, text: str, file: str, diags: list):
    """The tokens of `text`, lazily, with bad characters reported."""
    return eng.tokens(text, _BadChars(text, file, diags))


# ------------------------------------------------------------------ layout
class _Reparse(Exception):
    """Brackets were left open at the end: parse again knowing which."""

    def __init__(self, never_closed: frozenset):
        self.never_closed = never_closed


class _Layout:
    """Python's layout rules over the token stream, as lark's `Indenter`
    does (same token names), plus what good diagnostics need: indentation
    is compared as strings, so a tab is never guessed to be some number of
    spaces (a line whose indentation cannot be ordered against its block's
    is an error); stray and mismatched closers are reported; a bracket that
    is never closed is reported where it opens and, on the second pass,
    does not swallow the rest of the file."""

    NL_type = "_NEWLINE"
    OPEN_PAREN_types = ("LPAR", "LSQB")
    CLOSE_PAREN_types = ("RPAR", "RSQB")
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"

    def __init__(self, tokens, text: str, file: str, diags: list, token_cls,
                 never_closed: frozenset = frozenset()):
        self.src, self.text = tokens, text
        self.file, self.diags, self.Token = file, diags, token_cls
        self.never_closed = never_closed   # start positions of brackets
        self.ahead = None                  # one raw token of lookahead
        self.pending: deque = deque()
        self.brackets: list = []
        self.unclosed_indent: Optional[str] = None
        self.stmt_start = True
        self.last = None                   # the last real token handed out
        self.last_type = None
        self.done = False
        self.levels: list = []             # set by the first line of code
        self.phantom = [False]

    def _diag(self, message: str, tok, hint: Optional[str] = None) -> None:
        self.diags.append(Diagnostic("syntax", message, span_of(tok, self.file), hint))

    def _raw(self):
        if self.ahead is not None:
            t, self.ahead = self.ahead, None
            return t
        return next(self.src, None)

    def _peek(self):
        if self.ahead is None:
            self.ahead = next(self.src, None)
        return self.ahead

    def _at_end(self, type_: str):
        t = self.last
        if t is None:
            return self.Token(type_, "", 0, 1, 1, 1, 1, 0)
        return self.Token(type_, "", t.end_pos, t.end_line, t.end_column, t.end_line, t.end_column, t.end_pos)

    # -- the token stream
    def next(self):
        if self.pending:
            return self.pending.popleft()
        Token = self.Token
        while True:
            t = self._raw()
            if t is None:
                return self._eof()
            ty = t.type
            if ty == "_NEWLINE":
                if self.brackets:
                    continue
                if self.unclosed_indent is not None:
                    ind = t.value[t.value.rfind("\n") + 1:]
                    ref = self.unclosed_indent
                    if len(ind) > len(ref) and ind.startswith(ref) and self._peek() is not None:
                        continue    # still the statement whose bracket never closes
                    self.unclosed_indent = None
                return self._newline(t)
            if not self.levels:
                # the first line of code sets the base indentation, so a
                # pasted one-liner with leading spaces is fine
                self.levels.append(self.text[t.start_pos - (t.column - 1):t.start_pos])
            if ty in _OPENS:
                if t.start_pos in self.never_closed:
                    self._diag(f"'{t}' opened at {t.line}:{t.column} is never closed", t,
                               f"add the matching '{_OPENS[ty][1]}'")
                    if self.unclosed_indent is None:
                        self.unclosed_indent = self.levels[-1]
                else:
                    self.brackets.append(t)
            elif ty in _CLOSES:
                if not self.brackets:
                    self._diag(f"unexpected '{t}'", t, f"there is no '{_CLOSES[ty]}' for it to close")
                    continue
                o = self.brackets.pop()
                want, ch = _OPENS[o.type]
                if want != ty:
                    self._diag(f"'{t}' does not match '{o}' opened at {o.line}:{o.column}", t,
                               f"close it with '{ch}'")
                    t = Token.new_borrow_pos(want, ch, t)
                    ty = want
            elif ty in _SOFT:
                nxt = self._peek()
                if not (self.stmt_start and nxt is not None and nxt.type in _NAMEISH):
                    t = Token.new_borrow_pos("NAME", t.value, t)
                    ty = "NAME"
            self.stmt_start = ty == "SEMICOLON" or (ty == "COLON" and not self.brackets)
            self.last = t
            self.last_type = ty
            return t

    def _newline(self, nl):
        self.stmt_start = True
        self.last_type = "_NEWLINE"
        nxt = self._peek()
        if nxt is None:
            return nl       # the last line break: the end follows
        ind = nl.value[nl.value.rfind("\n") + 1:]
        levels, pending = self.levels, self.pending
        if not levels:
            levels.append(ind)
            return nl
        cur = levels[-1]
        if ind == cur:
            return nl
        if ind.startswith(cur):
            levels.append(ind)
            self.phantom.append(False)
            pending.append(self.Token.new_borrow_pos("_INDENT", "", nxt))
            return nl
        popped = []
        while len(levels) > 1 and not ind.startswith(levels[-1]):
            popped.append(levels.pop())
            if not self.phantom.pop():
                pending.append(self.Token.new_borrow_pos("_DEDENT", "", nxt))
        if ind != levels[-1]:
            if {" ", "\t"} <= set(ind).union(*popped, levels[-1]):
                self._diag("this line's indentation mixes tabs and spaces inconsistently "
                           "with the lines above", nxt, "indent with spaces only (or tabs only)")
            else:
                self._diag("unindent does not match any outer indentation level", nxt,
                           "line it up with the block it belongs to")
        return nl

    def _eof(self):
        if self.brackets:
            raise _Reparse(frozenset(b.start_pos for b in self.brackets))
        if not self.done:
            self.done = True
            if self.last_type not in (None, "_NEWLINE"):
                self.pending.append(self._at_end("_NEWLINE"))
            while len(self.levels) > 1:
                self.levels.pop()
                if not self.phantom.pop():
                    self.pending.append(self._at_end("_DEDENT"))
            self.pending.append(self._at_end("$END"))
        if len(self.pending) > 1:
            return self.pending.popleft()
        return self.pending[0]   # $END, for ever

    # -- error recovery hooks
    def unread(self, tok) -> None:
        self.pending.appendleft(tok)

    def phantom_top(self) -> None:
        """The INDENT just handed out was refused: drop it and its DEDENT."""
        if len(self.phantom) > 1:
            self.phantom[-1] = True


# ------------------------------------------------------------------ driver
class _Stuck(Exception):
    def __init__(self, expected: frozenset):
        self.expected = expected


class _Run:
    """One parse: feeds the layout's tokens to the LALR table, and when the
    table refuses one, reports it and recovers at the next statement."""

    def __init__(self, text: str, file: str, engine=None):
        self.text, self.file, self.engine = text, file, engine
        self.diags: list = []

    def parse(self):
        never_closed: frozenset = frozenset()
        while True:
            try:
                return self._parse(never_closed)
            except _Reparse as r:
                # rare: some bracket is never closed; find the errors again
                # with those brackets reported and out of the way
                never_closed = r.never_closed
                self.diags.clear()

    def _suppressed(self, tok, leader) -> bool:
        """One report per statement: skip errors that follow from one already
        reported in the same statement (a bad character, an unclosed '(')."""
        if len(self.diags) >= MAX_ERRORS:
            return True
        first = leader.line if leader is not None else tok.line
        return any(d.span is not None and first <= d.span.line <= tok.line for d in self.diags)

    def _parse(self, never_closed: frozenset):
        eng = self.engine or _get_engine()
        _ctx.file, _ctx.diags = self.file, self.diags
        lay = _Layout(_lex(eng, self.text + "\n", self.file, self.diags),
                      self.text, self.file, self.diags, eng.Token, never_closed)
        actions, gotos, end_state = eng.actions, eng.gotos, eng.end
        ss, vs = [eng.start], []
        self.ss, self.vs = ss, vs

        def feed(tok, is_end=False):
            ty = tok.type
            while True:
                act = actions[ss[-1]].get(ty)
                if act is None:
                    raise _Stuck(frozenset(actions[ss[-1]]))
                if act.__class__ is int:
                    ss.append(act)
                    vs.append(tok)
                    return None
                size, callback, origin = act
                if callback is None:             # a unit rule: keep the child
                    ss[-1] = gotos[ss[-2]][origin]
                else:
                    if size:
                        children = vs[-size:]
                        del ss[-size:]
                        del vs[-size:]
                    else:
                        children = []
                    vs.append(callback(children))
                    ss.append(gotos[ss[-1]][origin])
                if is_end and ss[-1] == end_state:
                    return vs[-1]

        prev = leader = line_leader = header = last_err = None
        resync = False
        while True:
            tok = lay.next()
            ty = tok.type
            if resync:
                if ty == "_NEWLINE":
                    continue
                if ty == "_INDENT":      # the body of a header we threw away
                    lay.phantom_top()
                    continue
                resync = False
            if leader is None and ty not in _LAYOUT:
                leader = tok
                if line_leader is None:
                    line_leader = tok
            try:
                if ty == "$END":
                    return feed(tok, True)
                feed(tok)
            except _Stuck as e:
                if not self._suppressed(tok, leader):
                    self.diags.append(explain(Situation(
                        self.file, tok, prev, e.expected, leader, header,
                        lay.brackets[-1] if lay.brackets else None)))
                if len(self.diags) >= MAX_ERRORS:
                    return None
                if ty == "_INDENT":
                    lay.phantom_top()
                    continue
                if (leader is not None and leader.type in _TEST_HEADS and ty not in _LAYOUT
                        and self._repair_header(leader, gotos)):
                    # keep the if/while/for with a stand-in condition, so its
                    # block (and any elif/else) still parses as one
                    t2 = tok
                    while t2.type not in ("_NEWLINE", "$END") and not (
                            t2.type == "COLON" and not lay.brackets):
                        t2 = lay.next()
                    if t2.type == "COLON":
                        try:
                            feed(t2)
                            prev, leader, last_err = t2, None, tok
                            continue
                        except _Stuck:
                            pass
                    tok, ty = t2, t2.type
                self._unwind(gotos)
                if ty == "$END":
                    try:
                        return feed(tok, True)
                    except _Stuck:
                        return None
                if ty == "_NEWLINE":
                    resync = True
                elif prev is None and tok is not last_err:
                    lay.unread(tok)        # it may well start the next statement
                elif ty == "_DEDENT":
                    return None
                else:                      # skip the rest of the line ($END repeats)
                    while lay.next().type not in ("_NEWLINE", "$END"):
                        pass
                    resync = True
                last_err = tok
                prev = leader = None
                continue
            if ty == "_NEWLINE":
                header, prev, leader, line_leader = line_leader, None, None, None
            elif ty in ("_INDENT", "_DEDENT", "SEMICOLON"):
                prev = leader = None
            else:
                prev = tok
                if ty == "COLON" and leader is not None and leader.type in _BLOCK_HEADS and not lay.brackets:
                    leader = None

    def _repair_header(self, leader, gotos) -> bool:
        """Replace a broken header condition by a stand-in: pop back to the
        keyword that precedes it (`if`, `elif`, `while`, or `in` of a for)."""
        ss, vs = self.ss, self.vs
        want = "IN" if leader.type == "FOR" else leader.type
        for k in range(len(vs) - 1, -1, -1):
            v = vs[k]
            if getattr(v, "type", None) == want and (v is leader or want == "IN"):
                break
            if v is leader:
                return False
        else:
            return False
        g = gotos[ss[k + 1]].get("test")
        if g is None:
            return False
        del ss[k + 2:]
        del vs[k + 1:]
        ss.append(g)
        vs.append(A.Name("?", span_of(leader, self.file)))
        return True

    def _unwind(self, gotos) -> None:
        """Pop the parser back to the innermost point where a statement may
        start and pretend one was parsed there (its value: None)."""
        ss, vs = self.ss, self.vs
        while len(ss) > 1 and "stmt" not in gotos[ss[-1]]:
            ss.pop()
            vs.pop()
        ss.append(gotos[ss[-1]]["stmt"])
        vs.append(None)


def _check_returns(body, diags: list) -> None:
    """'return' outside a function; not where a line already has an error
    (after `def f(x):` with no indented block, its return is a consequence)."""
    noted = {d.span.line for d in diags if d.span is not None}
    todo = list(body)
    while todo:
        s = todo.pop()
        if isinstance(s, A.Return) and s.span.line not in noted:
            diags.append(Diagnostic("syntax", "'return' outside a function", s.span,
                                    "return may only appear inside def"))
        elif isinstance(s, A.If):
            for b in s.bodies:
                todo.extend(b)
            todo.extend(s.orelse)
        elif isinstance(s, (A.For, A.While)):
            todo.extend(s.body)


def _fail(diags: list, text: str, file: str) -> CgraphError:
    lines = text.split("\n")
    uniq, seen = [], set()
    for d in sorted(diags, key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0)):
        key = (d.message, d.span)
        if key in seen:
            continue
        seen.add(key)
        if d.line_text is None and d.span is not None and 0 < d.span.line <= len(lines):
            d = Diagnostic(d.kind, d.message, d.span, d.hint, lines[d.span.line - 1])
        uniq.append(d)
    return CgraphError(uniq).with_source(file, text)


def _normalise(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def parse(text: str, file: str = "<expr>") -> A.Program:
    """Parse cgraph source. Raises `CgraphError` (kind "syntax") holding every
    syntax error found; `Program.source` is the text with line ends as "\\n"."""
    return _parse(text, file, None)


def _parse(text: str, file: str, engine) -> A.Program:
    """`parse` with a given engine (None: the process's own)."""
    if not isinstance(text, str):
        raise TypeError("parse() takes str; use parse_bytes() for bytes")
    text = _normalise(text)
    if len(text) > MAX_SOURCE_CHARS:
        raise _fail([Diagnostic(
            "syntax", f"the source is too long ({len(text) / 1e6:.1f} million characters; "
                      f"the limit is {MAX_SOURCE_CHARS / 1e6:g} million)",
            Span(file, 1, 1, 1, 2), "pass large data as inputs or with load(\"file\")")], text, file)
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        col = nul - (text.rfind("\n", 0, nul) + 1) + 1
        raise _fail([Diagnostic("syntax", "the source contains a NUL character; is it a binary file?",
                                Span(file, line, col, line, col + 1))], text, file)
    run = _Run(text, file, engine)
    # A long source makes a million acyclic objects (tokens, nodes, spans);
    # the cycle collector would rescan them all again and again, which makes
    # parsing superlinear (2x slower at 100,000 statements). Pause it.
    pause = len(text) > _GC_PAUSE_CHARS and gc.isenabled()
    if pause:
        gc.disable()
    try:
        body = run.parse()
    finally:
        _ctx.diags = None
        if pause:
            gc.enable()
    if body is not None:
        _check_returns(body, run.diags)
    if run.diags or body is None:
        if not run.diags:    # cannot happen: recovery stops only after reporting
            run.diags.append(Diagnostic("syntax", "invalid syntax", Span(file, 1, 1, 1, 2)))
        raise _fail(run.diags, text, file)
    return A.Program(tuple(body), file, text)


def parse_bytes(data: bytes, file: str = "<expr>") -> A.Program:
    """Decode UTF-8 (a BOM is allowed) and parse; bad UTF-8 is a diagnostic."""
    return _parse_bytes(data, file, None)


def _parse_bytes(data: bytes, file: str, engine) -> A.Program:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start
        head = data[:start].decode("utf-8-sig", errors="replace")
        line = head.count("\n") + 1
        col = len(head) - (head.rfind("\n") + 1) + 1
        shown = _normalise(data.decode("utf-8-sig", errors="replace"))
        raise _fail([Diagnostic(
            "syntax",
            f"the source is not valid UTF-8 (byte 0x{data[start]:02x} at line {line}, column {col})",
            Span(file, line, col, line, col + 1), "save the file as UTF-8")], shown, file)
    return _parse(text, file, engine)
