"""Building a static `for` loop as one `loop` node (cgraph.loops) instead of
unrolling it.

The body is built once, by the same builder, into a sub-graph: the loop
variable and every name the body assigns (the carried values) are inputs of
the sub-graph, a value from outside is captured as an input the first time
the body reads it. Whether a loop stays one node is the optimiser's choice
(cgraph.optimize.unroll: a short loop is unrolled, statement by statement with
its i known, so that indexing by i is checked as it is built). A body that is
not one step a loop node can hold is unrolled too: print/assert/params/
functions/return, random draws (each iteration draws anew), a carried value
whose shape changes, anything that needs the loop variable's value while
building (x[i], if i == 0), or a grad whose paths run through earlier
iterations (see `aliased`, `through_captures`).
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
        why = "its body is not one step a loop node can hold: it needs the loop variable's " \
              "value while building, a carried value changes shape, or a grad in it follows " \
              "paths through earlier iterations"
    record(b.g, st.span, "for", len(rng), "unrolled while building", why)
    return False


def aliased(g, bg, init: dict, captured: dict, outs: dict, targets) -> bool:
    """Whether a carry the body differentiates by (grad(y, x)) is, in some iteration,
    the very node of another name or a constant: unrolled, grad then follows every
    use of that one node (or gives zeros), while a loop node's body holds each carry
    as an input of its own. init: name -> outer node; outs: name -> body node."""
    ins = set(captured.values()) | {bg.nodes[i].id for i in range(len(bg.nodes))
                                    if bg.nodes[i].op.name == "input"}
    others = list(init.values()) + list(captured)
    for n in targets:
        if n in init and (not g.varies[init[n]] or others.count(init[n]) > 1):
            return True
        if n in outs and (outs[n] in ins or not bg.varies[outs[n]]):
            return True
    return False


def note_derivative(b, args):
    """(y, x) of a grad/jacobian/hessian being built; inside a loop body, kept for
    `through_captures`."""
    if b.body_depth:
        b.body_derivs.append(tuple(args))
    return args


def through_captures(g, bg, init: dict, captured: dict, carries: dict, outs: dict, derivs) -> bool:
    """Whether a derivative by a captured value v (grad(y, v) in the body) reaches y
    unrolled through paths a loop node's body cuts: y reads a carry or another
    capture that depends on v (unrolled they are v's descendants; in the body,
    inputs of their own). carries/outs: name -> body input / body output node."""
    outer = {c: v for v, c in captured.items()}
    for y, x in derivs:
        v = outer.get(x)
        if v is None:
            continue
        need = bg.needed([y])
        # the carries that depend on v: by their start, then through the steps
        dep = {n for n in carries if n in init and g.needed([init[n]])[v]}
        grew = True
        while grew:
            grew = False
            for n, o in outs.items():
                if n in carries and n not in dep:
                    reach = bg.needed([o])
                    if reach[x] or any(reach[carries[m]] for m in dep):
                        dep.add(n)
                        grew = True
        if any(need[carries[n]] for n in dep):
            return True
        if any(need[c] and g.needed([w])[v] for w, c in captured.items() if c != x):
            return True
    return False


def leaf_free(bg, v) -> bool:
    """Whether body node v depends on no carry and no capture (the index aside):
    unrolled, a top-level name bound to it would be a leaf."""
    node = bg.nodes[v]
    if node.dtype == "bool" or node.op.name == "error":
        return False
    seen, stack = set(), [v]
    while stack:
        j = stack.pop()
        if j in seen:
            continue
        seen.add(j)
        n = bg.nodes[j]
        if n.op.name == "input" and n.name != INDEX:
            return False
        stack.extend(n.inputs)
    return True


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
    if var in derivative_targets(st.body):
        return False  # unrolled, the index is a constant: grad(y, i) is zeros
    read = names_read(st.body) | (names_read([A.ExprStmt(st.cond, st.span)]) if is_while else set())
    for f in b.funcs.values():  # what the functions the body may call read from outside
        read |= names_read(f.body) - set(f.params) - bound_names(f.body)
    # the index and a name the body binds are not free (bound_anywhere holds only
    # top-level names, not a function's)
    for name in sorted(read - bound_names(st.body) - {var}):
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
    outer_derivs, b.body_derivs = getattr(b, "body_derivs", None), []
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
        derivs, b.body_derivs = b.body_derivs, outer_derivs
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
    targets = derivative_targets(st.body)
    if ok and targets:
        ok = not aliased(g, bg, init, captured, dict(zip(names, outs)), targets)
    if ok and derivs:
        ok = not through_captures(g, bg, init, captured, carries, dict(zip(names, outs)), derivs)
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
        parts = [(list(range(len(names))), loop)]
        record(g, st.span, "while", None, "one while node", "a data-dependent trip count",
               _size(body))
    else:
        # carried values that never read one another: a loop node each (a value the
        # output does not need then leaves its inputs unconnected, as unrolled)
        whole = Body(bg, index, xins, caps, outs).optimised()
        parts = []
        for group in carry_groups(whole):
            need = bg.needed([whole.outs[k] for k in group])
            cs = [j for j, c in enumerate(whole.captures) if c is not None and need[c]]
            body = Body(bg, whole.index, [whole.carries[k] for k in group],
                        [whole.captures[j] for j in cs], [whole.outs[k] for k in group])
            loop = g.add("loop", [pack(g, [xs[k] for k in group], [shapes[k] for k in group])]
                         + [cap_outer[keep[j]] for j in cs],
                         {"body": body, "n": len(rng), "start": float(rng.start),
                          "step": float(rng.step)}, st.span)
            parts.append((group, loop))
        record(g, st.span, "for", len(rng), "one loop node" if len(parts) == 1 else
               f"{len(parts)} loop nodes (carried values that never read one another)",
               f"over {UNROLL_MAX} iterations: its gradient is a reverse loop", _size(whole))
    for group, loop in parts:
        for k, v in zip(group, unpack(g, loop, [shapes[k] for k in group])):
            b.bind(names[k], v, st.span, leaf_ok=False)
    if not is_while:
        b.scopes[-1][var] = g.const(float(rng[-1]), st.span)
        if top:
            b.name_value(var, b.scopes[-1][var])
    return True


def _size(body) -> int:
    """The body's node count, its inputs and constants included."""
    return sum(body.graph.needed(body.outs))


def carry_groups(body: Body) -> list:
    """The positions of a body's carries, in groups that read one another (through
    any number of steps); groups in order of their first carry."""
    parent = list(range(len(body.outs)))

    def root(k):
        while parent[k] != k:
            k = parent[k]
        return k

    where = {x: k for k, x in enumerate(body.carries) if x is not None}
    for k, o in enumerate(body.outs):
        need = body.graph.needed([o])
        for x, j in where.items():
            if need[x]:
                parent[root(j)] = root(k)
    groups: dict = {}
    for k in range(len(body.outs)):
        groups.setdefault(root(k), []).append(k)
    return sorted(groups.values())


def _zeros(shape, g):
    import numpy as np

    return np.zeros(shape, dtype=g.float_dtype)


def static_while(b, st: A.While):
    """A `while` in a static graph: one while node, or the error saying why it needs
    eager mode."""
    why = not_loopable(st, b.funcs)
    if why is None:
        if (yield loop_task(b, st)):
            return
        why = "its body is not one step a while node can hold (a carried value changes " \
              "shape, or a grad in it follows paths through earlier iterations)"
    b.error("value", f"a while loop needs eager mode here: {why}; a static graph holds a while "
            "loop as one node only when its body is computation alone", st.span,
            "run it with --mode eager")
