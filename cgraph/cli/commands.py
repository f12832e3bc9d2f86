"""The built-in commands: eval, grad, jacobian, check, ops.

Each is declared once with `cgraph.cli.spec.command` (its parameters, help
and examples) and implemented by a function of `Options` returning the exit
status. This module is imported on every run, so it imports nothing heavy at
the top: NumPy, the engine and Rich load inside the functions that use them.
"""
from __future__ import annotations

from .run import FAILED, OK, UsageError, note, warn
from .spec import (CHUNK_ROWS, DTYPE, ENGINE, INPUTS, SCHEDULER, SKIP_BAD_ROWS, JSON, MAX_ITERATIONS, MAX_MEMORY, MODE, OUT, QUIET,
                   RUN_FLAGS, SEED, SOURCE, SOURCES, VALUES, Param, command)

OF = Param("of", ("--of",), str, metavar="NAME",
           help="the output to differentiate (default: the program's first output)")
WRT = Param("wrt", ("--wrt",), str, metavar="A,B",
            help="differentiate with respect to these leaves only (comma-separated)")
COMPARE_MODES = Param("compare_modes", ("--compare-modes",), bool, False,
                      help="run the program in static and in eager mode and report the largest "
                           "difference per output (and gradient); exit 1 if they differ")


# ------------------------------------------------------------------ helpers
def _start(opts, command_name: str):
    """(printer, program, values), or an int status when a plug-in took over."""
    from .output import Printer
    from .sources import is_csv_batch, open_program

    if is_csv_batch(opts):
        return _csv_batch(command_name, opts)
    if getattr(opts, "out", None) is not None:
        raise UsageError("--out writes the results of a batch run: it needs --inputs rows.csv",
                         "without --inputs, redirect standard output (or use --json)")
    if getattr(opts, "chunk_rows", None):
        raise UsageError("--chunk-rows streams a batch run: it needs --inputs rows.csv --out FILE")
    for flag in ("engine", "scheduler", "skip_bad_rows"):
        if getattr(opts, flag, None):
            raise UsageError(f"--{flag.replace('_', '-')} applies to a batch run: it needs "
                             "--inputs rows.csv (or .jsonl, .parquet)")
    printer = Printer(opts)
    program, values = open_program(opts)
    return printer, program, values


def _csv_batch(command_name: str, opts) -> int:
    """`--inputs rows.csv`: a batch run, handled by the batch plug-in."""
    from .cmd_batch import csv_batch

    return csv_batch(command_name, opts)


def _warnings(result, program, feed, printer, extra=(), strict=False) -> None:
    from .nonfinite import check_result

    for d in getattr(result.graph, "warnings", ()):
        warn(d, printer.quiet)
    check_result(result, feed, program, printer.quiet, extra, strict=bool(strict))


def _named_rows(printer, items):
    return [(name, printer.shape(v), printer.show(v)) for name, v in items]


def _print_values(printer, items, title=None) -> None:
    """`name = value` lines when every value is a scalar, else a table."""
    import numpy as np

    if printer.quiet and not printer.json:
        for _, v in items:
            printer.line(printer.show(v))
        return
    if all(np.ndim(v) == 0 for _, v in items):
        if title:
            printer.line(title)
        for name, v in items:
            printer.line(f"{name} = {printer.show(v)}")
        return
    printer.table(["name", "shape", "value"], _named_rows(printer, items), title=title)


# --------------------------------------------------------------------- eval
@command("eval", SOURCE, VALUES, INPUTS, OUT, CHUNK_ROWS, ENGINE, SCHEDULER, SKIP_BAD_ROWS,
         Param("all", ("--all",), bool, False, help="print every named value, not only the outputs"),
         COMPARE_MODES,
         *RUN_FLAGS,
         help="Run the forward pass and print the outputs.",
         examples=['cgraph eval "(a+b)*(b-c)" a=2 b=3 c=4',
                   "cgraph eval model.cg x=[1,2,3] W=@weights.npz:W --all",
                   "echo 'sum(x^2)' | cgraph eval - x=[1,2,3] --json"])
