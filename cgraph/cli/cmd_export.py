"""`cgraph export`: a program written out as a standalone NumPy or PyTorch module
(a CLI plug-in; the writer is cgraph/export/)."""
from __future__ import annotations

from .run import OK, UsageError, note
from .spec import DTYPE, INPUTS, MAX_DEPTH, MAX_ITERATIONS, MAX_MEMORY, QUIET, SEED, SOURCE, \
    VALUES, Param, command


@command("export", SOURCE, VALUES, INPUTS,
         Param("to", ("--to",), ("numpy", "torch"), "numpy",
               help="the library the module uses: numpy (the backward pass written out line by "
                    "line) or torch (torch.autograd differentiates the forward graph)"),
         Param("module_out", ("-o", "--out"), str, metavar="FILE.py",
               help="write the module here (atomically); default: standard output"),
         Param("of", ("--of",), str, metavar="NAME",
               help="the output gradients() differentiates (default: the program's first output)"),
         DTYPE, SEED, MAX_ITERATIONS, MAX_MEMORY, MAX_DEPTH, QUIET,
         help="Write the program as a Python module with forward(inputs) and "
              "gradients(inputs, wrt=None), needing only NumPy or PyTorch.",
         examples=["cgraph export examples/seed.cg -o seed_model.py",
                   "cgraph export examples/mlp.cg --to torch -o mlp_torch.py",
                   "cgraph export model.cg x=[1,2,3] -o model.py   # x's shape from a value"])
def export(o) -> int:
    import os

    from ..export import export_source, write_module
    from .sources import check_output, open_program

    out = o.module_out
    check_output(o, out)
    if out not in (None, "-") and not out.endswith(".py"):
        raise UsageError(f"-o {out}: a Python module's name ends in .py",
                         "for example: -o model.py")
    o.mode = "static"  # a module is the static graph, optimised
    program, values = open_program(o)
    text = export_source(program, o.to, values, of=o.of)
    if out in (None, "-"):
        import sys

        sys.stdout.write(text)
        return OK
    write_module(out, text)
    stem = os.path.splitext(os.path.basename(out))[0]
    note(f"wrote {out}: import {stem}; {stem}.forward({{...}}), {stem}.gradients({{...}})",
         quiet=o.quiet)
    return OK
