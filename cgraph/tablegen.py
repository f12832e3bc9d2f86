"""Generate the parser's tables from `grammar/cgraph.lark` (a development step).

    python -m cgraph.tablegen          # rewrites grammar/cgraph.tables.json
    make tables                        # the same

The tables ship with the package and are read at run time by `cgraph.lalr`
without importing lark (see `cgraph.parser_tables`). They are generated here
with lark's public API only:

* the LALR table and the rules come from `Lark.memo_serialize`, the data
  lark's own serialisation tool writes (`python -m lark.tools.serialize`);
* the lexer comes from `Lark.terminals` and `Lark.ignore_tokens` (each
  terminal's `pattern.to_regexp()`, `max_width`, `priority`), ordered and
  combined the way lark's basic lexer documents it: higher priority first,
  then longer matches; a string terminal that a regexp terminal of the same
  priority also matches (a keyword such as `if` and NAME) is found as that
  regexp and retyped by a keyword table;
* each rule's child shaping follows lark's tree-building rules: tokens that
  are filtered out (punctuation, `_NAME` terminals) are dropped, `_rule`
  children are spliced into their parent, `[x]` leaves a None where x is
  absent (`maybe_placeholders`), and a `?rule` with one child is that child.

`tests/test_parser_tables.py` checks that the shipped file is what this
module generates from the shipped grammar, and that the tables lex and parse
exactly as lark itself does.
"""
from __future__ import annotations

import json
import os
import re
import sys

__all__ = ["FORMAT", "LARK_OPTIONS", "generate", "tables_json", "main"]

FORMAT = "cgraph-lalr/2"
"""The shape of the generated data; `cgraph.lalr.Tables` reads this one."""

LARK_OPTIONS = dict(parser="lalr", lexer="basic", maybe_placeholders=True)


def generate(grammar: str) -> dict:
    """The tables of `grammar` as JSON-able data (see `cgraph.lalr.Tables`)."""
    import lark
    from lark import Lark
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    lk = Lark(grammar, **LARK_OPTIONS)
    data, memo = lk.memo_serialize([TerminalDef, Rule])
    return {"format": FORMAT, "grammar": digest(grammar.encode("utf-8")),
            "lark": lark.__version__, "lexer": _lexer(lk.terminals, lk.ignore_tokens),
            **_table(data["parser"]["parser"], memo)}


def digest(data: bytes) -> str:
    """A cheap fingerprint of the grammar the tables were made from (hashlib
    costs ~2 ms to import): Python's hash of an int is the int modulo the
    prime 2**61 - 1, so the bytes read as one number in both byte orders
    give two residues that any small edit changes."""
    return "%016x%016x" % (hash(int.from_bytes(data, "little")) & 0xFFFFFFFFFFFFFFFF,
                           hash(int.from_bytes(data, "big")) & 0xFFFFFFFFFFFFFFFF)


def _has_newline(r: str) -> bool:
    """Whether a regexp may match a line break (lark's own test, so line
    numbers are counted for the same token types)."""
    return "\n" in r or "\\n" in r or "\\s" in r or "[^" in r or ("(?s" in r and "." in r)


def _lexer(terminals, ignore) -> dict:
    terms = sorted(terminals, key=lambda t: (-t.priority, -t.pattern.max_width,
                                             -len(t.pattern.value), t.name))
    strings = [t for t in terms if t.pattern.type == "str"]
    keywords: dict = {}
    embedded = set()
    for rt in (t for t in terms if t.pattern.type == "re"):
        table: dict = {}
        for st in strings:
            s = st.pattern.value
            if st.priority != rt.priority:
                continue
            m = re.match(rt.pattern.to_regexp(), s)
            if m and m.group(0) == s:
                if st.pattern.flags:
                    raise ValueError(f"keyword {st.name} has flags; the runtime cannot retype it")
                table.setdefault(s, st.name)
                if set(st.pattern.flags) <= set(rt.pattern.flags):
                    embedded.add(st.name)
        if table:
            keywords[rt.name] = table
    kept = [t for t in terms if t.name not in embedded]
    pattern = "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in kept)
    return {"patterns": [[pattern, 0]],
            "newline": sorted(t.name for t in terminals if _has_newline(t.pattern.to_regexp())),
            "ignore": sorted(ignore), "keywords": keywords}