def eval_command(o) -> int:
    started = _start(o, "eval")
    if isinstance(started, int):
        return started
    printer, program, values = started
    if o.compare_modes:
        from .compare import compare_modes

        return compare_modes(printer, program, values, grad=False)
    result = program.run(values, all_names=o.all)
    feed = program.feed(values)
    named = result.named() if o.all else {}
    for n, v in result.outputs.items():
        named.setdefault(n, v)
    _warnings(result, program, feed, printer, extra=named.values(), strict=o.strict)
    if printer.json:
        doc = {"outputs": {n: printer.entry(v) for n, v in result.outputs.items()}}
        if o.all:
            doc["values"] = {n: printer.entry(v) for n, v in named.items()}
        printer.document(doc)
        return OK
    _print_values(printer, list((named if o.all else result.outputs).items()))
    return OK


# --------------------------------------------------------------------- grad
@command("grad", SOURCE, VALUES, INPUTS, OUT, CHUNK_ROWS, ENGINE, SCHEDULER, SKIP_BAD_ROWS, OF, WRT,
         Param("all", ("--all",), bool, False,
               help="also the gradient of every named intermediate value"),
         Param("explain", ("--explain",), bool, False,
               help="print the chain rule node by node: symbolic terms, then numbers"),
         Param("check", ("--check",), bool, False,
               help="compare every gradient with central finite differences (exit 1 if one "
                    "is off)"),
         COMPARE_MODES,
         Param("step", ("--step",), bool, False,
               help="walk the backward pass one node at a time (keys on a terminal: → next, "
                    "← back, q quit; piped: every step as a numbered frame)"),
         *RUN_FLAGS,
         help="Print the output's value and its gradient with respect to every leaf.",
         examples=['cgraph grad "(a+b)*(b-c)" a=2 b=3 c=4',
                   'cgraph grad "(a+b)*(b-c)" a=2 b=3 c=4 --explain',
                   "cgraph grad model.cg --of loss --wrt W,b --check",
                   "cgraph grad model.cg x=@x.npy --json"])
def grad_command(o) -> int:
    from .sources import split_names

    started = _start(o, "grad")
    if isinstance(started, int):
        return started
    printer, program, values = started
    wrt = split_names(o.wrt)
    if o.compare_modes:
        from .compare import compare_modes

        return compare_modes(printer, program, values, grad=True, of=o.of, wrt=wrt)
    result = program.run(values, grad=True, of=o.of, wrt=wrt, all_names=o.all)
    feed = program.feed(values)
    _warnings(result, program, feed, printer, strict=o.strict)
    out = result.output
    y = result.outputs[out]
    report = None
    if o.check:
        from .fdcheck import fd_check

        report = fd_check(program, result, values, of=o.of, seed=o.seed or 0)
    if printer.json:
        doc = {"output": out, **printer.entry(y),
               "gradients": {n: printer.entry(g) for n, g in result.gradients.items()}}
        if o.all:
            doc["intermediates"] = {n: printer.entry(g) for n, g in result.intermediates.items()}
        if o.explain:
            from .explain import explain_data

            doc["explain"] = explain_data(result, feed, printer.digits)
        if o.step:
            from .stepper import frames

            doc["steps"] = [{"step": f.step, "name": f.name, "forward": f.computed,
                             "backward": f.line, "known": dict(f.known)}
                            for f in frames(result, feed, printer.digits)[1]]
        if report is not None:
            doc["check"] = report.to_json()
        printer.document(doc)
        return OK if report is None or report.passed else FAILED
    printer.line(f"{out} = {printer.show(y)}")
    _gradient_table(printer, program, result, values, out)
    if o.explain:
        from .explain import explain

        printer.line()
        printer.lines(explain(result, feed, printer.digits))
    if o.step:
        from .stepper import frames, step_through

        printer.line()
        step_through(printer, *frames(result, feed, printer.digits))
    if report is not None:
        printer.line()
        _check_table(printer, report)
    return OK if report is None or report.passed else FAILED


def _gradient_table(printer, program, result, values, out) -> None:
    g = result.graph
    if not result.gradients:
        printer.line(f"({out} depends on no leaf: nothing to differentiate)")
        return
    rows, dim = [], []
    everything = None
    for k, (name, grad) in enumerate(result.gradients.items()):
        i = g.leaves.get(name, g.names.get(name))
        value = values.get(name)
        if value is None:
            value = result.values[i] if result.values[i] is not None \
                else g.nodes[i].attrs.get("default")
        if value is None:  # an intermediate named by --wrt, freed by the plan
            if everything is None:
                from ..nonfinite import all_values

                everything = all_values(result, program.feed(values))
            value = everything[i]
        shown = printer.show(grad)
        if not result.connected.get(name, True):
            shown += "  (not connected)"
            dim.append(k)
        rows.append((name, printer.shape(grad), printer.show(value) if value is not None else "",
                     shown))
    printer.table(["leaf", "shape", "value", f"∂{out}/∂leaf"], rows, dim_rows=dim)
    if result.intermediates:
        rows = [(n, printer.shape(gv), printer.show(_named_value(result, n)), printer.show(gv))
                for n, gv in result.intermediates.items()]
        printer.line()
        printer.table(["intermediate", "shape", "value", f"∂{out}/∂name"], rows)


