"""Building a static `for` loop as one `loop` node (cgraph.loops) instead of
unrolling it.

The body is built once, by the same builder, into a sub-graph: the loop
variable and every name the body assigns (the carried values) are inputs of
the sub-graph, a value from outside is captured as an input the first time
the body reads it. Whether a loop stays one node is the optimiser's choice
(cgraph.optimize.unroll: a short loop is unrolled, statement by statement with
its i known, so that indexing by i is checked as it is built). A body that is
not one step of fixed shape is unrolled too: print/assert/params/functions/return, random draws (each
iteration draws anew), a carried value whose shape changes, or anything that
needs the loop variable's value while building (x[i], if i == 0).
"""
from __future__ import annotations

from . import ast as A
from .ast_walk import bound_names, calls, derivative_targets, names_read, statements
from .errors import CgraphError
from .ir import Graph
from .loops import Body, pack, unpack

INDEX = "#i"   # the body's input that is the loop variable (never differentiated)
NOT_IN_BODIES = (A.Print, A.Assert, A.Input, A.Param, A.Const, A.FuncDef, A.Output, A.Return,
                 A.While)


STATEMENT_WORDS = {A.Print: "print", A.Assert: "assert", A.Input: "input", A.Param: "param",
                   A.Const: "const", A.FuncDef: "def", A.Output: "output", A.Return: "return",
                   A.While: "a while loop"}


def not_loopable(st, funcs: dict):
    """Why a loop's body cannot be one step of a loop node, or None when it can."""
    body = list(st.body)
    for f in funcs.values():
        body += list(f.body)
    for s in statements(st.body):
        if isinstance(s, NOT_IN_BODIES):
            return f"its body has {STATEMENT_WORDS[type(s)]}"
    if any(c.func in ("randn", "rand") for c in calls(body)):
        return "its body draws random numbers: each iteration draws anew"
    outside = derivative_targets(st.body) - bound_names(st.body) - {getattr(st, "var", None)}
    if outside:
        # grad(y, u) of a u from outside counts the paths from u through earlier
        # iterations too, which a body (one step, u an input) cannot see
        return f"its body differentiates with respect to '{sorted(outside)[0]}', a value " \
               "from outside the loop"
    return None


def static_for(b, st, rng):
    """A static `for` over rng as a loop node when the optimiser keeps it one
    (cgraph.optimize.unroll); False when the builder unrolls it, statement by
    statement with i known (the reason is recorded)."""
    from .optimize.unroll import UNROLL_MAX, keep_as_loop, record

    if not rng:
        return False
    if not keep_as_loop(len(rng)):
        record(b.g, st.span, "for", len(rng), "unrolled by the optimiser",
               f"at most {UNROLL_MAX} iterations: folding, CSE and fusion see across them")
        return False
    why = not_loopable(st, b.funcs)
    if why is None:
        if (yield loop_task(b, st, rng)):
            return True
        why = "its body is not one step of fixed shape: it needs the loop variable's value " \
              "while building, or a carried value changes shape"
    record(b.g, st.span, "for", len(rng), "unrolled while building", why)
    return False


class CaptureScope(dict):
    """The body's names: its own bindings, else a value of an outer scope, made an
    input of the sub-graph the first time it is read."""

    def __init__(self, outers, capture):
        super().__init__()
        self.outers, self.capture = outers, capture

    def __contains__(self, name) -> bool:
        return dict.__contains__(self, name) or any(name in o for o in self.outers)

    def __getitem__(self, name):
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        for o in self.outers:
            if name in o:
                v = self.capture(o[name])
                dict.__setitem__(self, name, v)
                return v
        raise KeyError(name)

    def get(self, name, default=None):
        return self[name] if name in self else default


