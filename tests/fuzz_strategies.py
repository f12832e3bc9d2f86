"""Hypothesis strategies for hostile cgraph sources (issue 9: nothing crashes).

Built on `strategies.programs()` (random *valid* programs): each strategy here
starts from one and breaks it, or makes text from nothing.

    from fuzz_strategies import hostile_sources, mutated_programs

    @given(hostile_sources())
    def test_never_crashes(case):
        source, inputs = case          # inputs: values for the program's inputs
        ...

- `mutated_programs()`: a valid program with 1-6 mutations. Most keep the
  text in the language (SEMANTIC: a number made odd, `1e309`, `-0`,
  `99999999999999999999999`; a name swapped for another or a look-alike; an
  operator or a builtin swapped; a hostile snippet such as
  `zeros([1e6, 1e6])`, `load("/dev/zero")` or `while true:` put in as an
  expression or a line), so most runs get past the parser; the others break
  the token stream and layout (RAW: a token deleted, duplicated, swapped,
  replaced or inserted; indentation changed; lines joined or split; the text
  truncated).
- `token_soup()`: a sequence of language tokens and snippets, no structure.
- `random_text()`: any Unicode text; `random_bytes()`: any bytes (decoded
  as the CLI would, UTF-8 with replacement).
- `hostile_sources()`: one of the above (mostly mutated programs), with the
  inputs of the program it came from (possibly no longer matching).

The token vocabulary reads the op registry, so a new builtin is fuzzed as soon
as it is declared.
"""
from __future__ import annotations

import re

import numpy as np
from hypothesis import strategies as st

from cgraph import registry as R
from strategies import INPUTS, programs

KEYWORDS = ["if", "elif", "else", "for", "in", "range", "while", "def", "return", "assert",
            "input", "param", "const", "output", "print", "and", "or", "not", "true", "false",
            "pi", "e", "inf", "nan", "grad", "jacobian", "hessian", "load", "Y", "_"]
PUNCT = ["(", ")", "[", "]", ",", ":", ";", "=", "==", "!=", "<", "<=", ">", ">=", "+", "-",
         "*", "/", "@", "%", "^", "**", "+=", "-=", "*=", "/=", ".", ".T", "#", "\\", "'", '"',
         "\n", "\n    ", "\t", " ", "\r\n", "\x00", "\x0c", "$", "?", "`", "{", "}"]
ODD_NUMBERS = ["0", "-0", "0.0", "1e308", "1e309", "-1e309", "1e-320", "5e-324",
               "99999999999999999999999", "1e6", "-1", "-7", "2.5", "3", "0.5", "1e-3",
               "00", "1.", ".5", "1e", "1e+", "0x10", "1_000", "٣", "²"]
ODD_NAMES = ["θ", "α1", "W_out", "а", "ο", "ℌ", "ﬁ", "_x", "x\u200b", "e\u0301", "Ｘ",
             "𝑥", "a" * 200, "output", "input", "Y", "__class__", "__import__", "exec",
             "eval", "open", "os", "sys"]
