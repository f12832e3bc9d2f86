"""The front end: grammar, AST mapping, spans, syntax diagnostics, hygiene."""
from __future__ import annotations

import glob
import os
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cgraph.parse as P
import lark_reference as reference
from cgraph import ast as A
from cgraph.errors import CgraphError
from cgraph.records import Frozen
from cgraph.parse import MAX_SOURCE_CHARS, parse, parse_bytes
from cgraph.source import Span

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------ reference
# Every `parse` / `parse_bytes` below is checked against lark itself
# (tests/lark_reference.py, lark's public API over the same grammar): where
# cgraph parses a source, lark gives the same Program; where cgraph reports
# a syntax error, lark refuses the source too.

_REFERENCE_MAX_CHARS = 300_000      # beyond this, lark's own parse is too slow to run each time


def _same(a, b) -> bool:
    """a == b for ASTs and diagnostics, without recursion (the trees of the
    deep-nesting tests are thousands of levels deep)."""
    todo = [(a, b)]
    while todo:
        x, y = todo.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, (tuple, list)):
            if len(x) != len(y):
                return False
            todo.extend(zip(x, y))
        elif isinstance(x, Frozen):
            todo.extend((getattr(x, n), getattr(y, n)) for n in x.__slots__)
        elif x != y:
            return False
    return True


def _checked(fn):
    def run(src, file="<expr>"):
        text = src
        if isinstance(src, bytes):
            try:
                text = src.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = None
        check = isinstance(text, str) and len(text) <= _REFERENCE_MAX_CHARS
        try:
            prog = fn(src, file)
        except CgraphError:
            if check:
                assert reference.parse(text, file)[0] == "error", f"lark parses {src!r}, cgraph refuses it"
            raise
        if check:
            kind, ref = reference.parse(text, file)
            assert kind == "ok", f"cgraph parses {src!r}, lark refuses it"
            assert _same(prog, ref), f"cgraph and lark disagree on {src!r}"
        return prog
    return run


@pytest.fixture(autouse=True)
def against_lark(monkeypatch):
    g = globals()
    monkeypatch.setitem(g, "parse", _checked(P.parse))
    monkeypatch.setitem(g, "parse_bytes", _checked(P.parse_bytes))


# ---------------------------------------------------------------- helpers
def sx(n) -> str:
    """A compact, fully parenthesised rendering of an expression."""
    if n is None:
        return ""
    if isinstance(n, A.Num):
        return str(int(n.value)) if n.value == int(n.value) else repr(n.value)
    if isinstance(n, A.Name):
        return n.id
    if isinstance(n, A.Bool):
        return "true" if n.value else "false"
    if isinstance(n, A.Str):
        return '"' + n.value + '"'
    if isinstance(n, A.ListLit):
        return "[" + " ".join(sx(i) for i in n.items) + "]"
    if isinstance(n, A.Unary):
        return f"({n.op} {sx(n.operand)})"
    if isinstance(n, A.Binary):
        return f"({n.op} {sx(n.left)} {sx(n.right)})"
    if isinstance(n, A.Chain):
        return "(" + sx(n.first) + "".join(f" {o} {sx(r)}" for o, r in zip(n.ops, n.rest)) + ")"
    if isinstance(n, A.Call):
        parts = [sx(a) for a in n.args] + [f"{k.name}={sx(k.value)}" for k in n.kwargs]
        return f"{n.func}(" + ", ".join(parts) + ")"
    if isinstance(n, A.Slice):
        return f"{sx(n.start)}:{sx(n.stop)}:{sx(n.step)}"
    if isinstance(n, A.Index):
        return sx(n.value) + "[" + ", ".join(sx(i) for i in n.items) + "]"
    if isinstance(n, A.Transpose):
        return sx(n.value) + ".T"
    raise TypeError(n)


def expr(src: str):
    prog = parse(src)
    assert len(prog.body) == 1 and isinstance(prog.body[0], A.ExprStmt), prog.body
    return prog.body[0].value


