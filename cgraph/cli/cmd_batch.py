"""Scripted batch runs on the command line (a CLI plug-in; the engine is cgraph/batch/).

One program over the rows of a CSV file — `csv_batch`, which the eval and
grad commands call for `--inputs rows.csv`:

    cgraph eval model.cg --inputs rows.csv                    # a table on stdout
    cgraph grad examples/seed_batch.cg --inputs rows.csv --out results.csv
    cgraph grad model.cg --inputs rows.csv W=@w.npy --json    # W shared by every row

Many programs — the `batch` command:

    cgraph batch a.cg b.cg c.cg --jobs 2 --timeout 10
    printf 'a+b\\na*b\\n' | cgraph batch - a=2 b=3 --json

Standard output: on a terminal a Rich table (at most SHOWN rows; --out
writes them all); piped, a CSV batch prints CSV (every row, full precision,
or --precision digits); `--json` one JSON document (CLI.md, "More JSON
shapes"). Diagnostics, notes, the progress bar and (for a CSV batch) the
program's own `print` output go to stderr. docs/batch.md is the user's guide.
"""
from __future__ import annotations

import os
import re
import sys

from .run import FAILED, OK, UsageError, note, warn
from .spec import (DTYPE, ENGINE, JSON, MAX_ITERATIONS, MODE, PRECISION, QUIET, RUN_PANEL,
                   SCHEDULER, SEED, SOURCES, Param, command)

#: rows a terminal table shows before it says "… N more rows"
SHOWN = 200


# ============================================================ --inputs rows.csv
def csv_batch(command_name: str, opts) -> int:
    """`cgraph eval|grad SOURCE --inputs rows.csv [NAME=VALUE...] [--out FILE]`:
    the program once per row, vectorised. Called by the eval and grad commands
    (cgraph/cli/commands.py) when --inputs names a .csv file; reads `opts.out`
    (the --out/-o option, when the command declares it)."""
    from .. import datafiles
    from ..batch import SUFFIXES, read_table, write_results
    from .output import Printer
    from .sources import check_output, compile_source, read_source, read_values, split_names

    if command_name not in ("eval", "grad"):
        raise UsageError(f"{command_name} takes one set of values, not a CSV batch",
                         "a CSV batch (one run per row) works with eval and grad; give "
                         f"{command_name} a .json or .npz file, or NAME=VALUE words")
    grad = command_name == "grad"
    for flag in ("explain", "check") + (("all",) if grad else ()):
        if getattr(opts, flag, None):
            raise UsageError(f"--{flag} does not apply to a CSV batch (one run per row)",
                             f"run one row with NAME=VALUE words to use --{flag}")
    out = getattr(opts, "out", None)
    check_output(opts, out)
    if out:
        check_out_path(out, SUFFIXES)
    printer = Printer(opts)
    from ..ops.internal import PRINT

    PRINT["stream"] = sys.stderr  # the program's print() never mixes with the rows on stdout
    text, file = read_source(opts.source)
    shared = read_values(opts.values)
    skip = bool(getattr(opts, "skip_bad_rows", False))
    if getattr(opts, "scheduler", None) and getattr(opts, "engine", None) != "dask":
        raise UsageError("--scheduler is the address of a Dask scheduler: it needs --engine dask")
    if (getattr(opts, "engine", None) or "local") == "dask":
        return _dask(opts, printer, text, file, shared, grad, out)
    if getattr(opts, "chunk_rows", None) or _big(opts.inputs, out):
        return _streamed(opts, printer, text, file, shared, grad, out)
    try:
        table = read_table(opts.inputs, skip_bad=skip)
    except datafiles.DataFileError as exc:
        raise UsageError(exc.message, exc.hint) from None
    except OSError as exc:
        raise UsageError(f"cannot read {opts.inputs}: {exc.strerror or exc}") from None
    program = compile_source(opts, text, file)
    from ..batch.stream import run_chunk

    result, bad = run_chunk(program, table, shared, grad, opts.of if grad else None,
                            split_names(opts.wrt) if grad else None,
                            bool(getattr(opts, "all", False)) and not grad, skip)
    if result is None:
        raise UsageError(f"every row of {opts.inputs} is bad ({len(bad)} left out)", bad[0][1])
    result.skipped = bad
    _warn_nonfinite(result, printer.quiet)
    _note_skipped(result, printer)
    if out:
        try:
            write_results(result, out, table.columns)
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
        if printer.json:
            printer.document({"rows": result.rows, "out": out,
                              "columns": [name for name, _ in result.columns_out(table.columns)],
                              **_skipped_json(result)})
        else:
            note(f"wrote {result.rows} row{'s' * (result.rows != 1)} to {out}", printer.quiet)
        _note_shared(result, printer)
        return OK
    if printer.json:
        from ..batch import result_json

        printer.document({**result_json(result, entry=printer.entry), **_skipped_json(result)})
        return OK
    print_rows(printer, result, table.columns, opts)
    _note_shared(result, printer)
    return OK


