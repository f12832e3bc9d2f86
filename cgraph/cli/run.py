"""Running one command: exit statuses, diagnostics, interrupts.

Public helpers for every command (the draw and batch plug-ins included):

- `OK`, `FAILED`, `USAGE`, `INTERRUPTED`, `TERMINATED`: the exit statuses of
  CLI.md (0; 1 the program is wrong or failed; 2 the command line is wrong;
  130 Ctrl-C; 143 SIGTERM).
- `Terminated`: what the console script's SIGTERM handler raises (a
  KeyboardInterrupt, so it unwinds the same way: atomic writes remove their
  temporary file, an existing output file is left as it was).
- `interrupted(exc)`: print the short message for a KeyboardInterrupt or
  `Terminated` and return its status.
- `UsageError(message, hint=None)`: raise it for a wrong command line
  (malformed NAME=VALUE, a missing or unreadable file, conflicting flags):
  the user sees `usage error: message` and the status is 2.
- `report(errors)`: print diagnostics (a `CgraphError`, a list of
  `Diagnostic`s, or a `UsageError`) on stderr, coloured on a terminal.
- `warn(message_or_diagnostic, quiet=False)`: a warning on stderr.
- `note(text, quiet=False)`: an informational line on stderr.
- `exit_status(exc)`: the status a `CgraphError` means.
- `run_command(cmd, opts)`: call a command's function and turn whatever it
  raises into a message and a status: never a traceback for a user's mistake;
  an internal bug shows its traceback with a line asking to report it.
"""
from __future__ import annotations

import sys

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130
TERMINATED = 143  # 128 + SIGTERM
BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports `cgraph ops | head -1`

#: diagnostic kinds that mean "the command line is wrong"
USAGE_KINDS = ("usage",)


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that the run unwinds like Ctrl-C."""


def interrupted(exc: BaseException) -> int:
    """`cgraph: interrupted` (Ctrl-C, 130) or `cgraph: terminated` (SIGTERM, 143)."""
    term = isinstance(exc, Terminated)
    try:
        print("\ncgraph: " + ("terminated" if term else "interrupted"), file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr is gone: the status still says it
        pass
    return TERMINATED if term else INTERRUPTED


class UsageError(Exception):
    """The command line is wrong (exit status 2)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint

    @property
    def errors(self) -> list:
        from ..errors import Diagnostic

        return [Diagnostic("usage", self.message, None, self.hint)]


def _color() -> bool:
    from ..errors import use_color

    return use_color(sys.stderr)


def report(errors) -> None:
    """Print diagnostics on stderr (file:line:col, the line, a caret, the hint)."""
    from ..errors import render

    diags = getattr(errors, "errors", errors)
    print(render(diags, color=_color()), file=sys.stderr, flush=True)


def warn(what, quiet: bool = False) -> None:
    """A warning on stderr: a message, or a Diagnostic (rendered with its source line)."""
    if quiet:
        return
    from ..errors import Diagnostic, render_one

    if isinstance(what, Diagnostic):
        text = render_one(what, color=_color()).replace(f"{what.kind} error", "warning", 1)
    else:
        yellow, reset = ("\x1b[33;1m", "\x1b[0m") if _color() else ("", "")
        text = f"{yellow}warning{reset}: {what}"
    print(text, file=sys.stderr, flush=True)


def note(text: str, quiet: bool = False) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def exit_status(exc) -> int:
    """USAGE when every diagnostic is a usage error, else FAILED."""
    kinds = {d.kind for d in getattr(exc, "errors", ())}
    return USAGE if kinds and kinds <= set(USAGE_KINDS) else FAILED


def run_command(cmd, opts) -> int:
    """Run `cmd.func(opts)`; return its exit status, whatever happens."""
    from ..errors import CgraphError

    internal = sys.modules.get("cgraph.ops.internal")
    saved = internal.PRINT["stream"] if internal else None
    try:
        return _run(cmd, opts, CgraphError)
    finally:
        internal = sys.modules.get("cgraph.ops.internal")
        if internal:  # a Printer may have sent print() to stderr for --json
            internal.PRINT["stream"] = saved


def _run(cmd, opts, CgraphError) -> int:
    try:
        code = cmd.func(opts)
        sys.stdout.flush()
        return OK if code is None else int(code)
    except UsageError as exc:
        report(exc)
        return USAGE
    except CgraphError as exc:
        report(exc)
        return exit_status(exc)
    except KeyboardInterrupt as exc:
        return interrupted(exc)
    except BrokenPipeError:
        silence_stdout()
        return BROKEN_PIPE
    except OSError as exc:
        if not output_failed(exc):
            raise
        return FAILED
    except RecursionError:
        report(CgraphError("the program nests too deeply to run", kind="runtime",
                           hint="flatten deeply nested expressions or calls"))
        return FAILED
    except MemoryError:
        report(CgraphError("out of memory", kind="runtime",
                           hint="the values are too large for this machine"))
        return FAILED
    except Exception:  # an internal bug: show it, ask for a report
        import traceback

        traceback.print_exc()
        print("\ncgraph: internal error (a bug in cgraph, not in your program). Please report "
              "it with the command you ran.", file=sys.stderr, flush=True)
        return FAILED


def output_failed(exc: OSError) -> bool:
    """A write to standard output failed (a full disk, /dev/full, an I/O error):
    say so on stderr and quiet stdout. False for any other OSError."""
    import errno

    if exc.errno not in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG):
        return False
    silence_stdout()
    try:
        print(f"cgraph: cannot write to standard output: {exc.strerror}", file=sys.stderr, flush=True)
    except OSError:
        pass
    return True


def silence_stdout() -> None:
    """After a broken pipe, make Python's exit-time flush of stdout quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