def errors(src: str, file: str = "<expr>"):
    with pytest.raises(CgraphError) as info:
        parse(src, file)
    return info.value.errors


def where(d) -> str:
    return f"{d.span.line}:{d.span.column}"


# ------------------------------------------------------------- precedence
@pytest.mark.parametrize("src, tree", [
    ("-x^2", "(- (^ x 2))"),
    ("-x**2", "(- (^ x 2))"),
    ("2^3^2", "(^ 2 (^ 3 2))"),
    ("2**3**2", "(^ 2 (^ 3 2))"),
    ("x ^ -2", "(^ x (- 2))"),
    ("-2^-3^2", "(- (^ 2 (- (^ 3 2))))"),
    ("a+b*c", "(a + (b * c))"),
    ("a*b+c*d", "((a * b) + (c * d))"),
    ("a - b - c + d", "(a - b - c + d)"),
    ("a / b * c % d @ e", "(a / b * c % d @ e)"),
    ("-x * y", "((- x) * y)"),
    ("2 * -3", "(2 * (- 3))"),
    ("+a", "(+ a)"),
    ("(a + b) * c", "((a + b) * c)"),
    ("((((x))))", "x"),
    ("not a < b", "(not (< a b))"),
    ("not not a", "(not (not a))"),
    ("a or b and c", "(a or (b and c))"),
    ("a and b or c and d", "((a and b) or (c and d))"),
    ("not a and b", "((not a) and b)"),
    ("a == b or c", "((== a b) or c)"),
    ("a < b + c", "(< a (b + c))"),
    ("a + b <= c * d", "(<= (a + b) (c * d))"),
    ("a != b", "(!= a b)"),
    ("x.T @ y", "(x.T @ y)"),
    ("a @ b.T", "(a @ b.T)"),
    ("f(x)[0].T", "f(x)[0].T"),
    ("-a.T", "(- a.T)"),
    ("x[1:2] ^ 2", "(^ x[1:2:] 2)"),
    ("x.T.T", "x.T.T"),
    ("-f(x)^2", "(- (^ f(x) 2))"),
])
def test_precedence(src, tree):
    assert sx(expr(src)) == tree


def test_power_is_normalised_to_caret():
    e = expr("a ** b")
    assert isinstance(e, A.Binary) and e.op == "^"


def test_sums_and_products_are_nary_chains():
    e = expr("a + b - c + d")
    assert isinstance(e, A.Chain) and e.ops == ("+", "-", "+")
    assert [sx(r) for r in e.rest] == ["b", "c", "d"]
    e = expr("a and b and c")
    assert isinstance(e, A.Chain) and e.ops == ("and", "and")


# ------------------------------------------------------------ expressions
@pytest.mark.parametrize("src, tree", [
    ("sum(x, axis=0, keepdims=true)", "sum(x, axis=0, keepdims=true)"),
    ("f()", "f()"),
    ("f(1, 2,)", "f(1, 2)"),
    ('einsum("ij,jk->ik", a, b)', 'einsum("ij,jk->ik", a, b)'),
    ("reshape(x, [-1, 3])", "reshape(x, [(- 1) 3])"),
    ("transpose(x, axes=none)", "transpose(x, axes=none)"),
    ("x[::-1]", "x[::(- 1)]"),
    ("x[:, 0]", "x[::, 0]"),
    ("x[i, a:b:c, ::-1, :]", "x[i, a:b:c, ::(- 1), ::]"),
    ("x[1:, :-1, ::2]", "x[1::, :(- 1):, ::2]"),
    ("x[-1]", "x[(- 1)]"),
    ("x[idx]", "x[idx]"),
    ("[[1, 2], [3, 4]]", "[[1 2] [3 4]]"),
    ("[]", "[]"),
    ("[1, 2,]", "[1 2]"),
    ("[[1.5, -2e-3], [.5, 1e3]]", "[[1.5 (- 0.002)] [0.5 1000]]"),
    ("true", "true"),
    ("false", "false"),
    ("θ + α1 * W_out", "(θ + (α1 * W_out))"),
    ("pi * e", "(pi * e)"),
])
def test_expressions(src, tree):
    assert sx(expr(src)) == tree