#: things a hostile user might write: huge or negative sizes, odd files, bad
#: axes and indices, numerical trouble, deep recursion, endless loops
SNIPPETS = [
    "zeros([1e6, 1e6])", "ones([100000, 100000])", "full([1e9], 1)", "eye(1e6)",
    "randn([1e5, 1e5], seed=1)", "rand([-1])", "zeros([-3, 2])", "zeros([1e400])",
    "zeros([nan])", "zeros([inf])", "arange(0, 1e12)", "arange(0, 1, 0)", "linspace(0, 1, 1e12)",
    "linspace(0, 1, -5)", "reshape(u, [-1, -1])", "reshape(u, [0, -1])", "broadcast_to(a, [1e6, 1e6])",
    "outer(arange(0, 1e5), arange(0, 1e5))", "u[1e20]", "u[-1e20]", "u[0.5]", "u[nan]",
    "u[::0]", "sum(u, axis=1e20)", "sum(u, axis=nan)", "sum(M, axis=[0, 0])", "transpose(M, axes=[0, 0])",
    "one_hot(u, 1e9)", "one_hot([1, 2], -1)", "concat([], axis=0)", "stack([])",
    "einsum(\"ij,jk->ik\", M, M)", "einsum(\"\", a)", "einsum(\"i->ii\", u)",
    "einsum(\"...,...->...\", u, u)", "einsum(\"ij\", M, M)",
    "inv(zeros([3, 3]))", "det(M)", "solve(zeros([2, 2]), v)", "diag(M)", "trace(u)",
    "cross_entropy(M, [5, 7])", "cross_entropy(u, 9)", "cross_entropy(M, [0.5, 1])",
    "norm(u, ord=0)", "norm(u, ord=-inf)", "norm(M, ord=nan)", "clip(u, 1, -1)",
    "log(-1)", "log(0)", "sqrt(-1)", "1 / 0", "0 / 0", "exp(1000)", "asin(2)", "acos(-3)",
    "a % 0", "pow(-8, 1/3)", "(-8) ^ 0.5", "0 ^ -1", "atan2(0, 0)", "inf - inf", "nan",
    "load(\"/dev/zero\")", "load(\"/dev/null\")", "load(\"/etc/passwd\")",
    "load(\"nonexistent.npy\")", "load(\"x.npz\", \"W\")", "load(\"\")", "load(\".\")",
    "load(\"/\")", "load(\"~/.bashrc\")", "load(\"a\\\"b.json\")", "load(\"x.csv\", \"k\")",
    "load(1)", "load(u)", "grad(u, u)", "grad(a, 1)", "grad(a + b, a + b)", "hessian(sum(u^2), u)",
    "jacobian(u, a)", "grad(grad(grad(a^3, a), a), a)", "print(\"</text><script>x</script>\")",
    "print(\"%s%n{}\", a)", "assert false, \"no\"", "assert u > 0", "assert a",
    "while true:\n    a = a + 1\n", "while a > -1e300:\n    a = a - 1\n",
    "def f(x): return f(x)\nf(a)\n", "def g(x): return g(x + 1)\ng(1)\n",
    "for i in range(1e9):\n    a = a + i\n", "for i in range(3, 0, 0):\n    a = 1\n",
    "for i in range(a):\n    b = b + 1\n", "((((((((((((((((((((a))))))))))))))))))))",
    "-" * 40 + "a", "not " * 30 + "true", "a" + " + a" * 200, "[" * 40 + "1" + "]" * 40,
    "u.T.T.T", "M @ M", "M @ u @ u", "u @ M", "a @ b", "matmul(a, b)", "dot(M, M)",
    "where(u, u, u)", "where(M > 0, u, v)", "true + true", "true * u", "sum(true)",
    "argmax(u) + 1", "\"s\" + 1", "print", "print()", "output", "output Y, Y",
    "input a: [n, n]", "input q: [-1]", "input q: [1e9, 1e9]", "input q: [0.5]",
    "param P: [2] = [1, 2, 3]", "param P = a", "const k = a", "const k = 1; k = 2",
    "x = 1; x += x; x -= x; x /= 0", "θ = 1; θ", "e = 2; pi = 3; e * pi",
]


def _vocabulary() -> list[str]:
    return sorted({op.name for op in R.builtins()} | set(KEYWORDS))


VOCAB = _vocabulary()
_TOKEN = re.compile(r'\s+|"(?:[^"\\\n]|\\.)*"|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\w+|\*\*|[<>=!+\-*/]=|.',
                    re.UNICODE)


def tokenize(source: str) -> list[str]:
    """A rough tokenisation (whitespace kept as tokens) that joins back to the source."""
    return _TOKEN.findall(source)


def _insertion():
    return st.one_of(
        st.sampled_from(VOCAB), st.sampled_from(PUNCT), st.sampled_from(ODD_NUMBERS),
        st.sampled_from(ODD_NAMES), st.sampled_from(SNIPPETS),
        st.characters(codec="utf-8").map(str),
        st.text(min_size=1, max_size=4),
    )


OPERATORS = ["+", "-", "*", "/", "@", "%", "^", "**", "<", "<=", ">", ">=", "==", "!=",
             "and", "or"]
#: mutations that keep the text tokenisable as the language (most runs get past the parser)
SEMANTIC = ["number", "number", "name", "operator", "builtin", "snippet_line", "snippet"]
#: mutations of the raw token stream and the layout (mostly syntax errors)
RAW = ["delete", "duplicate", "swap", "replace", "insert", "indent", "join", "split",
       "truncate"]