def _big(path: str, out) -> bool:
    """Stream without being asked: a CSV input over STREAM_BYTES written to .csv/.jsonl."""
    from ..batch.stream import STREAM_BYTES, STREAM_SUFFIXES

    if not out or os.path.splitext(out)[1].lower() not in STREAM_SUFFIXES:
        return False
    try:
        return os.path.getsize(path) > STREAM_BYTES
    except OSError:
        return False


def _streamed(opts, printer, text, file, shared, grad, out) -> int:
    """--chunk-rows N (or a big input): the batch read, run and written a chunk at a time."""
    from ..batch.stream import DEFAULT_CHUNK_ROWS, stream_rows
    from .sources import compile_source, split_names

    _check_stream_out(out, "--chunk-rows")
    program = compile_source(opts, text, file)
    chunk = opts.chunk_rows or DEFAULT_CHUNK_ROWS
    result = stream_rows(program, opts.inputs, out, shared, grad=grad,
                         of=opts.of if grad else None, wrt=split_names(opts.wrt) if grad else None,
                         all_names=bool(getattr(opts, "all", False)) and not grad,
                         chunk_rows=chunk, skip_bad=bool(getattr(opts, "skip_bad_rows", False)))
    return _report_streamed(printer, result, out, f"streamed, {chunk:,} rows at a time")


def _check_stream_out(out, flag: str) -> None:
    from ..batch.stream import STREAM_SUFFIXES

    if not out:
        raise UsageError(f"{flag} streams the results to a file: give --out FILE.csv "
                         "(or .jsonl, .parquet)")
    if os.path.splitext(out)[1].lower() not in STREAM_SUFFIXES:
        raise UsageError(f"{flag} writes .csv, .jsonl or .parquet, not {out}",
                         "an .npz holds every row at once: write .csv, .jsonl or .parquet")


def _report_streamed(printer, result, out, how: str) -> int:
    _note_skipped(result, printer)
    if printer.json:
        printer.document({"rows": result.rows, "out": out, "columns": result.written,
                          **_skipped_json(result)})
    else:
        note(f"wrote {result.rows} row{'s' * (result.rows != 1)} to {out} ({how})",
             printer.quiet)
    _note_shared(result, printer)
    return OK


def _dask(opts, printer, text, file, shared, grad, out) -> int:
    """--engine dask: the chunks of a streamed run as Dask tasks (cgraph/batch/dask_engine.py)."""
    from ..batch.dask_engine import run_dask
    from ..batch.stream import DEFAULT_CHUNK_ROWS
    from .sources import compile_source, max_memory, split_names

    _check_stream_out(out, "--engine dask")
    compile_source(opts, text, file)  # the program's own errors, before a cluster starts
    settings = {"mode": opts.mode, "dtype": opts.dtype or "float64", "seed": opts.seed or 0,
                "max_iterations": opts.max_iterations or 100_000,
                "max_memory": max_memory(opts), "max_depth": opts.max_depth or 1000}
    chunk = opts.chunk_rows or DEFAULT_CHUNK_ROWS
    result = run_dask(text, file, settings, opts.inputs, out, shared, grad=grad,
                      of=opts.of if grad else None, wrt=split_names(opts.wrt) if grad else None,
                      all_names=bool(getattr(opts, "all", False)) and not grad,
                      chunk_rows=chunk, skip_bad=bool(getattr(opts, "skip_bad_rows", False)),
                      scheduler=getattr(opts, "scheduler", None))
    return _report_streamed(printer, result, out, f"Dask, {result.tasks} tasks of "
                            f"{chunk:,} rows")