def test_numbers_and_strings():
    assert expr("1e-3").value == pytest.approx(1e-3)
    assert expr("3").value == 3.0 and isinstance(expr("3").value, float)
    assert expr(r'"a\"b\n"').value == 'a"b\n'
    assert expr("'single'").value == "single"
    assert expr(r'load("C:\data\x.npy")').args[0].value == r"C:\data\x.npy"


def test_keyword_arguments():
    c = expr("softmax(x, axis=-1)")
    assert c.func == "softmax" and [sx(a) for a in c.args] == ["x"]
    assert [(k.name, sx(k.value)) for k in c.kwargs] == [("axis", "(- 1)")]


def test_unicode_names_are_nfkc_normalised():
    e = expr("ﬁ + x")          # the 'fi' ligature is the name fi, as in Python
    assert e.first.id == "fi"


# ------------------------------------------------------------- statements
def test_seed_program():
    prog = parse((ROOT / "examples" / "seed.cg").read_text(encoding="utf-8"), "seed.cg")
    assert [s.target for s in prog.body] == ["a", "b", "c", "d", "e", "Y"]
    assert sx(prog.body[-1].value) == "(d * e)"
    assert prog.file == "seed.cg"


def test_bare_expression_is_one_expr_stmt():
    prog = parse("(a + b) * (b - c)")
    assert len(prog.body) == 1 and isinstance(prog.body[0], A.ExprStmt)
    assert sx(prog.body[0].value) == "((a + b) * (b - c))"


def test_assignments():
    a, b, c, d, e = parse("x = 1\nx += 2\nx -= 3\nx *= 4\nx /= 5").body
    assert (a.target, a.op) == ("x", None)
    assert [s.op for s in (b, c, d, e)] == ["+", "-", "*", "/"]
    assert all(isinstance(s, A.Assign) for s in (a, b, c, d, e))


def test_declarations():
    body = parse(
        "input x\n"
        "input x2: [3, n]\n"
        "input s: []\n"
        "param W = randn([3, 2], seed=1)\n"
        "param V: [784, 10] = zeros([784, 10])\n"
        "const k = 3\n"
        "output y\n"
        "output loss, y\n").body
    i1, i2, i3, p1, p2, c, o1, o2 = body
    assert (i1.name, i1.shape) == ("x", None)
    assert [sx(d) for d in i2.shape] == ["3", "n"]
    assert isinstance(i2.shape[0], A.Num) and isinstance(i2.shape[1], A.Name)
    assert i3.shape == ()
    assert (p1.name, p1.shape, sx(p1.value)) == ("W", None, "randn([3 2], seed=1)")
    assert [sx(d) for d in p2.shape] == ["784", "10"]
    assert (c.name, sx(c.value)) == ("k", "3")
    assert o1.names == ("y",) and o2.names == ("loss", "y")
    assert o2.name_spans[1] == Span("<expr>", 8, 14, 8, 15)


def test_declaration_words_are_names_elsewhere():
    body = parse("output = relu(h)\ninput = 2\ny = input + output\nparam(3)").body
    assert [type(s).__name__ for s in body] == ["Assign", "Assign", "Assign", "ExprStmt"]
    assert body[0].target == "output" and sx(body[2].value) == "(input + output)"


def test_print_and_assert():
    p, q, a, b = parse('print(x)\nprint(a, b)\nassert x > 0, "x must be positive"\nassert y').body
    assert isinstance(p, A.Print) and [sx(x) for x in p.args] == ["x"]
    assert [sx(x) for x in q.args] == ["a", "b"]
    assert isinstance(a, A.Assert) and sx(a.cond) == "(> x 0)" and a.message == "x must be positive"
    assert b.message is None