@st.composite
def mutate(draw, source: str, max_mutations: int = 6, kinds=None) -> str:
    """`source` with 1..max_mutations random mutations (of `kinds`: SEMANTIC + RAW)."""
    kinds = kinds or SEMANTIC + RAW
    tokens = tokenize(source) or [""]
    for _ in range(draw(st.integers(1, max_mutations))):
        kind = draw(st.sampled_from(kinds))
        n = len(tokens)
        i = draw(st.integers(0, max(n - 1, 0)))
        where = lambda test: [k for k, t in enumerate(tokens) if test(t)]  # noqa: E731
        if kind == "delete" and n > 1:
            del tokens[i]
        elif kind == "duplicate":
            tokens.insert(i, tokens[i])
        elif kind == "swap" and n > 1:
            j = draw(st.integers(0, n - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif kind == "replace":
            tokens[i] = draw(_insertion())
        elif kind == "insert":
            tokens.insert(i, draw(_insertion()))
        elif kind == "number":
            spots = where(lambda t: t[:1].isdigit())
            if spots:
                tokens[draw(st.sampled_from(spots))] = draw(st.sampled_from(ODD_NUMBERS))
        elif kind == "name":
            spots = where(lambda t: t[:1].isalpha() and t not in KEYWORDS)
            names = sorted({tokens[k] for k in spots} | set(INPUTS))
            if spots:
                tokens[draw(st.sampled_from(spots))] = draw(st.one_of(
                    st.sampled_from(names), st.sampled_from(ODD_NAMES)))
        elif kind == "operator":
            spots = where(lambda t: t in OPERATORS)
            if spots:
                tokens[draw(st.sampled_from(spots))] = draw(st.sampled_from(OPERATORS))
        elif kind == "builtin":
            spots = [k for k in where(lambda t: t in VOCAB) if k + 1 < n and tokens[k + 1] == "("]
            if spots:
                tokens[draw(st.sampled_from(spots))] = draw(st.sampled_from(VOCAB))
        elif kind == "snippet":
            spots = where(lambda t: t[:1].isalnum())
            if spots:
                tokens[draw(st.sampled_from(spots))] = "(" + draw(st.sampled_from(
                    [s for s in SNIPPETS if "\n" not in s and "=" not in s.replace("==", "")
                     and not s.startswith(("assert", "print", "input", "param", "const",
                                           "output"))])) + ")"
        elif kind in ("indent", "join", "split", "snippet_line"):
            lines = "".join(tokens).split("\n")
            k = draw(st.integers(0, max(len(lines) - 1, 0)))
            if kind == "indent":
                change = draw(st.sampled_from(["    ", "  ", "\t", " ", "dedent", "strip"]))
                if change == "dedent":
                    lines[k] = lines[k][4:] if lines[k].startswith("    ") else lines[k]
                elif change == "strip":
                    lines[k] = lines[k].lstrip()
                else:
                    lines[k] = change + lines[k]
            elif kind == "join" and k + 1 < len(lines):
                lines[k:k + 2] = [lines[k] + draw(st.sampled_from([" ", "; ", ""])) + lines[k + 1]]
            elif kind == "split" and lines[k]:
                cut = draw(st.integers(0, len(lines[k])))
                lines[k:k + 1] = [lines[k][:cut], lines[k][cut:]]
            elif kind == "snippet_line":
                indent = re.match(r"[ \t]*", lines[k]).group(0)
                snippet = draw(st.sampled_from(SNIPPETS))
                if "\n" in snippet:  # a block: at top level, before the output
                    indent, k = "", max(len(lines) - 3, 0)
                    lines.insert(k, snippet.rstrip("\n"))
                else:
                    target = draw(st.sampled_from(["", "h0 = ", "out = ", "a = ", "u = "]))
                    lines.insert(k, indent + target + snippet)
            tokens = tokenize("\n".join(lines)) or [""]
        elif kind == "truncate":
            text = "".join(tokens)
            tokens = tokenize(text[:draw(st.integers(0, len(text)))]) or [""]
    return "".join(tokens)


@st.composite
def mutated_programs(draw, max_mutations: int = 6, **options):
    """(source, inputs): a random valid program (strategies.programs), broken."""
    options.setdefault("max_statements", 4)
    options.setdefault("max_depth", 2)
    source, inputs = draw(programs(**options))
    kinds = draw(st.sampled_from([SEMANTIC, SEMANTIC, SEMANTIC + RAW]))
    return draw(mutate(source, max_mutations, kinds)), inputs


@st.composite
def token_soup(draw, max_size: int = 40):
    pieces = draw(st.lists(st.one_of(st.sampled_from(VOCAB), st.sampled_from(PUNCT),
                                     st.sampled_from(ODD_NUMBERS), st.sampled_from(ODD_NAMES),
                                     st.sampled_from(["a", "b", "u", "v", "M", " "] * 3),
                                     st.sampled_from(SNIPPETS)),
                           max_size=max_size))
    return "".join(pieces)


def random_text():
    return st.text(max_size=200)


def random_bytes():
    return st.binary(max_size=200).map(lambda b: b.decode("utf-8", errors="replace"))


def default_inputs() -> dict:
    """Values for every input `strategies` declares (a, b, u, v, M)."""
    return {n: np.full(s, 0.5) if s else np.float64(0.5) for n, s in INPUTS.items()}


def hostile_sources():
    """(source, inputs): mostly broken valid programs, some soup, text and bytes."""
    unrelated = st.one_of(token_soup(), random_text(), random_bytes())
    return st.one_of(mutated_programs(), mutated_programs(),
                     mutated_programs(), unrelated.map(lambda s: (s, default_inputs())))
