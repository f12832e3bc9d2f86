"""All-scalar loop bodies (and static scalar plans) compiled to one Python
function each.

A loop whose body is all Python-float scalars (`Body.scalar_steps`) runs its
n iterations as a list of generic steps; a step costs a tuple unpacking, a
branch and an indexed store on top of its op. Here the same steps become the
body of one generated Python function (the whole loop: forward, forward
keeping every carry, or a reverse loop), built once per body and kept on it,
so an iteration costs what hand-written Python costs. A static plan that is
all scalars (`execute.Plan`) gets the same once it runs a second time
(`straight`), up to MAX_STRAIGHT steps.

User files are data, and stay data here: the generated text holds nothing
taken from the program. Its only names are ones this module makes (`v12` the
value of body node 12, `f12` the Python-float rule of its op, `k`, `j`,
`rows`…), its only operators those of the fixed table `INFIX` (chosen by the
op's `infix` in the registry, looked up in that table), and it has no
literals at all: every constant, captured value and op rule is passed in as an
argument value, never written as text. `source()` checks the finished text
against exactly that (a word that is not one of those names, or a character
outside the table's, and nothing is compiled), so a program whose names or
strings hold Python code cannot reach the generated code.

The numbers are the step loop's, bit for bit: each op is its `scalar` rule,
or the Python operator that rule is (`operator.add` is `+`); an error the
rules raise (a division by zero where `/` is written, an overflow) makes
`run` answer None and the caller run the step loop instead.
"""
from __future__ import annotations

import re

#: op.infix -> (arity, template); the only operators generated code holds
INFIX = {
    "+": (2, "{0} + {1}"), "-": (2, "{0} - {1}"), "*": (2, "{0} * {1}"), "/": (2, "{0} / {1}"),
    "<": (2, "{0} < {1}"), "<=": (2, "{0} <= {1}"), ">": (2, "{0} > {1}"),
    ">=": (2, "{0} >= {1}"), "==": (2, "{0} == {1}"), "!=": (2, "{0} != {1}"),
    "neg": (1, "-{0}"),
}
#: below this many iterations the step loop is cheaper than compiling
MIN_ITERATIONS = 32
#: above this many steps a straight-line plan is not compiled
MAX_STRAIGHT = 2000
_FIXED = {"def", "for", "in", "range", "return", "n", "start", "step", "istart", "istop",
          "istep", "toint", "k", "j", "rows", "append", "run"}
_WORD = re.compile(r"[A-Za-z_0-9]+")
_SAFE = re.compile(r"[A-Za-z0-9_ ().\[\],=:\n+\-*/<>!]*")
_NAME = re.compile(r"[vfs][0-9]+")
_ERRORS = (OverflowError, ValueError, ZeroDivisionError)


def row(rows, k):
    """A scalar step reading row k of a captured history (a list)."""
    return rows[int(k)]


def same(x):
    """A scalar step copying a value (a carry that is another's element)."""
    return x


def source(text: str) -> str:
    """`text`, checked to hold only generated names and the table's operators."""
    if _SAFE.fullmatch(text) is None:
        raise ValueError("generated loop code holds a character outside its table")
    for w in _WORD.findall(text):
        if w not in _FIXED and _NAME.fullmatch(w) is None:
            raise ValueError(f"generated loop code holds a word it did not make: {w!r}")
    return text


def run(body, compiled, xs, caps, n, start, step, history):
    """The loop on Python floats by its compiled function (`caps`: the captures'
    values, then the history columns' of `compiled`): the carries after n steps
    (a list), or with `history` every carry's row (a list of floats, or of tuples
    with several carries); None where the function does not apply or a float
    rule raised (the step loop then decides)."""
    ints = float(start).is_integer() and float(step).is_integer() and step != 0 \
        and abs(start) + abs(step) * n < 2.0 ** 53
    fn = function(body, compiled, history, ints)
    if fn is None:
        return None
    code, fixed = fn
    istart = int(start) if ints else 0
    istep = int(step) if ints else 1
    try:
        return code(n, start, step, istart, istart + n * istep, istep, int, *xs, *caps, *fixed)
    except _ERRORS:
        return None