def _named_value(result, name):
    v = result.values[result.graph.names[name]]
    return v if v is not None else float("nan")


def _check_table(printer, report) -> None:
    from .output import fmt_number

    rows = []
    for c in report.leaves:
        if c.skipped:
            rows.append((c.name, "-", "-", "-", f"skipped ({c.skipped})"))
            continue
        checked = f"{c.checked}/{c.size}" if c.checked != c.size else str(c.size)
        where = f"{c.name}{list(c.worst)}" if c.worst else c.name
        # which side of atol + rtol·scale carried it: tiny gradients pass on atol alone
        verdict = ("ok (abs. ≤ atol)" if c.max_abs <= report.atol else "ok (rel. ≤ rtol)") \
            if c.passed else (f"FAILED at {where}: {fmt_number(c.analytic)} analytically, "
                              f"{fmt_number(c.numeric)} numerically")
        rows.append((c.name, checked, fmt_number(c.max_abs, 3), fmt_number(c.max_rel, 3), verdict))
    printer.table(["leaf", "elements checked", "max abs. error", "max rel. error", "verdict"], rows,
                  title="Gradient check (central finite differences):")
    rule = f"|analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|), " \
           f"rtol {report.rtol:g}, atol {report.atol:.3g}"
    if report.passed:
        printer.line(f"gradient check passed: {rule}")
    else:
        bad = ", ".join(c.name for c in report.leaves if not c.passed)
        printer.line(f"gradient check FAILED for {bad}: {rule}")
        if not printer.quiet:
            note("note: at a kink (relu'(0), abs'(0), ties of max/min) finite differences "
                 "disagree with the conventional derivative by design")


# ----------------------------------------------------------------- jacobian
@command("jacobian", SOURCE, VALUES, INPUTS, OF, WRT,
         COMPARE_MODES,
         Param("mode_ad", ("--mode-ad",), ("forward", "reverse"), None,
               help="forward: one forward pass per leaf element (columns); reverse: one "
                    "backward pass per output element (rows); default: whichever makes fewer "
                    "passes"),
         *RUN_FLAGS,
         help="Print the Jacobian of a (vector) output with respect to every leaf.",
         examples=['cgraph jacobian "x^2" x=[1,2,3]',
                   'cgraph jacobian "W @ x" W=[[1,2],[3,4]] x=[1,1] --wrt x --json'])
def jacobian_command(o) -> int:
    from .jacobian import jacobians
    from .sources import split_names

    started = _start(o, "jacobian")
    if isinstance(started, int):
        return started
    printer, program, values = started
    if o.compare_modes:
        from .compare import compare_modes

        return compare_modes(printer, program, values, grad="jacobian", of=o.of,
                             wrt=split_names(o.wrt))
    name, y, jac, connected, result, _ = jacobians(program, values, of=o.of,
                                                     wrt=split_names(o.wrt),
                                                     kind=o.mode_ad or True)
    from .nonfinite import check_result

    check_result(result, program.feed(values), program, printer.quiet, extra=jac.values(),
                 strict=bool(o.strict))
    if printer.json:
        printer.document({"output": name, "shape": printer.entry(y)["shape"],
                          "jacobians": {w: printer.entry(j) for w, j in jac.items()}})
        return OK
    printer.line(f"{name} {printer.shape(y)} = {printer.show(y)}")
    rows = []
    for w, j in jac.items():
        shown = printer.show(j) + ("" if connected[w] else "  (not connected)")
        rows.append((w, printer.shape(j), shown))
    printer.table(["leaf", "shape", f"∂{name}/∂leaf"], rows)
    return OK


