"""The Typer app, built from the declarations in `cgraph.cli.spec`.

`build_app()` makes a `typer.Typer` with one command per declared `Command`
(the built-ins and every plug-in's), then calls `register(app)` of each
plug-in module (`cgraph/cli/cmd_draw.py`, `cgraph/cli/cmd_batch.py`) that
defines one, so a plug-in may also add hand-written Typer commands:

    # cgraph/cli/cmd_draw.py
    def register(app: "typer.Typer") -> None:
        @app.command("draw")
        def draw(...): ...

Only a command line the fast parser (`catalog.parse_fast`) does not take comes
here: `--help`, `--version`, a wrong command line (Typer's message, exit 2),
or a command registered by hand. `get_app()` caches the app; `typer_command
(cmd)` is the Typer function of one declared command.
"""
from __future__ import annotations

import inspect
import sys
from typing import Annotated, List, Literal, Optional

import typer

from .. import __version__
from . import catalog, spec
from .run import run_command

APP_HELP = """\
cgraph: a calculator for expressions and their gradients, and a small language
for computation graphs.

SOURCE is a .cg file, - for standard input, or the program text itself; values
are given as NAME=VALUE (a number, a tensor literal [1,2,3], or @file).
"""

APP_EPILOG = """\
Examples:

  cgraph eval "(a+b)*(b-c)" a=2 b=3 c=4            # Y = -5

  cgraph grad "(a+b)*(b-c)" a=2 b=3 c=4 --explain  # the chain rule, step by step

  cgraph grad model.cg x=@x.npy --check

  cgraph ops sigmoid

Exit status: 0 success; 1 the program is wrong or failed; 2 the command line is wrong.
"""


def _annotation(p: spec.Param):
    kind = p.kind
    if kind is list:
        base = List[str]
    elif isinstance(kind, tuple):
        base = Literal[kind]  # type: ignore[valid-type]
    else:
        base = kind
    if not p.required and p.default is None and kind is not bool:
        base = Optional[base]
    return base


def _info(p: spec.Param):
    common = dict(help=p.help, metavar=p.metavar, rich_help_panel=p.panel)
    if p.is_option:
        if p.kind is bool:
            common["metavar"] = ""
        shown = p.default is not None and p.default is not False and p.default != ()
        return typer.Option(*p.decls, min=p.min, max=p.max, show_default=shown, **common)
    return typer.Argument(show_default=False, **common)


def usage_pieces(cmd: spec.Command) -> list:
    """The usage line's arguments as cgraph writes them: SOURCE, [NAME=VALUE]...,
    SOURCE... (not Typer's {SOURCE} or [[NAME]])."""
    pieces = ["[OPTIONS]"]
    for p in cmd.arguments:
        m = p.metavar or p.name.upper()
        if p.kind is list and not m.endswith("..."):
            m += "..."
        if not p.required and not m.startswith("["):
            m = f"[{m[:-3]}]..." if m.endswith("...") else f"[{m}]"
        pieces.append(m)
    if cmd.name == "batch":  # its words mix programs and the values they share
        pieces.append("[NAME=VALUE]...")
    return pieces


class _Help:
    """A command's --help without a <bool> type beside it (it takes no value)."""

    def get_help_option(self, ctx):
        opt = super().get_help_option(ctx)
        if opt is not None:
            opt.metavar = ""
        return opt


class _Group(_Help, typer.core.TyperGroup):
    pass


def _command_class(cmd: spec.Command):
    class Command(_Help, typer.core.TyperCommand):
        def collect_usage_pieces(self, ctx):
            return usage_pieces(cmd)
    return Command


def typer_command(cmd: spec.Command):
    """A function with the signature Typer reads, calling `cmd.func` through run_command."""
    params, annotations = [], {}
    for p in cmd.params:
        ann = _annotation(p)
        default = inspect.Parameter.empty if p.required else (None if p.kind is list else p.default)
        params.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=Annotated[ann, _info(p)]))
        annotations[p.name] = Annotated[ann, _info(p)]
    lists = [p.name for p in cmd.params if p.kind is list]

    def callback(**kwargs):
        for name in lists:
            kwargs[name] = list(kwargs.get(name) or [])
        code = run_command(cmd, spec.Options(**kwargs))
        sys.stdout.flush()
        raise SystemExit(code)

    callback.__signature__ = inspect.Signature(params)
    callback.__annotations__ = annotations
    callback.__name__ = cmd.name
    callback.__qualname__ = cmd.name
    callback.__doc__ = cmd.help
    return callback


def _version(value: bool):
    if value:
        print(f"cgraph {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(name="cgraph", help=APP_HELP, epilog=APP_EPILOG, no_args_is_help=True, cls=_Group,
                      add_completion=False, pretty_exceptions_enable=False,
                      rich_markup_mode="rich",
                      context_settings={"help_option_names": ["-h", "--help"]})

    @app.callback()
    def root(version: Annotated[bool, typer.Option("--version", "-V", callback=_version, metavar="",
                                                   is_eager=True,
                                                   help="print the version and exit")] = False):
        """cgraph: expressions, gradients and computation graphs."""

    commands = catalog.load_commands()
    for cmd in commands.values():
        app.command(cmd.name, help=cmd.help, epilog=cmd.epilog, hidden=cmd.hidden,
                    cls=_command_class(cmd))(typer_command(cmd))
    for mod in catalog.PLUGINS:
        plugin = catalog.load_plugin(mod)
        register = getattr(plugin, "register", None)
        if register is not None:
            register(app)
    return app


_APP = None


def get_app() -> typer.Typer:
    global _APP
    if _APP is None:
        _APP = build_app()
    return _APP
