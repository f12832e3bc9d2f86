"""Human wording for syntax errors.

The parser hands over the offending token, the token before it, the set of
terminals the LALR table would have accepted and a little context (the first
token of the statement, the innermost open bracket); `explain` turns that into
a `Diagnostic` a person would write: "expected an expression after '+'",
never a list of token names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .errors import Diagnostic
from .source import Span

KEYWORDS = frozenset({
    "if", "elif", "else", "for", "in", "while", "def", "return", "assert",
    "and", "or", "not", "true", "false",
})
# keywords only where a statement starts and a name follows
SOFT_KEYWORDS = frozenset({"input", "param", "const", "output"})

KEYWORD_TYPES = frozenset(k.upper() for k in KEYWORDS | SOFT_KEYWORDS)
EXPR_START = frozenset({"NAME", "NUMBER", "STRING", "LPAR", "LSQB", "ADD_OP",
                        "NOT", "TRUE", "FALSE"})
_BINARY_OPS = frozenset({"ADD_OP", "MUL_OP", "POW_OP", "COMP_OP", "AND", "OR"})
OPERAND_END = frozenset({"NAME", "NUMBER", "STRING", "RPAR", "RSQB", "TRUE", "FALSE"})
LINE_END = frozenset({"_NEWLINE", "$END"})
# tokens that, met inside brackets, suggest a statement ran into the next one
_STATEMENT_LIKE = frozenset({"EQUAL", "AUGOP", "COLON", "IF", "ELIF", "ELSE", "FOR",
                             "WHILE", "DEF", "RETURN", "ASSERT"})

# what a block header's ':' follows, by the header's keyword
_COLON_AFTER = {
    "IF": "the if condition",
    "ELIF": "the elif condition",
    "WHILE": "the while condition",
    "ELSE": "'else'",
    "FOR": "'range(...)' in the for statement",
    "DEF": "the function's parameters",
}

# words from Python (or elsewhere) that cgraph does not have
_FOREIGN = {
    "lambda": "cgraph has no lambda; define a function with def",
    "import": "cgraph has no imports; data comes in with load(\"file\")",
    "from": "cgraph has no imports; data comes in with load(\"file\")",
    "class": "cgraph has no classes",
    "pass": "cgraph has no 'pass'",
    "break": "cgraph has no 'break'; loops run over range(...)",
    "continue": "cgraph has no 'continue'",
    "let": "bind a name with: x = ...",
    "var": "bind a name with: x = ...",
    "function": "define a function with: def f(x): return ...",
    "fn": "define a function with: def f(x): return ...",
}

_NICE = {
    "RPAR": "')'", "RSQB": "']'", "COMMA": "','", "COLON": "':'",
    "EQUAL": "'='", "_NEWLINE": "the end of the line", "NAME": "a name",
    "IN": "'in'", "LPAR": "'('", "LSQB": "'['", "SEMICOLON": "';'",
}


@dataclass
class Situation:
    """Where the parser got stuck."""

    file: str
    tok: Any                      # the offending lark Token
    prev: Any                     # the token before it in this statement, or None
    expected: frozenset           # terminal names the parser would have accepted
    leader: Any = None            # first token of the current statement
    header: Any = None            # first token of the previous statement line
    bracket: Any = None           # innermost open bracket, or None


def span_of(tok: Any, file: str) -> Span:
    end_col = tok.end_column if tok.end_line == tok.line else tok.column + max(len(tok), 1)
    if tok.end_line == tok.line and end_col <= tok.column:
        end_col = tok.column + 1
    return Span(file, tok.line, tok.column, tok.line, end_col)


def span_after(tok: Any, file: str) -> Span:
    """One column just past `tok`: where something is missing."""
    return Span(file, tok.end_line, tok.end_column, tok.end_line, tok.end_column + 1)


def describe(tok: Any) -> str:
    ty = tok.type
    if ty == "NAME":
        return f"name '{tok}'"
    if ty == "NUMBER":
        return f"number {tok}"
    if ty == "STRING":
        text = str(tok)
        return "string " + (text if len(text) <= 20 else text[:16] + "...\"")
    if ty == "_NEWLINE":
        return "end of line"
    if ty == "$END":
        return "end of input"
    if ty == "_INDENT":
        return "indentation"
    if ty == "_DEDENT":
        return "end of the indented block"
    if ty in KEYWORD_TYPES:
        return f"keyword '{tok}'"
    return f"'{tok}'"


def _quote(tok: Any) -> str:
    return f"'{tok}'"


def _keyword_hint(word: str) -> str:
    return f"'{word}' is a keyword and cannot be used as a name; try '{word}_'"


def explain(s: Situation) -> Diagnostic:
    msg, span, hint = _explain(s)
    b, t = s.bracket, s.tok
    if b is not None and b.line < t.line and t.type in _STATEMENT_LIKE:
        # the statement ran on into this line only because a bracket is open
        closer = ")" if b.type == "LPAR" else "]"
        hint = f"is the '{b}' opened at {b.line}:{b.column} missing its '{closer}'?"
    return Diagnostic("syntax", msg, span, hint)


def _explain(s: Situation) -> tuple[str, Span, Optional[str]]:
    t, p, E, f = s.tok, s.prev, s.expected, s.file
    ty = t.type
    here = span_of(t, f)
    at_end = ty in LINE_END
    missing = span_after(p, f) if (at_end and p is not None) else here
    leader = s.leader.type if s.leader is not None else None

    if ty == "_INDENT":
        return ("this line is indented more than the block it belongs to", here,
                "a block is indented only after a line ending in ':'")

    if E and E <= {"_INDENT"}:
        h = s.header
        if h is not None and h.type in _COLON_AFTER:
            what = f"the '{h}' statement on line {h.line}"
        else:
            what = f"line {h.line}" if h is not None else "':'"
        return (f"expected an indented block after {what}", here,
                "indent the lines of the block (4 spaces is usual)")

    # `for = 3`: a keyword where a name was meant
    if (p is not None and p is s.leader and p.type in KEYWORD_TYPES
            and ty in ("EQUAL", "AUGOP")):
        return (f"'{p}' is a keyword and cannot be used as a name", span_of(p, f),
                f"choose another name, such as '{p}_'")

    if (p is not None and p.type == "NAME" and p is s.leader and p.value in SOFT_KEYWORDS
            and ty not in E):
        return (f"expected a name after '{p}'", missing,
                f"for example: {p} x" + (" = 0" if p.value in ("param", "const") else ""))

    if ty == "EQUAL" and p is not None and p.type == "POW_OP" and p.end_pos == t.start_pos:
        x = s.leader if s.leader is not None and s.leader.type == "NAME" else "x"
        return (f"there is no '{p}=' operator", span_of(p, f).to(here),
                f"write it out: {x} = {x} {p} ...")

    if ty in KEYWORD_TYPES and ty not in E and ("NAME" in E or "DOT" in E):
        if ty in ("ELSE", "ELIF") and p is None:
            return (f"'{t}' without a matching 'if'", here,
                    f"'{t}' must line up with the 'if' of the block above it")
        if "NAME" in E:
            return (f"unexpected keyword '{t}'", here, _keyword_hint(str(t)))

    if "NAME" in E and "NUMBER" in E and ty not in E:
        # an operand was expected
        if p is None:
            hint = None
            if ty in ("MUL_OP", "POW_OP", "COMP_OP", "EQUAL", "AUGOP"):
                hint = f"there is nothing on the left of '{t}'"
            return (f"unexpected {describe(t)}", here, hint)
        hint = None
        if ty == "EQUAL" and p.type == "EQUAL":
            hint = "'=' binds a name; to compare two values use '=='"
        elif ty == "EQUAL" and p.type == "COMP_OP":
            hint = f"write '{p}=' without a space" if p.value in ("<", ">") else None
        elif p.type == "LPAR" and ty == "RPAR":
            hint = "empty parentheses are not a value"
        elif p.type in ("ADD_OP", "MUL_OP", "POW_OP", "COMP_OP") and ty in (
                "MUL_OP", "POW_OP", "COMP_OP"):
            hint = f"two operators in a row: '{p}' and '{t}'"
        elif at_end and s.bracket is None and p.type in _BINARY_OPS:
            hint = "to continue an expression on the next line, wrap it in ( )"
        return (f"expected an expression after {_quote(p)}", missing, hint)

    if ty in ("IF", "ELSE") and p is not None and p.type in OPERAND_END:
        return (f"unexpected keyword '{t}'", here,
                "cgraph has no 'a if c else b'; use where(c, a, b)")

    if ty == "COMP_OP" and "COMP_OP" not in E:
        return ("comparisons cannot be chained", here,
                "write (a < b) and (b < c)")

    if E == {"IN"}:
        return ("expected 'in' after the loop variable", here,
                "a for loop reads: for i in range(n):")

    if E == {"LPAR"} and leader == "DEF":
        return ("expected '(' after the function's name", here,
                "a function reads: def f(x, y): return x + y")

    if E == {"LSQB"}:
        return (f"expected a shape like [3, n] after ':'", missing, None)

    if "NAME" in E and "NUMBER" not in E and ty != "NAME":
        hint = _keyword_hint(str(t)) if ty in KEYWORD_TYPES else None
        pt = p.type if p is not None else None
        if pt == "DEF":
            msg = "expected the function's name after 'def'"
        elif pt == "FOR":
            msg = "expected a loop variable after 'for'"
        elif pt == "DOT":
            msg = "expected 'T' after '.'"
            hint = "the only attribute is .T (transpose)"
        elif pt in ("INPUT", "PARAM", "CONST", "OUTPUT"):
            msg = f"expected a name after '{p}'"
        elif leader == "DEF" and s.bracket is not None:
            msg = "expected a parameter name"
            if ty != "RPAR" and hint is None:
                hint = "parameters are plain names: def f(x, y):"
        elif p is not None:
            msg = f"expected a name after {_quote(p)}"
        else:
            msg = "expected a name"
        return (msg, missing, hint)

    if ("COLON" in E and leader in _COLON_AFTER and s.bracket is None):
        if ty == "EQUAL" and leader in ("IF", "ELIF", "WHILE"):
            return (f"unexpected '=' in {_COLON_AFTER[leader]}", here,
                    "'=' binds a name; to compare two values use '=='")
        return (f"expected ':' after {_COLON_AFTER[leader]}", missing, None)

    if leader == "PARAM" and at_end and "EQUAL" in E:
        return ("a param needs a default value", missing,
                "for example: param W = zeros([3, 2]) (the command line may override it)")
    if leader == "CONST" and "EQUAL" in E and "NAME" not in E:
        return ("a const needs a value", missing, "for example: const k = 3")

    if ty == "EQUAL":
        if leader == "INPUT":
            return ("an input gets its value from outside the program", here,
                    "for a default value that can be overridden use 'param x = ...'; "
                    "for a fixed value use 'const x = ...'")
        if leader == "OUTPUT":
            return ("'output' names values; it does not assign", here,
                    "bind the value first (y = ...), then write: output y")
        if leader == "DEF" and s.bracket is not None and s.bracket.type == "LPAR":
            return ("a function's parameters take no default values", here,
                    "write def f(u, k) and pass every argument at each call: f(3, 2)")
        if s.bracket is not None and s.bracket.type == "LPAR":
            return ("unexpected '='", here,
                    "keyword arguments are written name=value; to compare use '=='")
        return ("unexpected '='", here, "to compare two values use '=='")

    if ty == "AUGOP":
        return (f"unexpected '{t}'", here, f"'{t}' is a statement of its own: x {t} y")

    if ty in EXPR_START and p is not None and p.type in OPERAND_END:
        hint = "is an operator or a ',' missing between them?"
        if t.line != p.end_line:
            hint = "is a ',' or an operator missing at the end of the previous line?"
        elif p.type == "NUMBER" and ty == "NAME" and p.end_pos == t.start_pos:
            hint = f"to multiply, write {p}*{t}"
        elif p.type == "NAME" and p.value == "print" and p is s.leader:
            hint = "print is called like a function: print(x)"
        elif p.type == "NAME" and p.value in _FOREIGN and p is s.leader:
            hint = _FOREIGN[p.value]
        elif ty == "NAME" and t.value in _FOREIGN:
            hint = _FOREIGN[t.value]
        return (f"unexpected {describe(t)}", here, hint)

    if ty == "COMMA" and s.bracket is not None and s.bracket.type == "LPAR" and "COMMA" not in E:
        return ("unexpected ','", here, "cgraph has no tuples; a list is written [1, 2]")

    if ty == "DOT":
        return ("unexpected '.'", here, "the only attribute is .T (transpose), as in x.T")

    nice = [_NICE[e] for e in sorted(E) if e in _NICE]
    hint = None
    if nice and len(nice) == len(E) and len(nice) <= 3:
        hint = "expected " + " or ".join(nice)
    return (f"unexpected {describe(t)}", here, hint)
