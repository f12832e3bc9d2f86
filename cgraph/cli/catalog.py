"""Which commands exist, and the Typer-free parser of ordinary command lines.

The built-in commands live in `commands.py`; bigger ones in their own
modules (`cmd_draw`, `cmd_batch`), imported only when that command runs, so
`cgraph eval` does not pay for the drawing or the batch runner.
"""
from __future__ import annotations

import importlib
from typing import Optional, Sequence

from .spec import COMMANDS, Command, Options

#: command modules of cgraph/cli beside commands.py, imported on demand
PLUGINS = ("cmd_draw", "cmd_batch", "cmd_fit", "cmd_repl", "cmd_export")


def load_commands(name: Optional[str] = None) -> dict[str, Command]:
    """Import the built-in commands, and the plug-in for `name` (or every
    plug-in when name is None). Returns COMMANDS."""
    from . import commands  # noqa: F401  (declares eval, grad, jacobian, check, ops)

    if name is None:
        for mod in PLUGINS:
            load_plugin(mod)
    elif name not in COMMANDS:
        load_plugin("cmd_" + name.replace("-", "_"))
    return COMMANDS


def load_plugin(mod: str):
    """Import cgraph.cli.<mod> if it exists; None if it does not."""
    if mod not in PLUGINS:
        return None
    try:
        return importlib.import_module(f"{__package__}.{mod}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__package__}.{mod}":
            return None
        raise


# ---------------------------------------------------------------- fast path
def parse_fast(argv: Sequence[str]):
    """(Command, Options) for an ordinary command line, or None to let Typer
    parse it (help, version, anything unusual or wrong)."""
    if not argv or argv[0].startswith("-"):
        return None
    cmds = load_commands(argv[0])
    cmd = cmds.get(argv[0])
    if cmd is None:
        return None
    values = cmd.defaults()
    words: list[str] = []
    args = iter(argv[1:])
    for a in args:
        if a == "--":
            words.extend(args)
            break
        if a[:1] != "-" or a == "-":
            words.append(a)
            continue
        flag, eq, text = a.partition("=") if a.startswith("--") else (a, "", "")
        p = cmd.flags.get(flag)
        if p is None and flag.startswith("--") and flag not in ("--help", "--version"):
            import difflib

            from .run import UsageError

            # stricter than a name's typo: --bogus is not a misspelt --out
            near = next(iter(difflib.get_close_matches(
                flag, sorted(f for f in cmd.flags if f.startswith("--")), n=1, cutoff=0.75)), None)
            raise UsageError(f"cgraph {cmd.name} has no option {flag}",
                             f"did you mean {near}?" if near else f"cgraph {cmd.name} --help lists them")
        if p is None:
            return None                      # --help, bundled -qj ...: Typer decides
        if p.kind is bool:
            if eq:
                return None
            values[p.name] = True
            continue
        if not eq:
            text = next(args, None)
            if text is None:
                return None
        if isinstance(p.kind, tuple) and text not in p.kind:
            from ..errors import nearest
            from .run import UsageError

            near = nearest(text, p.kind)
            raise UsageError(f"{flag} must be {' or '.join(p.kind)}, not {text!r}",
                             f"did you mean {near}?" if near else None)
        try:
            values[p.name] = p.convert(text)
        except ValueError:
            return None
    arguments = cmd.arguments
    for k, p in enumerate(arguments):
        if p.kind is list:
            if k != len(arguments) - 1:      # pragma: no cover - a declaration mistake
                return None
            if p.required and not words:
                return None
            values[p.name] = words
            words = []
        elif words:
            values[p.name] = words.pop(0)
        elif p.required:
            return None
    if words:
        return None                          # extra words: Typer says so
    for p in cmd.params:
        if p.is_option and p.required and values[p.name] is None:
            return None
    return cmd, Options(**values)
