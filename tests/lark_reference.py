"""lark itself, through its public API, as the reference the shipped tables
must agree with: `Lark.lex` for tokens, `Lark.parse` (with cgraph's layout as
the post-lexer and its AST builder as the transformer) for programs."""
from __future__ import annotations

import functools

from lark import Lark
from lark.exceptions import LarkError, UnexpectedCharacters

import cgraph.parse as P
from cgraph.ast_builder import CONTEXT, AstBuilder
from cgraph.layout import Layout, Reparse
from cgraph.parser_tables import grammar_text
from cgraph.tablegen import LARK_OPTIONS


class _LayoutPostlex:
    """cgraph's layout as a lark post-lexer (lark supplies the end itself)."""

    always_accept = ()

    def __init__(self):
        self.text, self.file, self.diags = "", "<expr>", []

    def process(self, stream):
        from lark import Token

        lay = Layout(stream, self.text, self.file, self.diags, Token)
        while True:
            tok = lay.next()
            if tok.type == "$END":
                return
            yield tok


@functools.lru_cache(maxsize=None)
def _larks():
    post = _LayoutPostlex()
    parser = Lark(grammar_text(), transformer=AstBuilder(), postlex=post, **LARK_OPTIONS)
    lexer = Lark(grammar_text(), **LARK_OPTIONS)
    return parser, post, lexer


def lex(text: str, on_error) -> list:
    """lark's tokens of `text` as (type, text, start, line, column, end_line,
    end_column, end). At a character no token matches, `on_error(pos, line,
    column)` says where lexing resumes (cgraph's lexer has the same contract)."""
    lexer = _larks()[2]
    toks = []
    base, line0, col0 = 0, 1, 1         # where the current slice begins
    while True:
        try:
            for t in lexer.lex(text[base:]):
                toks.append((t.type, str(t), base + t.start_pos, line0 + t.line - 1,
                             t.column + (col0 - 1 if t.line == 1 else 0), line0 + t.end_line - 1,
                             t.end_column + (col0 - 1 if t.end_line == 1 else 0), base + t.end_pos))
            return toks
        except UnexpectedCharacters as e:
            pos = base + e.pos_in_stream
            line = line0 + e.line - 1
            col = e.column + (col0 - 1 if e.line == 1 else 0)
            base = on_error(pos, line, col)
            skipped = text[pos:base]
            if "\n" in skipped:
                line0 = line + skipped.count("\n")
                col0 = base - (pos + skipped.rindex("\n") + 1) + 1
            else:
                line0, col0 = line, col + (base - pos)


def parse(text: str, file: str = "<expr>"):
    """("ok", Program) when lark parses `text` and nothing was reported, else
    ("error", None)."""
    from cgraph import ast as A

    parser, post, _ = _larks()
    text = P._normalise(text)
    if "\0" in text or len(text) > P.MAX_SOURCE_CHARS:    # refused before parsing
        return "error", None
    diags: list = []
    post.text, post.file, post.diags = text + "\n", file, diags
    CONTEXT.file, CONTEXT.diags = file, diags
    try:
        body = parser.parse(text + "\n")
    except (LarkError, Reparse):
        return "error", None
    finally:
        CONTEXT.diags = None
    P._check_returns(body, diags)
    if diags:
        return "error", None
    return "ok", A.Program(tuple(body), file, text)