def test_functions():
    f, g = parse("def f(x, y):\n    z = x * y\n    return z + 1\ndef g(x): return f(x, x) ^ 2").body
    assert isinstance(f, A.FuncDef) and f.params == ("x", "y")
    assert [type(s).__name__ for s in f.body] == ["Assign", "Return"]
    assert g.params == ("x",) and len(g.body) == 1 and isinstance(g.body[0], A.Return)
    assert sx(g.body[0].value) == "(^ f(x, x) 2)"
    h, = parse("def h(): return 1").body
    assert h.params == ()


def test_for_while_if():
    src = (
        "for i in range(n):\n"
        "    s += i\n"
        "for j in range(1, 10, 2): t = j\n"
        "while s < 100:\n"
        "    s *= 2\n"
        "if a:\n"
        "    x = 1\n"
        "elif b: x = 2\n"
        "elif c:\n"
        "    x = 3\n"
        "else:\n"
        "    x = 4\n"
        "    y = 5\n"
        "if d:\n"
        "    z = 0\n")
    f1, f2, w, i1, i2 = parse(src).body
    assert (f1.var, [sx(a) for a in f1.args]) == ("i", ["n"])
    assert [sx(a) for a in f2.args] == ["1", "10", "2"] and len(f2.body) == 1
    assert isinstance(w, A.While) and sx(w.cond) == "(< s 100)"
    assert [sx(c) for c in i1.conds] == ["a", "b", "c"]
    assert [[s.target for s in b] for b in i1.bodies] == [["x"], ["x"], ["x"]]
    assert [s.target for s in i1.orelse] == ["x", "y"]
    assert i2.orelse == ()


def test_nested_blocks_and_tabs():
    src = "def f(x):\n\tfor i in range(3):\n\t\tif i > 1:\n\t\t\tx = x + i\n\treturn x\ny = f(1)\n"
    f, y = parse(src).body
    loop = f.body[0]
    assert isinstance(loop, A.For) and isinstance(loop.body[0], A.If)
    assert loop.body[0].bodies[0][0].target == "x"
    assert isinstance(f.body[1], A.Return) and y.target == "y"


def test_separators_comments_blank_lines():
    src = "# header\n\na = 1; b = 2;   # trailing\n\n    # an indented comment\n\nc = a + b  # done\n"
    body = parse(src).body
    assert [s.target for s in body] == ["a", "b", "c"]


def test_brackets_continue_lines():
    body = parse("y = f(\n    1,\n        2,\n)\nz = [[1, 2],\n     [3, 4]]\n"
                 "w = (a\n+ b)\nv = 1 + \\\n  2").body
    assert [s.target for s in body] == ["y", "z", "w", "v"]
    assert sx(body[1].value) == "[[1 2] [3 4]]"
    assert sx(body[3].value) == "(1 + 2)"


@pytest.mark.parametrize("src", ["", "\n\n", "# only a comment", "# a\n   # b\n\n", "  \t  "])
def test_empty_programs(src):
    assert parse(src).body == ()


def test_line_endings_and_missing_final_newline():
    crlf = parse("a = 1\r\nif a:\r\n    b = 2\r\n")
    lf = parse("a = 1\nif a:\n    b = 2\n")
    assert [type(s) for s in crlf.body] == [type(s) for s in lf.body]
    assert crlf.body[1].bodies[0][0].span == lf.body[1].bodies[0][0].span
    assert "\r" not in crlf.source
    assert parse("x = 1\ny = 2").body[1].target == "y"
    assert parse("if a:\n    b = 1").body[0].bodies[0][0].target == "b"
    assert parse("\ufeffx = 1").body[0].span.column == 1


def test_leading_indentation_of_a_one_liner_is_fine():
    assert sx(parse("   (a+b)*(b-c)").body[0].value) == "((a + b) * (b - c))"