def function(body, compiled, history: bool, ints: bool):
    """(the generated function, the values it is passed after the carries and
    captures), built once per body and kind of loop; None where not covered."""
    memo = body.compiled_loops
    if memo is None:
        memo = body.compiled_loops = {}
    key = (history, ints)
    if key not in memo:
        try:
            memo[key] = _build(body, compiled, history, ints)
        except (ValueError, SyntaxError):
            memo[key] = None
    return memo[key]


def _args(a, b) -> list:
    return list(a) if b == -2 else [a] if b == -1 else [a, b]


def _lines(steps, nodes, row_at):
    """The assignments of the steps, and the (id, rule) of each op written as a call."""
    v = "v{}".format
    lines, fns = [], []
    for fn, a, b, o in steps:
        args = _args(a, b)
        if fn is row:
            lines.append(f"{v(o)} = {v(args[0])}[{row_at(args[1])}]")
        elif fn is same:
            lines.append(f"{v(o)} = {v(args[0])}")
        else:
            infix = nodes[o].op.infix
            rule = INFIX.get(infix) if infix is not None else None
            if rule is not None and rule[0] == len(args):
                lines.append(f"{v(o)} = " + rule[1].format(*map(v, args)))
            else:  # the op's own rule, passed in as the value of f<id>
                fns.append((o, fn))
                lines.append(f"{v(o)} = f{o}({', '.join(map(v, args))})")
    return lines, fns


def _define(text: list):
    code = source("\n".join(text) + "\n")
    space: dict = {}
    exec(compile(code, "<cgraph scalar code>", "exec"), space)  # noqa: S102  checked by source()
    return space["run"]


def _build(body, compiled, history, ints):
    _, consts, steps, columns = compiled
    index = body.index
    v = "v{}".format
    state = [v(c) if c is not None else f"s{j}" for j, c in enumerate(body.carries)]
    caps = [v(c) if c is not None else f"s{len(state) + j}" for j, c in enumerate(body.captures)]
    caps += [v(slot) for *_, slot in columns]
    # the index as a float only where something but a take's row number reads it
    float_index = index is not None and (index in body.outs or any(
        index in (_args(a, b)[:1] if fn is row else _args(a, b)) for fn, a, b, o in steps))
    int_index = ints and not float_index
    lines, fns = _lines(steps, body.graph.nodes,
                        lambda k: "j" if int_index and k == index else f"toint({v(k)})")
    if float_index:
        lines.insert(0, f"{v(index)} = start + k * step")
    lines.append(f"{', '.join(state)} = {', '.join(v(o) for o in body.outs)}")
    kept = state[0] if len(state) == 1 else f"({', '.join(state)})"
    if history:
        lines.append(f"append({kept})")
    params = ["n", "start", "step", "istart", "istop", "istep", "toint"] + state + caps \
        + [v(i) for i, _ in consts] + [f"f{o}" for o, _ in fns]
    text = [f"def run({', '.join(params)}):"]
    if history:
        text += [f"    rows = [{kept}]", "    append = rows.append"]
    text.append("    for j in range(istart, istop, istep):" if int_index else
                "    for k in range(n):")
    text += ["        " + line for line in lines]
    text.append("    return rows" if history else f"    return [{', '.join(state)}]")
    return _define(text), tuple(val for _, val in consts) + tuple(fn for _, fn in fns)


def straight(steps, nodes, inputs, targets):
    """A static scalar plan's steps as one function of the values of `inputs` (node
    ids: its leaves and constants) then of the rules it is given back, returning
    the targets' values: (function, rules), or None past MAX_STRAIGHT steps (a
    long script would spend more compiling than it saves)."""
    if len(steps) > MAX_STRAIGHT:
        return None
    v = "v{}".format
    try:
        lines, fns = _lines(steps, nodes, None)
        params = [v(i) for i in inputs] + [f"f{o}" for o, _ in fns]
        text = [f"def run({', '.join(params)}):"] + ["    " + line for line in lines] \
            + [f"    return [{', '.join(v(t) for t in targets)}]"]
        return _define(text), tuple(fn for _, fn in fns)
    except (ValueError, SyntaxError):
        return None