@command("hessian", SOURCE, VALUES, INPUTS, OF, WRT,
         Param("hessian_out", ("-o", "--out"), str, metavar="FILE",
               help="also write the Hessians to a .npy (one leaf), .npz or .json file "
                    "(atomically)"),
         *RUN_FLAGS,
         help="Print the Hessian of a scalar output with respect to every leaf.",
         examples=['cgraph hessian "sum(x^3) + x[0]*x[1]" x=[1,2,3]',
                   "cgraph hessian model.cg --wrt w --out H.npz"])
def hessian_command(o) -> int:
    from .jacobian import jacobians
    from .sources import check_output, split_names

    check_output(o, o.hessian_out)
    _one_set_of_values(o, "hessian")
    started = _start(o, "hessian")
    if isinstance(started, int):
        return started
    printer, program, values = started
    name, y, hess, connected, result, _ = jacobians(program, values, of=o.of,
                                                    wrt=split_names(o.wrt), kind="hessian")
    if o.hessian_out:
        _write_arrays(o.hessian_out, hess)
    if printer.json:
        printer.document({"output": name, **printer.entry(y),
                          "hessians": {w: printer.entry(h) for w, h in hess.items()}})
        return OK
    printer.line(f"{name} = {printer.show(y)}")
    rows = [(w, printer.shape(h), printer.show(h) + ("" if connected[w] else "  (not connected)"))
            for w, h in hess.items()]
    printer.table(["leaf", "shape", f"∂²{name}/∂leaf²"], rows)
    if o.hessian_out:
        from .run import note

        note(f"wrote {o.hessian_out}", quiet=printer.quiet)
    return OK


def _one_set_of_values(o, name: str) -> None:
    from .sources import is_csv_batch

    if is_csv_batch(o):
        raise UsageError(f"{name} takes one set of values, not a CSV batch",
                         "give a .json or .npz file to --inputs, or NAME=VALUE words")


def _write_arrays(path: str, arrays: dict) -> None:
    """name -> array to .npy (one array), .npz or .json, atomically (never pickle)."""
    import json
    import os

    import numpy as np

    from ..atomic import atomic_open
    from .output import jsonable
    from .run import UsageError

    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npy", ".npz", ".json"):
        raise UsageError(f"--out {path}: the name must end in .npy, .npz or .json")
    if ext == ".npy" and len(arrays) != 1:
        raise UsageError(f"--out {path}: a .npy file holds one array, there are {len(arrays)}",
                         "write a .npz (one array per leaf), or name one leaf with --wrt")
    with atomic_open(path, "wb") as fp:
        if ext == ".npy":
            np.save(fp, next(iter(arrays.values())), allow_pickle=False)
        elif ext == ".npz":
            np.savez(fp, **arrays)
        else:
            fp.write(json.dumps({k: jsonable(v) for k, v in arrays.items()}).encode())


@command("jvp", SOURCE, VALUES, INPUTS, OF,
         Param("along", ("--along",), str, required=True, metavar="NAME=VALUE",
               help="the leaf to move and the direction: x=[1,0,0] (a number, a tensor, @file)"),
         *RUN_FLAGS,
         help="Print the output and its directional derivative along a leaf (forward mode).",
         examples=['cgraph jvp "sin(x) * x" x=[1,2,3] --along x=[1,0,0]',
                   "cgraph jvp model.cg --along w=@dw.npy --json"])
def jvp_command(o) -> int:
    from .jacobian import jacobians
    from .sources import max_memory, parse_assignment

    _one_set_of_values(o, "jvp")
    started = _start(o, "jvp")
    if isinstance(started, int):
        return started
    printer, program, values = started
    leaf, v = parse_assignment(o.along, max_memory(o))
    direction = program.feed({leaf: v})
    name, y, jv, connected, result, _ = jacobians(program, values, of=o.of, kind=direction)
    if printer.json:
        printer.document({"output": name, **printer.entry(y),
                          "jvp": {w: printer.entry(d, along=printer.entry(direction[w])["value"])
                                  for w, d in jv.items()}})
        return OK
    printer.line(f"{name} {printer.shape(y)} = {printer.show(y)}")
    rows = [(w, printer.show(direction[w]),
             printer.show(d) + ("" if connected[w] else "  (not connected)")) for w, d in jv.items()]
    printer.table(["leaf", "along v", f"∂{name}/∂leaf·v"], rows)
    return OK