# ------------------------------------------------------------------ spans
def test_spans():
    prog = parse("y = f(a, b=2)[0].T\nif θ > 1:\n    z = -y^2\n", "s.cg")
    asg, ifs = prog.body
    assert asg.span == Span("s.cg", 1, 1, 1, 19)
    assert asg.target_span == Span("s.cg", 1, 1, 1, 2)
    t = asg.value
    assert isinstance(t, A.Transpose) and t.span == Span("s.cg", 1, 5, 1, 19)
    idx = t.value
    assert idx.span == Span("s.cg", 1, 5, 1, 17)
    call = idx.value
    assert call.span == Span("s.cg", 1, 5, 1, 14) and call.func_span == Span("s.cg", 1, 5, 1, 6)
    assert call.kwargs[0].span == Span("s.cg", 1, 10, 1, 13)
    assert ifs.span == Span("s.cg", 2, 1, 3, 13)
    cond = ifs.conds[0]
    assert cond.span == Span("s.cg", 2, 4, 2, 9) and cond.left.span == Span("s.cg", 2, 4, 2, 5)
    neg = ifs.bodies[0][0].value
    assert neg.span == Span("s.cg", 3, 9, 3, 13) and neg.operand.span == Span("s.cg", 3, 10, 3, 13)


def test_chain_and_slice_spans():
    e = expr("a + bb * c")
    assert e.span == Span("<expr>", 1, 1, 1, 11)
    assert e.rest[0].span == Span("<expr>", 1, 5, 1, 11)
    s = expr("x[::-1]").items[0]
    assert s.span == Span("<expr>", 1, 3, 1, 7)
    lst = expr("[1, [2]]")
    assert lst.span == Span("<expr>", 1, 1, 1, 9)


# ---------------------------------------------------- syntax error corpus
CORPUS = [
    ("x = 1 +", "1:8", "expected an expression after '+'"),
    ("x = = 2", "1:5", "expected an expression after '='"),
    ("y = (1 + 2\nz = 3", "1:5", "'(' opened at 1:5 is never closed"),
    ("x = [1, 2", "1:5", "'[' opened at 1:5 is never closed"),
    ("x = 1)", "1:6", "unexpected ')'"),
    ("x = [1, 2)", "1:10", "')' does not match '[' opened at 1:5"),
    ("if x\n    y = 1", "1:5", "expected ':' after the if condition"),
    ("while x < 3\n    x += 1", "1:12", "expected ':' after the while condition"),
    ("if a:\n    x = 1\nelse\n    x = 2", "3:5", "expected ':' after 'else'"),
    ("def f(x) return x", "1:10", "expected ':' after the function's parameters"),
    ("if x = 3:\n    y = 1", "1:6", "unexpected '=' in the if condition"),
    ("def f(x):\nreturn x", "2:1", "expected an indented block after the 'def' statement on line 1"),
    ("def f(x):", "1:10", "expected an indented block"),
    ("x = 1\n    y = 2", "2:5", "this line is indented more than the block it belongs to"),
    ("if a:\n        x = 1\n    y = 2", "3:5", "unindent does not match any outer indentation level"),
    ("if a:\n\tx = 1\n        y = 2", "3:9", "mixes tabs and spaces"),
    ('s = "abc', "1:5", "unterminated string"),
    ("x = 'abc\ny = 2", "1:5", "unterminated string"),
    ("x = 3 $ 4", "1:7", "unexpected character '$'"),
    ("x = 1 !", "1:7", "unexpected character '!'"),
    ("x = 2 \u2212 1", "1:7", "unexpected character '\u2212'"),
    ("return 5", "1:1", "'return' outside a function"),
    ("for = 3", "1:1", "'for' is a keyword and cannot be used as a name"),
    ("x = for + 1", "1:5", "unexpected keyword 'for'"),
    ("a < b < c", "1:7", "comparisons cannot be chained"),
    ("f(x) = x^2", "1:1", "cannot assign to a function call"),
    ("x[0] = 1", "1:1", "cannot assign to an element"),
    ("for i range(3):\n    x = i", "1:7", "expected 'in' after the loop variable"),
    ("for i in 3:\n    x = i", "1:10", "a for loop runs over range(...)"),
    ("for i in range():\n  x = 1", "1:10", "range takes 1 to 3 arguments"),
    ("input x = 3", "1:9", "an input gets its value from outside the program"),
    ("param W", "1:8", "a param needs a default value"),
    ("const k", "1:8", "a const needs a value"),
    ("output 3", "1:8", "expected a name after 'output'"),
    ("output a,", "1:10", "expected a name after ','"),
    ("input", "1:1", "expected a name after 'input'"),
    ("input x: 3", "1:10", "expected a shape like [3, n]"),
    ("input x: [3.5]", "1:11", "a dimension must be a whole number or a name"),
    ('print "hi"', "1:7", 'unexpected string "hi"'),
    ("x = 3y", "1:6", "unexpected name 'y'"),
    ("x = 1 2", "1:7", "unexpected number 2"),
    ("else:\n    x = 1", "1:1", "'else' without a matching 'if'"),
    ("elif x:\n  y = 1", "1:1", "'elif' without a matching 'if'"),
    ("x.shape", "1:3", "unknown attribute '.shape'"),
    ("f(x)(y)", "1:1", "only a named function can be called"),
    ("a = 1 +* 2", "1:8", "expected an expression after '+'"),
    ("y = x @ @ w", "1:9", "expected an expression after '@'"),
    ("x = ()", "1:6", "expected an expression after '('"),
    ("x = f(1,, 2)", "1:9", "expected an expression after ','"),
    ("z = sum(x, axis=)", "1:17", "expected an expression after '='"),
    ('assert x > 0, 3', "1:15", "the message of an assert must be a string"),
    ("f(a=1, 2)", "1:8", "a positional argument cannot follow a keyword argument"),
    ("f(a=1, a=2)", "1:8", "keyword argument 'a' is given twice"),
    ("def f(x, x): return x", "1:10", "parameter 'x' appears twice"),
    ("def (x): return x", "1:5", "expected the function's name after 'def'"),
    ("def f(x, 1): return x", "1:10", "expected a parameter name"),
    ("y **= 2", "1:3", "there is no '**=' operator"),
    ("x = {1, 2}", "1:5", "unexpected character '{'"),
    ("x = 1 if y else 2", "1:7", "unexpected keyword 'if'"),
    ("x = x[1:2:3:4]", "1:12", "unexpected ':'"),
    ("print(x, sep=1)", "1:10", "print takes no keyword arguments"),
    ("x = f(1\ny = 2)", "2:1", "unexpected name 'y'"),
    ("π = 3 ; ; x = 1", "1:9", "unexpected ';'"),
    ("lambda x: x", "1:8", "unexpected name 'x'"),
]


