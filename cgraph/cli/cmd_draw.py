"""`cgraph draw`: the computation graph as SVG, PNG or DOT (a CLI plug-in).

    cgraph draw examples/seed.cg -o seed.svg
    cgraph draw model.cg x=[1,2,3] -o graph.png --backward
    cgraph draw "(a+b)*(b-c)" a=2 b=3 c=4 -o - --format dot | dot -Tpdf > g.pdf

The format comes from --format, else the suffix of -o (`.svg`, `.png`,
`.dot`/`.gv`); `-o -` writes to standard output (DOT unless --format says
otherwise). Files are written atomically. Notes (a collapsed graph, no
optimiser, structure only) go to stderr unless --quiet; the program's own
`print` output goes to stderr too, so `-o -` stays a clean drawing.
"""
from __future__ import annotations

from .spec import (DTYPE, INPUTS, JSON, MAX_ITERATIONS, MAX_MEMORY, MODE, PRECISION, QUIET,
                   SEED, SOURCE, VALUES, Param, command)

DRAW_PANEL = "Drawing"

OUT = Param("out", ("-o", "--out"), str, required=True, metavar="FILE",
            help="where to write the drawing: a .svg, .png or .dot file, or - for stdout")
FORMAT = Param("format", ("--format",), ("svg", "png", "dot"), None, panel=DRAW_PANEL,
               help="svg, png or dot (default: from the suffix of -o; dot for -o -)")
RANKDIR = Param("rankdir", ("--rankdir",), ("LR", "TB"), "LR", panel=DRAW_PANEL,
                help="LR: left to right; TB: top to bottom")
BACKWARD = Param("backward", ("--backward",), bool, False, panel=DRAW_PANEL,
                 help="draw the gradient graph too, beside the forward graph; edges show "
                      "local derivatives")
OPTIMIZED = Param("optimized", ("--optimized",), bool, False, panel=DRAW_PANEL,
                  help="draw the graph after optimisation")
MAX_NODES = Param("max_nodes", ("--max-nodes",), int, None, metavar="N", min=1, panel=DRAW_PANEL,
                  help="above N nodes, collapse repeated loop bodies, calls and lines "
                       "into summary nodes (default: 200, fewer for a long chain, so the "
                       "picture stays readable)")


STEPS = Param("steps", ("--steps",), bool, False, panel=DRAW_PANEL,
              help="one drawing per step of the backward pass (the forward pass first): "
                   "-o DIR/ writes step-00.svg, step-01.svg …; -o steps.html one page with "
                   "previous/next/play")


@command("draw", SOURCE, VALUES, INPUTS, OUT, FORMAT, RANKDIR, BACKWARD, OPTIMIZED, MAX_NODES, STEPS,
         MODE, DTYPE, SEED, MAX_ITERATIONS, MAX_MEMORY, JSON, PRECISION, QUIET,
         help="Draw the computation graph (SVG, PNG or DOT) with values and gradients.",
         examples=["cgraph draw examples/seed.cg -o seed.svg",
                   'cgraph draw "(a+b)*(b-c)" a=2 b=3 c=4 -o graph.png --backward',
                   "cgraph draw model.cg x=@x.npy -o - --format dot"])
def draw(o) -> int:
    import sys

    from ..drawing import DEFAULT_PRECISION, format_of, produce
    from ..draw_program import draw_program
    from ..atomic import check_writable, write_atomic
    from .run import UsageError, note, warn
    from .sources import check_output, is_csv_batch, max_memory, read_source, read_values

    check_output(o, o.out)
    if o.steps:
        return _steps(o)
    fmt = format_of(o.out, o.format)
    if o.json and o.out == "-":
        raise UsageError("--json and -o - both want standard output",
                         "write the drawing to a file with -o FILE")
    if is_csv_batch(o):
        raise UsageError("draw takes one set of values, not a CSV batch",
                         "give a .json or .npz file to --inputs, or NAME=VALUE words")
    check_writable(o.out)
    text, file = read_source(o.source)
    limit = max_memory(o)
    values = read_values(o.values, o.inputs, max_bytes=limit)
    drawing = draw_program(text, file, values, mode=o.mode, dtype=o.dtype or "float64",
                           seed=o.seed or 0, max_iterations=o.max_iterations or 100_000,
                           max_memory=limit,
                           backward=bool(o.backward), optimized=bool(o.optimized),
                           rankdir=o.rankdir or "LR", max_nodes=o.max_nodes,
                           precision=o.precision or DEFAULT_PRECISION, print_stream=sys.stderr)
    data = produce(drawing, fmt)
    write_atomic(o.out, data)
    for n in drawing.notes:
        (warn if n.startswith("renderer:") else note)(n if n.startswith("renderer:")
                                                      else f"note: {n}", quiet=bool(o.quiet))
    if o.json:
        from .output import dumps

        print(dumps({"out": o.out, "format": fmt, "nodes": drawing.nodes, "edges": drawing.edges,
                     "notes": drawing.notes}))
    elif o.out != "-":
        plural = lambda n, w: f"{n} {w}{'' if n == 1 else 's'}"  # noqa: E731
        note(f"wrote {o.out} ({fmt}, {plural(drawing.nodes, 'node')}, {plural(drawing.edges, 'edge')})",
             quiet=bool(o.quiet))
    return 0


def _steps(o) -> int:
    """draw --steps: the frames of the backward pass, as SVG files or one HTML page."""
    import os

    from ..atomic import write_atomic
    from ..drawing import DEFAULT_PRECISION
    from .run import UsageError, note
    from .sources import compile_source, max_memory, read_source, read_values
    from .step_pages import html_page, step_drawings, write_svgs

    page = o.out.lower().endswith((".html", ".htm"))
    if not page and not (o.out.endswith(("/", os.sep)) or os.path.isdir(o.out)):
        raise UsageError("--steps writes a directory of SVG files or one HTML page",
                         "give -o DIR/ (ending in /) or -o steps.html")
    text, file = read_source(o.source)
    values = read_values(o.values, o.inputs, max_bytes=max_memory(o))
    prog = compile_source(o, text, file).variant(optimize=bool(o.optimized))  # as draw does
    result = prog.run(values, grad=True, keep_all=True)
    title = os.path.basename(file) if file not in ("<expr>", "<stdin>") else " ".join(text.split())
    drawn = step_drawings(result, prog.feed(values), o.precision or DEFAULT_PRECISION,
                          rankdir=o.rankdir or "LR", max_nodes=o.max_nodes, title=title,
                          precision=o.precision or DEFAULT_PRECISION, source=prog.source)
    if page:
        write_atomic(o.out, html_page(f"{title}: the backward pass, step by step",
                                      drawn).encode("utf-8"))
        note(f"wrote {o.out} ({len(drawn)} frames: the forward pass, then {len(drawn) - 1} "
             f"backward steps)", quiet=bool(o.quiet))
    else:
        paths = write_svgs(o.out, drawn)
        note(f"wrote {len(paths)} drawings to {o.out} (step-00.svg: the forward pass)",
             quiet=bool(o.quiet))
    return 0
