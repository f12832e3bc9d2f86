"""One program of a `cgraph batch` run: `Task` (where it came from and its
text) and `run_one`, which runs it and returns its result dict (never
raising for the program's own errors)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import CgraphError, Diagnostic


@dataclass
class Task:
    """One program of a `cgraph batch` run: where it came from and its text
    (or the error met while reading it)."""

    source: str                       # what results show: the path, or the program text
    text: Optional[str] = None
    file: str = "<expr>"
    error: Optional[dict] = None      # a read error, already as a result's "error"


def run_one(task: Task, values: Optional[dict] = None, config: Optional[dict] = None) -> dict:
    """Run one program; its result dict (never raises for the program's own errors).

    {"source", "outputs": {name: array}} for eval; {"source", "output", "value",
    "gradients", "connected"} for grad; {"source", "error": {kind, message,
    line, column, ...}, "diagnostics": [...]} when it fails. "used" lists the
    given values the program took (values it has no leaf for are left out)."""
    from ..program import Program

    config = dict(config or {})
    out: dict = {"source": task.source}
    if task.error is not None:
        out["error"] = task.error
        return out
    try:
        program = Program(task.text, task.file, mode=config.get("mode"),
                          dtype=config.get("dtype", "float64"), seed=config.get("seed", 0),
                          max_iterations=config.get("max_iterations", 100_000))
        given = dict(values or {})
        if given:  # each program takes the values it has leaves for
            try:
                leaves = set(program.check().leaves)
            except CgraphError:
                leaves = set(given)  # let the run report what is wrong
            given = {k: v for k, v in given.items() if k in leaves}
        out["used"] = sorted(given)
        if config.get("grad"):
            r = program.run(given, grad=True, of=config.get("of"), wrt=config.get("wrt"))
            out.update(output=r.output, value=r.outputs[r.output], gradients=dict(r.gradients),
                       connected=dict(r.connected))
        else:
            r = program.run(given)
            out["outputs"] = dict(r.outputs)
    except CgraphError as exc:
        exc = exc.with_source(task.file, task.text or "")
        out["error"] = error_entry(exc.errors[0])
        out["diagnostics"] = list(exc.errors)
        out.pop("used", None)
    except RecursionError:
        out["error"] = {"kind": "runtime", "message": "the program nests too deeply to run",
                        "line": None, "column": None}
    except MemoryError:
        out["error"] = {"kind": "runtime", "message": "out of memory", "line": None, "column": None}
    except Exception as exc:  # an internal error: reported in this program's result only
        out["error"] = {"kind": "internal", "message": f"internal error: {type(exc).__name__}: {exc}",
                        "line": None, "column": None}
    return out


def error_entry(d: Diagnostic) -> dict:
    e = d.to_json()
    e.setdefault("line", None)
    e.setdefault("column", None)
    return e