@pytest.mark.parametrize("src, at, message", CORPUS)
def test_syntax_error_corpus(src, at, message):
    errs = errors(src, "bad.cg")
    d = errs[0]
    assert d.kind == "syntax"
    assert message in d.message
    assert where(d) == at
    assert d.span.file == "bad.cg"
    assert d.line_text == src.split("\n")[d.span.line - 1]
    # a person's words, never a token dump
    for jargon in ("Token(", "_NEWLINE", "$END", "RPAR", "LSQB", "expected one of"):
        assert jargon not in d.message and jargon not in (d.hint or "")


@pytest.mark.parametrize("src, hint", [
    ("x = = 2", "'=='"),
    ("for = 3", "for_"),
    ("y **= 2", "y = y ** ..."),
    ("x = 3y", "3*y"),
    ("print 'hi'", "print(x)"),
    ("d = (4 +\ne = 5\nf = 6)", "'(' opened at 1:5 missing its ')'"),
    ("x = 1 if y else 2", "where(c, a, b)"),
    ("t = (1, 2)", "no tuples"),
    ("x = a \u00d7 b", "'*'"),
    ("x.t", ".T"),
])
def test_hints(src, hint):
    assert hint in (errors(src)[0].hint or "")


def test_errors_render_with_caret():
    text = str(CgraphError(errors("x = (1 +\ny = 2", "m.cg")))
    assert "m.cg:1:5: syntax error: '(' opened at 1:5 is never closed" in text
    assert "1 | x = (1 +" in text and "  |     ^" in text