# -------------------------------------------------------------------- check
@command("check", SOURCES, MODE, DTYPE, SEED, MAX_ITERATIONS, MAX_MEMORY, JSON, QUIET,
         Param("passes", ("--passes",), bool, False,
               help="also show what the optimiser does: nodes after each pass, for the "
                    "forward and the forward+backward graph, and the memory plan's peak bytes"),
         help="Parse, build and shape-check programs without running them; report every "
              "error of every file (exit 1 if any).",
         examples=["cgraph check model.cg", "cgraph check examples/*.cg --json",
                   "cgraph check examples/mlp.cg --passes"])
def check_command(o) -> int:
    from ..errors import CgraphError
    from .output import Printer
    from .run import USAGE, report
    from .sources import compile_source, read_source

    printer = Printer(o)
    results, failed, usage = [], 0, False
    for src in o.sources:
        try:
            text, file = read_source(src)
        except UsageError as exc:
            report(exc)
            usage = True
            results.append({"source": src, "ok": False, "error": exc.errors[0].to_json()})
            continue
        except CgraphError as exc:  # not UTF-8: this file fails, the others are checked
            failed += 1
            report(exc)
            results.append({"source": src, "ok": False, "errors": [d.to_json() for d in exc.errors]})
            continue
        try:
            program = compile_source(o, text, file)
            summary = _summary(program, program.mode)
            if o.passes and summary["built"]:
                summary["passes"] = program.pass_report()
        except CgraphError as exc:
            failed += 1
            report(exc)
            results.append({"source": src, "ok": False, "errors": [d.to_json() for d in exc.errors]})
            continue
        results.append({"source": src, "ok": True, **summary})
        if not printer.json and not printer.quiet:
            printer.line(f"{file}: ok: " + _summary_text(summary))
            if "passes" in summary:
                for line in _passes_text(summary["passes"]):
                    printer.line(line)
    if printer.json:
        printer.document({"files": results, "failed": failed + sum(1 for r in results if "error" in r)})
    if usage:
        return USAGE
    return FAILED if failed else OK


def _summary(program, mode: str) -> dict:
    from .. import ast as A
    from ..ast_walk import statements

    params = list(dict.fromkeys(st.name for st in statements(program.ast.body)
                                if isinstance(st, A.Param)))
    out = {"statements": len(program.ast.body), "params": params}
    if mode == "eager":  # an eager program's graph depends on its data: parsed only
        inputs = [st.name for st in program.ast.body if isinstance(st, A.Input)]
        outputs = [n for st in program.ast.body if isinstance(st, A.Output) for n in st.names]
        if not outputs:  # as the builder does: the last value bound (or computed) is the output
            last = [st for st in statements(program.ast.body)
                    if isinstance(st, (A.Assign, A.ExprStmt, A.Input, A.Param, A.Const))]
            if last:
                st = last[-1]
                outputs = ["Y" if isinstance(st, A.ExprStmt) else
                           st.target if isinstance(st, A.Assign) else st.name]
        out.update(inputs=inputs, outputs=outputs, built=False)
        return out
    g = program.check()
    out.update(inputs=list(g.inputs), outputs=list(g.outputs), built=True)
    return out


def _passes_text(report: dict) -> list:
    """The optimiser's report as aligned lines: one column per graph."""
    from ..ir import human_bytes

    parts = [(k, v) for k, v in report.items() if v is not None]
    names = [name for name, _ in parts[0][1]["passes"]]
    heads = {"forward": "forward nodes", "backward": "with backward"}
    lines = ["  " + f"{'pass':<26}" + "".join(f"{heads[k]:>18}" for k, _ in parts)]
    for row, name in enumerate(names):
        lines.append("  " + f"{name:<26}" + "".join(f"{v['passes'][row][1]:>18,}" for _, v in parts))
    for label, key in (("peak memory, unplanned", "bytes_before"), ("peak memory, planned", "bytes_after")):
        lines.append("  " + f"{label:<26}" + "".join(f"{human_bytes(v[key]):>18}" for _, v in parts))
    if not all(v["shapes_known"] for _, v in parts):
        lines.append("  (some shapes are only known when it runs: their bytes are not counted)")
    loops = report["forward"].get("loops") if report.get("forward") else None
    if loops:
        from ..optimize.unroll import describe

        lines.append("  loops:")
        lines += ["    " + describe(e) for e in sorted(loops, key=lambda e: e["line"])]
    return lines


