"""A program's source, run and drawn: `draw_program` and `draw_to_file`.

(The drawing itself is cgraph/drawing.py, which never imports `cgraph.program`:
`Program.draw` calls `draw.draw_compiled` on itself.)
"""
from __future__ import annotations

import os
from typing import Optional

from .drawing import DEFAULT_PRECISION, DEFAULT_RANKDIR, Drawing, draw_compiled, format_of, produce
from .errors import CgraphError


def draw_program(source: str, file: str = "<expr>", inputs: Optional[dict] = None, *,
                 mode: Optional[str] = None, dtype: str = "float64", seed: int = 0,
                 max_iterations: int = 100_000, max_memory: Optional[int] = None,
                 backward: bool = False, optimized: bool = False,
                 rankdir: str = DEFAULT_RANKDIR, max_nodes: Optional[int] = None,
                 precision: int = DEFAULT_PRECISION, title: Optional[str] = None,
                 print_stream=None) -> Drawing:
    """Compile `source`, run it (with gradients when it can) and draw it; see
    `draw.draw_compiled`."""
    from .program import Program

    prog = Program(source, file, mode=mode, dtype=dtype, seed=seed, max_iterations=max_iterations,
                   optimize=optimized, max_memory=max_memory)
    return draw_compiled(prog, inputs, backward=backward, rankdir=rankdir, max_nodes=max_nodes,
                         precision=precision, title=title, print_stream=print_stream)


def draw_to_file(program_path: str, out_path: str, inputs: Optional[dict] = None,
                 backward: bool = False, fmt: Optional[str] = None, **options) -> str:
    """Draw the program in `program_path` to `out_path` (svg, png or dot, from
    `fmt` or the suffix), written atomically. Returns out_path.

        >>> draw_to_file("examples/seed.cg", "docs/seed.svg")

    `options` go to `draw_program` (mode, dtype, seed, optimized, rankdir,
    max_nodes, precision, title).
    """
    from .atomic import write_atomic

    f = format_of(out_path, fmt)
    try:
        with open(program_path, encoding="utf-8") as fh:
            source = fh.read()
    except OSError as exc:
        raise CgraphError(f"cannot read {program_path}: {exc.strerror or exc}", kind="io") from None
    options.setdefault("title", os.path.basename(program_path))
    drawing = draw_program(source, program_path, inputs, backward=backward, **options)
    write_atomic(out_path, produce(drawing, f))
    return out_path