def test_every_error_in_a_file_is_reported():
    src = (
        "def f(x):\n"            # 1
        "    y = x +\n"           # 2  expected an expression
        "    z = y * 2 2\n"       # 3  unexpected number
        "    return z\n"          # 4
        "if x = 1:\n"             # 5  '=' in the if condition
        "    q = 2 +\n"           # 6  expected an expression
        "else\n"                  # 7  expected ':' after 'else'
        "    r = 3\n"             # 8
        "s = $\n"                 # 9  unexpected character
        "u = 1 ]\n"               # 10 unexpected ']'
        "t = (1 +\n")             # 11 never closed
    errs = errors(src)
    assert [where(d) for d in errs] == ["2:12", "3:15", "5:6", "6:12", "7:5", "9:5", "10:7", "11:5"]
    assert "unexpected ']'" in errs[6].message and "never closed" in errs[7].message


def test_recovery_keeps_blocks_and_reports_inside_them():
    errs = errors("if a:\n    b = 1\n  c = 2\nd = ) + 1\ne = [1, 2\nfor i in range(3)\n    x = i +\n")
    assert [where(d) for d in errs] == ["3:3", "4:5", "5:5", "6:18", "7:12"]


def test_one_error_per_statement():
    # the stray '$' is dropped and reported; the rest of its statement is not
    # reported again as "unexpected number"
    assert len(errors("x = 3 $ 4\ny = 2")) == 1


# ------------------------------------------------------------ big inputs
def test_deep_parentheses_do_not_recurse():
    parse("1")                       # build the parser before limiting the stack
    out = {}

    def work():
        out["e"] = expr("(" * 5000 + "x" + ")" * 5000)
        out["n"] = expr("-" * 3000 + "x")
        out["l"] = expr("[" * 2000 + "]" * 2000)

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(250)
    try:
        th = threading.Thread(target=work)
        th.start()
        th.join()
    finally:
        sys.setrecursionlimit(old)
    assert isinstance(out["e"], A.Name) and out["e"].span.column == 5001
    assert isinstance(out["n"], A.Unary) and isinstance(out["l"], A.ListLit)


def test_hundred_thousand_term_sum():
    e = expr("+".join(["x"] * 100_000))
    assert isinstance(e, A.Chain) and len(e.rest) == 99_999 and set(e.ops) == {"+"}
    assert e.span.end_column == 200_000


def test_deep_unclosed_brackets():
    errs = errors("(" * 5000 + "x")
    assert "never closed" in errs[0].message


# ---------------------------------------------------------- input hygiene
def test_invalid_utf8():
    with pytest.raises(CgraphError) as info:
        parse_bytes(b"x = 1\ny = \xff\xfe 2\n", "bin.cg")
    d = info.value.errors[0]
    assert d.kind == "syntax" and "not valid UTF-8" in d.message
    assert where(d) == "2:5" and d.span.file == "bin.cg"
    assert parse_bytes("\ufeffθ = 1\r\n".encode("utf-8")).body[0].target == "θ"


def test_nul_bytes():
    d = errors("x = 1\ny = 2\0\n")[0]
    assert "NUL" in d.message and where(d) == "2:6"
    with pytest.raises(CgraphError):
        parse_bytes(b"\0\0\0\0")


def test_ten_megabytes():
    big = "x = 1\n" * (10 * 2**20 // 6)
    t0 = time.perf_counter()
    d = errors(big)[0]
    assert "too long" in d.message and time.perf_counter() - t0 < 2
    with pytest.raises(CgraphError):
        parse_bytes(big.encode())
    assert MAX_SOURCE_CHARS < len(big)


def test_mixed_tabs_and_spaces():
    # consistent use of either is fine, even mixed within one line...
    assert len(parse("if a:\n\t  x = 1\n\t  y = 2\n").body[0].bodies[0]) == 2
    # ...but indentation that only a tab width could order is an error
    for src in ("if a:\n    x = 1\n\ty = 2\n", "if a:\n\tx = 1\n    y = 2\n"):
        errs = errors(src)
        assert "tabs and spaces" in errs[0].message or "indent" in errs[0].message


def test_odd_characters_never_crash():
    for src in ("\x07", "x = \x1b[31m", "\u2028", "x\x0cy", "\\", "@", "''", '"', "#", "\t"):
        try:
            parse(src)
        except CgraphError as e:
            assert all(d.kind == "syntax" and d.span is not None for d in e.errors)


_PIECES = ["x", "y", "1", "2.5", '"s"', "'", '"', "(", ")", "[", "]", ",", ":", ";", "=",
           "==", "+", "-", "*", "**", "^", "@", "/", "<", "!=", "+=", ".", ".T", " ", "\n",
           "\n    ", "\n\t", "if", "elif", "else", "for", "in", "range(", "while", "def",
           "return", "assert", "input", "param", "const", "output", "print(", "and", "not",
           "true", "#c", "$", "\\", "θ", "\r\n"]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(_PIECES), max_size=30))
