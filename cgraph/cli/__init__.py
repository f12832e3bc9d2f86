"""The `cgraph` command line.

Layout (each module's docstring documents its public helpers):

- `spec.py`      the declarations: `Param`, `Command`, `command(...)`, the shared
                 parameters (SOURCE, VALUES, INPUTS, RUN_FLAGS ...);
- `catalog.py`   which commands exist (built-ins and plug-ins) and `parse_fast`,
                 the Typer-free parser of ordinary command lines;
- `app.py`       the Typer app built from those declarations (`build_app`,
                 `get_app`), for help, version and wrong command lines;
- `commands.py`  eval, grad, jacobian, check, ops;
- `cmd_draw.py`  draw; `cmd_batch.py` batch and `--inputs rows.csv`; `cmd_fit.py` fit;
                 `cmd_repl.py` repl (plug-ins);
- `stepper.py`   grad --step; `step_pages.py` draw --steps (SVG files, one HTML page);
- `run.py`       exit statuses, `UsageError`, `report`/`warn`/`note`, `run_command`;
- `sources.py`   SOURCE, NAME=VALUE, --inputs (`read_source`, `parse_assignment`,
                 `read_values`, `open_program`);
- `output.py`    `Printer`: JSON, plain text, or Rich tables on a terminal;
- `explain.py`   grad --explain; `fdcheck.py` grad --check; `jacobian.py` jacobian;
- `nonfinite.py` the warning (or --strict error) for a NaN/inf result;
- `cgraph/atomic.py` (shared with the library) writes every output file atomically.

Plug-ins: `cgraph/cli/cmd_draw.py` and `cgraph/cli/cmd_batch.py` add their
commands with `@spec.command(...)` and/or `register(app)`; see spec.py.

`main(argv=None)` is the console script. An ordinary command line is parsed
by `catalog.parse_fast` and run without importing Typer, pydantic or Rich; any
other (help, version, a mistake, a hand-registered command) goes to Typer.
Set CGRAPH_TYPER=1 to always go through Typer. Ctrl-C ends a run with
`cgraph: interrupted` (status 130), SIGTERM with `cgraph: terminated` (143,
installed by `main`): both unwind, so no output file is left half-written.
"""
from __future__ import annotations

import os
import sys

# The submodule run.py (exit statuses, run_command) is imported first so that
# the function `run` below, not the submodule, is what `cgraph.cli.run` names:
# importing a submodule for the first time rebinds the package attribute.
from . import run as _run_module  # noqa: F401

__all__ = ["main", "run"]


def run(argv=None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        _streams()
        if not os.environ.get("CGRAPH_TYPER"):
            from .catalog import parse_fast
            from .run import UsageError

            try:
                hit = parse_fast(argv)
            except UsageError as exc:  # a wrong flag or choice, said in cgraph's words
                from .run import USAGE, report

                report(exc)
                return USAGE
            if hit is not None:
                from .run import run_command

                return run_command(*hit)
        from .app import get_app

        try:
            get_app()(args=argv, prog_name="cgraph", standalone_mode=True)
        except SystemExit as exc:
            code = exc.code
            return code if isinstance(code, int) else (0 if code is None else 1)
        except OSError as exc:  # help or a usage message to a full standard output
            from .run import output_failed

            if not output_failed(exc):
                raise
            return 1
        return 0
    except KeyboardInterrupt as exc:
        from .run import interrupted

        return interrupted(exc)


def main(argv=None) -> None:
    _on_sigterm()
    code = run(argv)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        from .run import silence_stdout

        silence_stdout()
        code = code or 141
    except OSError as exc:
        from .run import output_failed

        if not output_failed(exc):
            raise
        code = code or 1
    sys.exit(code)


def _on_sigterm() -> None:
    """SIGTERM unwinds the run like Ctrl-C (a `run.Terminated`): temporary files are
    removed, output files stay as they were, the status is 143, no traceback."""
    import signal

    def handler(signum, frame):
        from .run import Terminated

        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
        raise Terminated()

    try:
        signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError, AttributeError):  # not the main thread, or no SIGTERM
        pass


def _streams() -> None:
    """Never fail on printing ∂ or θ to a terminal or pipe that is not UTF-8."""
    for stream in (sys.stdout, sys.stderr):
        enc = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if enc and enc != "utf8" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # pragma: no cover
                pass