def _note_skipped(result, printer) -> None:
    bad = getattr(result, "skipped", None)
    if not bad:
        return
    shown = bad[:20]
    lines = "\n".join(f"  {msg}" for _, msg in shown)
    more = f"\n  … and {len(bad) - len(shown)} more" if len(bad) > len(shown) else ""
    warn(f"{len(bad)} bad row{'s' * (len(bad) != 1)} left out (--skip-bad-rows):\n{lines}{more}",
         printer.quiet)


def _skipped_json(result) -> dict:
    bad = getattr(result, "skipped", None)
    if not bad:
        return {}
    return {"skipped": [{"row": int(r), "message": m} for r, m in bad]}


def check_out_path(out: str, suffixes) -> None:
    """--out must end in a known suffix and name a file in an existing, writable directory."""
    ext = os.path.splitext(out)[1].lower()
    if ext not in suffixes:
        raise UsageError(f"--out {out}: the file name must end in " + ", ".join(suffixes),
                         "the suffix says the format: results.csv, results.jsonl or results.npz")
    directory = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(directory):
        raise UsageError(f"--out {out}: no such directory: {directory}")
    if os.path.isdir(out):
        raise UsageError(f"--out {out} is a directory")
    if not os.access(directory, os.W_OK):
        raise UsageError(f"--out {out}: the directory {directory} is not writable")


def print_rows(printer, result, columns, opts) -> None:
    """A Rich table on a terminal (at most SHOWN rows); CSV when piped."""
    if printer.rich:
        from ..batch import table_rows

        headers, rows = table_rows(result, columns, show=printer.show, limit=SHOWN)
        headers = ["row"] + headers
        rows = [[str(k + 2)] + r for k, r in enumerate(rows)]
        printer.table(headers, rows, justify=["right"] * len(headers))
        if result.rows > SHOWN:
            note(f"… {result.rows - SHOWN} more rows (write them all with --out FILE.csv)",
                 printer.quiet)
        return
    from ..batch import write_csv

    stream = sys.stdout
    stream.flush()
    write_csv(stream.buffer if hasattr(stream, "buffer") else _TextAsBinary(stream),
              result.columns_out(columns), result.rows, digits=getattr(opts, "precision", None))
    stream.flush()