def test_fuzz_only_cgraph_errors(pieces):
    src = "".join(pieces)
    try:
        parse(src)
    except CgraphError as e:
        for d in e.errors:
            assert d.kind == "syntax" and d.span.line >= 1 and d.span.column >= 1
            assert d.line_text is not None


# pieces that probe the lexer: Unicode letters and digits (\\w and \\d are
# Unicode-aware), keywords glued to names, numbers in every form, escapes,
# comments, continuation lines, odd whitespace, lone quotes
_LEX_PIECES = ["θ", "ℌ", "ﬁ", "x\u0301", "٣", "_", "x1", "if", "iffy", "in", "int", "or", "orx",
               "not", "nota", "true", "false", "input", "def", "elif", "else", "1", "1.", ".5",
               "1e5", "1.5E-3", "2e", "0x1F", "..", '"a\\"b"', "'c\\n'", '"\\', "'", '"',
               "# c", "#", "\\\n", "\\ \n", "\\", "\t", "\x0c", "\x0b", "\r", "\u00a0",
               "\u2028", " ", "\n", "\n  ", "\n\t", "(", ")", "[", "]", "**=", "<=", "=<", "!",
               "!=", "@", "%", "^", "$", "?", "{", "\u2212", "\x00", ";", ",", ":", "."]


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(_LEX_PIECES),
                          st.characters(exclude_categories=("Cs",))), max_size=40))
def test_lexers_agree(pieces):
    """cgraph's lexer gives exactly lark's tokens (types, text, positions)
    and the same reports of bad characters."""
    from cgraph.bad_chars import BadChars

    src = "".join(pieces) + "\n"
    streams = []
    for lex in (P._parser().tokens, reference.lex):
        diags: list = []
        toks = [t if type(t) is tuple else
                (t.type, str(t), t.start_pos, t.line, t.column, t.end_line, t.end_column, t.end_pos)
                for t in lex(src, BadChars(src, "f.cg", diags))]
        streams.append((toks, diags))
    assert streams[0] == streams[1]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(_LEX_PIECES + _PIECES), max_size=40))
def test_engines_agree_on_odd_sources(pieces):
    try:
        parse("".join(pieces))      # parsed by cgraph and by lark, compared
    except CgraphError:
        pass


def test_concurrent_parses():
    srcs = [f"x{i} = {i} +\n" if i % 3 == 0 else f"y = {i} * z" for i in range(60)]

    def one(s):
        try:
            return ("ok", parse(s, s).body[0].span.file)
        except CgraphError as e:
            return ("err", e.errors[0].span.file)

    results = {}
    ths = [threading.Thread(target=lambda s=s: results.__setitem__(s, one(s))) for s in srcs]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    for s in srcs:
        assert results[s] == ("err" if s.endswith("+\n") else "ok", s)


# ---------------------------------------------------------------- examples
EXAMPLES = sorted(glob.glob(str(ROOT / "examples" / "*.cg")))


def test_seed_example_exists():
    assert any(p.endswith("seed.cg") for p in EXAMPLES)


@pytest.mark.parametrize("path", EXAMPLES, ids=[os.path.basename(p) for p in EXAMPLES])
def test_examples_parse(path):
    prog = parse(Path(path).read_text(encoding="utf-8"), path)
    assert prog.body