def _summary_text(s: dict) -> str:
    def count(n, word, names):
        text = f"{n} {word}{'' if n == 1 else 's'}"
        return text + (f" ({', '.join(names)})" if names else "")

    parts = [count(s["statements"], "statement", ()),
             count(len(s["inputs"]), "input", s["inputs"]),
             count(len(s["params"]), "param", s["params"]),
             count(len(s["outputs"]), "output", s["outputs"])]
    text = ", ".join(parts)
    if not s.get("built", True):
        text += " (eager: parsed only; names and shapes are checked when it runs)"
    return text


# ---------------------------------------------------------------------- ops
_SYMBOL_ALIASES = {"-": "−", "*": "×", "/": "÷", "**": "^", "<=": "≤", ">=": "≥", "!=": "≠",
                   "sigma": "σ"}


@command("ops", Param("name", kind=str, default=None, metavar="[NAME]",
                      help="one builtin or operator (sin, matmul, +, @) to describe in full"),
         Param("markdown", ("--markdown",), bool, False,
               help="print a Markdown table (for docs)"),
         JSON, QUIET,
         help="List the builtins and operators with their signature, doc and derivative rule.",
         examples=["cgraph ops", "cgraph ops softmax", "cgraph ops +", "cgraph ops --markdown"])
def ops_command(o) -> int:
    from .. import ops as registry
    from ..errors import CgraphError, nearest
    from .output import Printer

    printer = Printer(o)
    ops = registry.builtins()
    if o.name is not None:
        sym = _SYMBOL_ALIASES.get(o.name, o.name)
        ops = [op for op in ops if op.name == o.name] or \
              [op for op in ops if op.symbol in (o.name, sym) and op.symbol]
        if not ops:
            near = nearest(o.name, [op.name for op in registry.builtins()])
            raise CgraphError(f"no builtin or operator named '{o.name}'", kind="name",
                              hint=f"did you mean '{near}'?" if near else
                              "run `cgraph ops` to list them")
    if printer.json:
        printer.document({"ops": [_op_json(op) for op in ops]})
        return OK
    if o.markdown:
        printer.lines(_markdown(ops))
        return OK
    if o.name is not None:
        for k, op in enumerate(ops):
            if k:
                printer.line()
            printer.lines(_op_detail(op))
        return OK
    rows, family = [], None
    for op in ops:
        label = op.name + (f" ({op.symbol})" if op.symbol and op.symbol != op.name
                           and not op.symbol[0].isalnum() else "")
        rows.append((op.family if op.family != family else "", label, op.signature,
                     op.deriv or ("differentiable" if op.differentiable else "not differentiable"),
                     op.doc))
        family = op.family
    printer.table(["family", "op", "signature", "derivative", "description"], rows)
    if not printer.quiet:
        note(f"{len(ops)} builtins and operators; `cgraph ops NAME` for one in full")
    return OK


def _op_json(op) -> dict:
    return {"name": op.name, "family": op.family, "signature": op.signature, "doc": op.doc,
            "derivative": op.deriv, "partials": list(op.partials),
            "differentiable": op.differentiable, "symbol": op.symbol}


def _op_detail(op) -> list[str]:
    lines = [f"{op.signature}" + (f"   ({op.symbol})" if op.symbol and op.symbol != op.name else ""),
             f"  {op.doc}" if op.doc else "",
             f"  family:      {op.family}",
             f"  derivative:  {op.deriv or ('differentiable' if op.differentiable else 'not differentiable')}"]
    names = [a.name for a in op.tensor_args]
    for k, p in enumerate(op.partials):
        wrt = names[k] if k < len(names) else str(k)
        tmpl = p
        for n, a in enumerate(names):
            tmpl = tmpl.replace(f"{{{n}}}", a)
        lines.append(f"  ∂out/∂{wrt}:{' ' * max(1, 8 - len(wrt))}{tmpl.replace('{out}', 'out')}")
    return [ln for ln in lines if ln]


def _md(text: str) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _markdown(ops) -> list[str]:
    lines = ["| family | op | signature | derivative | description |",
             "|---|---|---|---|---|"]
    for op in ops:
        sym = f" (`{_md(op.symbol)}`)" if op.symbol and op.symbol != op.name \
            and not op.symbol[0].isalnum() else ""
        lines.append(f"| {op.family} | `{op.name}`{sym} | `{_md(op.signature)}` | "
                     f"{_md(op.deriv) or '-'} | {_md(op.doc)} |")
    return lines