class _TextAsBinary:
    """A text stream (a test's StringIO) seen as a binary one."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, data) -> None:
        self.stream.write(bytes(data).decode("utf-8"))


def _warn_nonfinite(result, quiet: bool) -> None:
    import numpy as np

    for name, v in list(result.outputs.items()) + [(result.gradient_name(n), g)
                                                    for n, g in result.gradients.items()]:
        v = np.asarray(v)
        if v.dtype.kind != "f" or v.size == 0:
            continue
        bad = ~np.isfinite(v.reshape(v.shape[0], -1)).all(axis=1)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            warn(f"{name} is NaN or infinite in {int(bad.sum())} of {result.rows} rows "
                 f"(first: row {first + 2})", quiet)


def _note_shared(result, printer) -> None:
    if not result.shared_gradients or printer.json:
        return
    names = ", ".join(result.shared_gradients)
    note(f"gradients with respect to shared values ({names}) are summed over the rows; "
         "--json prints them under \"shared_gradients\", .npz files hold them", printer.quiet)


# ====================================================================== batch
JOBS = Param("jobs", ("-j", "--jobs"), int, 1, metavar="N", min=1, panel=RUN_PANEL,
             help="run the programs in N parallel processes")
TIMEOUT = Param("timeout", ("--timeout",), str, None, metavar="SECONDS", panel=RUN_PANEL,
                help="stop a program that runs longer than this (it is reported as failed)")
GRAD = Param("grad", ("--grad",), bool, False, panel=RUN_PANEL,
             help="differentiate each program (as cgraph grad) instead of evaluating it")
OF = Param("of", ("--of",), str, metavar="NAME", panel=RUN_PANEL,
           help="with --grad: the output to differentiate")
WRT = Param("wrt", ("--wrt",), str, metavar="A,B", panel=RUN_PANEL,
            help="with --grad: the leaves to differentiate with respect to")

_VALUE = re.compile(r"^[^\W\d]\w*=\S")


@command("batch", SOURCES, GRAD, OF, WRT, JOBS, TIMEOUT, ENGINE, SCHEDULER, MODE, DTYPE, SEED, MAX_ITERATIONS, JSON,
         PRECISION, QUIET,
         help="Run many programs, each on its own: files, or - for one program per line of "
              "standard input. NAME=VALUE words give values to every program that has that "
              "leaf. A failing program is reported and the others still run; the exit "
              "status is 1 if any failed.",
         examples=["cgraph batch examples/*.cg --jobs 2",
                   "printf 'a+b\\na*b\\n' | cgraph batch - a=2 b=3 --json",
                   "cgraph batch models/*.cg --grad --timeout 10 x=@x.npy",
                   "cgraph batch models/*.cg --engine dask --scheduler tcp://10.0.0.5:8786"])
def batch_command(o) -> int:
    from ..batch import run_programs
    from .output import Printer
    from .sources import parse_assignment, split_names

    words = list(o.sources or [])
    value_words = [w for w in words if _VALUE.match(w) and not os.path.exists(w)]
    sources = [w for w in words if w not in value_words]
    if not sources:
        raise UsageError("batch needs at least one program: files, or - for standard input",
                         "e.g. cgraph batch a.cg b.cg, or printf 'a+b\\n' | cgraph batch - a=1 b=2")
    if sources.count("-") > 1:
        raise UsageError("- (standard input) is given more than once")
    values = {}
    for w in value_words:
        name, value = parse_assignment(w)
        if name in values:
            raise UsageError(f"'{name}' is given twice", "give each value once")
        values[name] = value
    timeout = None
    if o.timeout is not None:
        try:
            timeout = float(o.timeout)
        except ValueError:
            timeout = -1.0
        if not timeout > 0 or timeout != timeout or timeout == float("inf"):
            raise UsageError(f"--timeout {o.timeout}: not a positive number of seconds",
                             "e.g. --timeout 10 or --timeout 0.5")
    if not o.grad and (o.of or o.wrt):
        raise UsageError("--of and --wrt need --grad")
    tasks = read_tasks(sources)
    printer = Printer(o)
    config = {"grad": bool(o.grad), "of": o.of, "wrt": split_names(o.wrt),
              "mode": o.mode, "dtype": o.dtype or "float64", "seed": o.seed or 0,
              "max_iterations": o.max_iterations or 100_000, "print_to_stderr": printer.json}
    dask = (o.engine or "local") == "dask"
    if o.scheduler and not dask:
        raise UsageError("--scheduler is the address of a Dask scheduler: it needs --engine dask")
    if dask and timeout is not None:
        raise UsageError("--timeout stops a program by killing its worker process: it works "
                         "with --engine local only",
                         "leave out --timeout (or run with --engine local)")
    with _Progress(len(tasks), printer.quiet) as progress:
        if dask:
            from ..batch.dask_engine import run_programs_dask

            results = run_programs_dask(tasks, values, config, scheduler=o.scheduler,
                                        on_done=progress.done)
        else:
            results = run_programs(tasks, values, config, jobs=o.jobs or 1, timeout=timeout,
                                   on_done=progress.done)
    failed = sum(1 for r in results if "error" in r)
    used = set().union(*(r.get("used", ()) for r in results)) if results else set()
    for name in values:
        if name not in used and not all("error" in r for r in results):
            warn(f"no program has a leaf named '{name}': its value was not used", printer.quiet)
    if printer.json:
        printer.document({"results": [json_result(r, printer) for r in results], "failed": failed})
    else:
        _print_results(printer, results)
    if not printer.json or not printer.quiet:
        _report_failures(results)
    if not printer.quiet and not printer.json:
        note(f"{len(results)} program{'s' * (len(results) != 1)}: {len(results) - failed} ok, "
             f"{failed} failed")
    return FAILED if failed else OK


def read_tasks(sources) -> list:
    """One Task per file, per program text, and per non-blank line of standard
    input (lines starting with # are comments). A file that cannot be read is
    that program's error; the others still run."""
    from ..batch import Task, error_entry
    from ..errors import CgraphError
    from .sources import looks_like_path, read_source, read_stdin_bytes

    tasks = []
    for src in sources:
        if src == "-":  # one program per line; a line that is not UTF-8 is that line's error
            for lineno, raw in enumerate(read_stdin_bytes().splitlines(), start=1):
                file = f"<stdin:{lineno}>"
                try:
                    line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
                except UnicodeDecodeError:
                    try:
                        from ..parse import parse_bytes

                        parse_bytes(raw, file)
                    except CgraphError as exc:
                        tasks.append(Task(f"<line {lineno}>", None, file,
                                          error=error_entry(exc.errors[0])))
                    continue
                if line.strip() and not line.lstrip().startswith("#"):
                    tasks.append(Task(line.strip(), line.strip(), file))
            continue
        if os.path.exists(src) or looks_like_path(src):
            try:
                text, file = read_source(src)
            except UsageError as exc:
                err = {"kind": "usage", "message": exc.message, "line": None, "column": None}
                if exc.hint:
                    err["hint"] = exc.hint
                tasks.append(Task(src, None, src, error=err))
                continue
            except CgraphError as exc:  # not UTF-8: this program's error; the others run
                tasks.append(Task(src, None, src, error=error_entry(exc.errors[0])))
                continue
            tasks.append(Task(src, text, file))
        else:
            tasks.append(Task(src, src, "<expr>"))
    if not tasks:
        raise UsageError("no programs to run: standard input had only blank or comment lines")
    return tasks


def json_result(r: dict, printer) -> dict:
    """A program's result as JSON: "source" and the fields of eval/grad --json, or "error"."""
    out = {"source": r["source"]}
    if "error" in r:
        out["error"] = r["error"]
        diags = r.get("diagnostics") or ()
        if len(diags) > 1:
            from ..batch import error_entry

            out["errors"] = [error_entry(d) for d in diags]
        return out
    if "outputs" in r:
        out["outputs"] = {n: printer.entry(v) for n, v in r["outputs"].items()}
        return out
    out.update({"output": r["output"], **printer.entry(r["value"]),
                "gradients": {n: printer.entry(g, **({} if r["connected"].get(n, True)
                                                     else {"connected": False}))
                              for n, g in r["gradients"].items()}})
    return out


def _short(source: str, width: int = 48) -> str:
    one = " ".join(source.split())
    return one if len(one) <= width else one[:width - 1] + "…"


def _print_results(printer, results) -> None:
    rows = []
    for r in results:
        if "error" in r:
            e = r["error"]
            where = f" ({e.get('file') or '?'}:{e['line']}:{e['column']})" if e.get("line") else ""
            rows.append((_short(r["source"]), f"{e['kind']} error: {e['message']}{where}"))
        elif "outputs" in r:
            rows.append((_short(r["source"]),
                         "\n".join(f"{n} = {printer.show(v)}" for n, v in r["outputs"].items())))
        else:
            lines = [f"{r['output']} = {printer.show(r['value'])}"]
            lines += [f"∂{r['output']}/∂{n} = {printer.show(g)}" for n, g in r["gradients"].items()]
            rows.append((_short(r["source"]), "\n".join(lines)))
    printer.table(["source", "result"], rows)


def _report_failures(results) -> None:
    from ..errors import Diagnostic, render, use_color

    color = use_color(sys.stderr)
    for r in results:
        if "error" not in r:
            continue
        diags = r.get("diagnostics")
        if not diags:
            e = r["error"]
            diags = [Diagnostic(e["kind"], e["message"], None, e.get("hint"))]
        print(f"{_short(r['source'], 72)}:", file=sys.stderr)
        print(render(diags, color=color), file=sys.stderr, flush=True)


class _Progress:
    """A progress bar on stderr, only when stderr is a terminal (and not --quiet)."""

    def __init__(self, total: int, quiet: bool):
        self.total = total
        self.bar = None
        self.active = total > 1 and not quiet and _isatty(sys.stderr)

    def __enter__(self):
        if self.active:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
                TimeElapsedColumn

            self.bar = Progress(TextColumn("programs"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task("programs", total=self.total)
        return self

    def done(self, k: int, result: dict) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