def _shape(rule: dict) -> list:
    """[origin, length, callback name, expand1, filter]: how the tree builder
    shapes a rule's children (filter: [[index, splice, Nones before], Nones
    after], or None when every child is kept as it is)."""
    opts, exp = rule["options"], rule["expansion"]
    alias = rule["alias"]
    name = alias or opts["template_source"] or rule["origin"]["name"]
    empty = opts["empty_indices"]
    if empty:       # "how many Nones before child i" from [x]'s empty slots
        before = [len(run) for run in "".join(str(int(b)) for b in empty).split("0")]
    else:
        before = [0] * (len(exp) + 1)
    include, nones = [], 0
    for i, sym in enumerate(exp):
        nones += before[i]
        is_term = sym["__type__"] == "Terminal"
        if opts["keep_all_tokens"] or not (is_term and sym["filter_out"]):
            include.append([i, not is_term and sym["name"].startswith("_"), nones])
            nones = 0
    nones += before[len(exp)]
    filt = None
    if empty or len(include) < len(exp) or any(splice for _, splice, _ in include):
        filt = [include, nones]
    return [rule["origin"]["name"], len(exp), name, bool(opts["expand1"] and not alias), filt]


def _table(parser: dict, memo: dict) -> dict:
    """Per state, terminal -> shift (state) / reduce (-1 - rule), and
    nonterminal -> goto. lark numbers states in the order its analysis met
    them, which varies from run to run (set order follows string hashes),
    so states are renumbered breadth-first from the start, symbols in
    sorted order, and rules are sorted: the same grammar gives the same file."""
    shapes = {int(k): _shape(v) for k, v in memo.items() if v["__type__"] == "Rule"}
    rules = sorted({json.dumps(r, sort_keys=True) for r in shapes.values()})
    index = {k: rules.index(json.dumps(r, sort_keys=True)) for k, r in shapes.items()}
    origins = {r[0] for r in shapes.values()}
    tokens = {int(k): v for k, v in parser["tokens"].items()}
    rows = {int(s): {tokens[int(t)]: (a, arg) for t, (a, arg) in row.items()}
            for s, row in parser["states"].items()}
    start, = parser["start_states"].values()
    end, = parser["end_states"].values()
    number = {start: 0}
    order = [start]
    for s in order:         # grows while it is walked: breadth-first
        for sym in sorted(rows[s]):
            action, arg = rows[s][sym]
            if action == 0 and int(arg) not in number:
                number[int(arg)] = len(order)
                order.append(int(arg))
    if end not in number:
        number[end] = len(order)
        order.append(end)
    states = []
    for s in order:
        acts, gotos = {}, {}
        for sym, (action, arg) in rows[s].items():
            if action == 0:         # shift (or goto, for a nonterminal)
                (gotos if sym in origins else acts)[sym] = number[int(arg)]
            else:                   # reduce by a rule
                acts[sym] = -1 - index[int(arg["@"])]
        states.append([acts, gotos])
    return {"rules": [json.loads(r) for r in rules], "states": states,
            "start": 0, "end": number[end]}


def tables_json(grammar: str) -> str:
    """The file's text: stable (sorted keys), one state per line."""
    data = generate(grammar)
    states = data.pop("states")
    head = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    rows = ",\n".join(json.dumps(s, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                      for s in states)
    return head[:-1] + ',\n"states":[\n' + rows + "\n]}\n"


def main(argv=None) -> int:
    """Regenerate the checkout's grammar/cgraph.tables.json (or the path given)."""
    grammar_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "grammar")
    source = os.path.join(grammar_dir, "cgraph.lark")
    out = (argv or sys.argv[1:] or [os.path.join(grammar_dir, "cgraph.tables.json")])[0]
    with open(source, encoding="utf-8") as f:
        text = tables_json(f.read())
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)
    print(f"wrote {out} from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