def loop_task(b, st, rng=None):
    """Build a `for` (over `rng`) or a `while` as a loop node; the task's value is
    False when it cannot be one (nothing is left behind then: a for is unrolled)."""
    g = b.g
    is_while = rng is None
    var = None if is_while else st.var
    read = names_read(st.body) | (names_read([A.ExprStmt(st.cond, st.span)]) if is_while else set())
    for f in b.funcs.values():  # what the functions the body may call read from outside
        read |= names_read(f.body) - set(f.params) - bound_names(f.body)
    for name in sorted(read):
        if not b.lookup_value(name) and name not in b.bound_anywhere and name not in b.funcs:
            b.lookup(name, st.span)  # a free name: an implicit input of the program
    assigned = sorted(bound_names(st.body) - {var})
    before = [n for n in assigned if b.lookup_value(n)]
    init = {n: b.lookup(n, st.span) for n in before}
    if any(not isinstance(v, int) or g.nodes[v].shape is None or None in g.nodes[v].shape
           or not g.nodes[v].dtype.startswith("float") for v in init.values()):
        return False
    bg = Graph(dtype=g.float_dtype.name, max_bytes=g.max_bytes, seed=g.seed)
    index = None if is_while else bg.leaf(INDEX, "input", shape=(), span=st.span)
    carries = {n: bg.leaf(f"#x{k}", "input", shape=g.nodes[v].shape, span=st.span)
               for k, (n, v) in enumerate(init.items())}
    captured: dict = {}   # outer node -> body input

    def capture(v):
        if not isinstance(v, int):
            return v
        if v not in captured:
            node = g.nodes[v]
            if node.op.name == "const":
                captured[v] = bg.const(node.attrs["value"], node.span)
            else:
                captured[v] = bg.leaf(f"#c{len(captured)}", "input", shape=node.shape,
                                      span=node.span)
        return captured[v]

    top = b.top
    outer_scope, outer_globals = b.scopes[-1], b.globals
    inner = CaptureScope([outer_scope] if top else [outer_scope, outer_globals], capture)
    inner.update(carries)
    if not is_while:
        dict.__setitem__(inner, var, index)
    saved = (len(b.errors), b.iterations, b.last, g.span, len(g.loops))
    b.g, b.scopes[-1] = bg, inner
    b.globals = inner if top else CaptureScope([outer_globals], capture)
    b.body_depth += 1
    ok, cond = True, None
    try:
        if is_while:  # the condition, on the carries at the start of an iteration
            cond = b.tensor((yield b.expr_task(st.cond)), st.cond.span)
            if bg.nodes[cond].shape != () or bg.nodes[cond].op.name == "error":
                ok = False
        yield b.exec_block(st.body)
    except CgraphError:
        ok = False
    except b.Abort:  # the body needs something a loop node cannot give
        ok = False
    finally:
        b.body_depth -= 1
        b.g, b.scopes[-1], b.globals = g, outer_scope, outer_globals
        g.span = saved[3]
    if len(b.errors) > saved[0]:
        del b.errors[saved[0]:]
        ok = False
    if not ok:
        del g.loops[saved[4]:]
    else:
        g.loops.extend(bg.loops)  # the decisions about loops inside the body
    names = before + [n for n in assigned if n not in init]
    outs = [dict.get(inner, n) for n in names]
    if ok:
        ok = all(isinstance(o, int) for o in outs)
    if ok:
        for n, o in zip(names, outs):
            shape, dtype = bg.nodes[o].shape, bg.nodes[o].dtype
            if shape is None or None in shape or not dtype.startswith("float") or (
                    n in init and (shape != g.nodes[init[n]].shape or dtype != g.nodes[init[n]].dtype)):
                ok = False
    per = b.iterations - saved[1] + 1
    b.iterations, b.last = saved[1], saved[2]
    if not ok:
        return False
    if not is_while:
        b.iterations += per * len(rng)
        if b.iterations > b.max_iterations:
            b.count_iteration(st.span)  # the limit's error
    shapes = [tuple(bg.nodes[o].shape) for o in outs]
    # a name first bound inside the loop starts as zeros (the body binds it before use)
    xs = [init[n] if n in init else g.const(_zeros(shapes[k], g), st.span)
          for k, n in enumerate(names)]
    temps = [bg.leaf(f"#x{k}", "input", shape=shapes[k], span=st.span)
             for k in range(len(before), len(names))]
    cap_outer = list(captured)
    cap_inputs = [captured[v] for v in cap_outer]
    keep = [k for k, v in enumerate(cap_outer) if bg.nodes[cap_inputs[k]].op.name == "input"]
    xins = [carries[n] for n in before] + temps
    caps = [cap_inputs[k] for k in keep]
    g.span = st.span
    from .optimize.unroll import UNROLL_MAX, record

    if is_while:
        # the condition is a body of its own: one output, on the same sub-graph
        both = Body(bg, None, xins, caps, outs + [cond]).optimised()
        body = Body(bg, None, both.carries, both.captures, both.outs[:-1])
        test = Body(bg, None, both.carries, both.captures, both.outs[-1:])
        body.shared = test.shared = True  # one graph: fusing one would renumber the other
        loop = g.add("while", [pack(g, xs, shapes)] + [cap_outer[k] for k in keep],
                     {"body": body, "cond": test, "limit": b.max_iterations}, st.span)
        values = unpack(g, loop, shapes)
        record(g, st.span, "while", None, "one while node", "a data-dependent trip count",
               _size(body))
    else:
        body = Body(bg, index, xins, caps, outs).optimised()
        loop = g.add("loop", [pack(g, xs, shapes)] + [cap_outer[k] for k in keep],
                     {"body": body, "n": len(rng), "start": float(rng.start),
                      "step": float(rng.step)}, st.span)
        values = unpack(g, loop, shapes)
        record(g, st.span, "for", len(rng), "one loop node",
               f"over {UNROLL_MAX} iterations: its gradient is a reverse loop", _size(body))
    for n, v in zip(names, values):
        b.bind(n, v, st.span, leaf_ok=False)
    if not is_while:
        b.scopes[-1][var] = g.const(float(rng[-1]), st.span)
        if top:
            b.name_value(var, b.scopes[-1][var])
    return True


def _size(body) -> int:
    """The body's node count, its inputs and constants included."""
    return sum(body.graph.needed(body.outs))


def _zeros(shape, g):
    import numpy as np

    return np.zeros(shape, dtype=g.float_dtype)


def static_while(b, st: A.While):
    """A `while` in a static graph: one while node, or the error saying why it needs
    eager mode."""
    if not_loopable(st, b.funcs) is None and (yield loop_task(b, st)):
        return
    b.error("value", "a while loop needs eager mode here: a static graph holds it as one "
            "while node only when its body is computation alone (no print, assert, param or "
            "random draw; values that keep their shapes)", st.span, "run it with --mode eager")
