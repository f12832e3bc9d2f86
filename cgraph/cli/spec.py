"""The command line's definitions, in one place, cheap to import.

Every command is declared once, here-style, with `command(...)`:

    from cgraph.cli.spec import command, Param, SOURCE, VALUES, INPUTS, RUN_FLAGS

    @command("draw", SOURCE, VALUES, INPUTS,
             Param("out", ("-o", "--out"), str, required=True, metavar="FILE",
                   help="where to write the drawing (- for stdout)"),
             *RUN_FLAGS,
             help="Draw the graph.", examples=["cgraph draw model.cg -o graph.svg"])
    def draw(o: Options) -> int:      # o.source, o.values, o.out, o.mode, o.json ...
        ...
        return 0                      # the exit status

From that one declaration come both ways in:

- `cgraph.cli.app.build_app()` turns each `Command` into a Typer command (help
  with examples, `--help`, error messages for a wrong command line, exit 2);
- `catalog.parse_fast(argv)` parses an ordinary, well-formed command line for those
  same `Param`s without importing Typer (~45 ms) or pydantic/Rich (~110 ms):
  cold start is what a calculator is judged by. Anything it is not sure of
  (`--help`, an unknown flag, a missing or bad option value, bundled short
  flags) makes it return None, and Typer parses the line instead, so the two
  can never disagree on a line both accept (tests/test_cli_spec.py checks it).

A command's function takes an `Options` (attribute access to every
parameter, by `Param.name`) and returns the exit status; it raises
`CgraphError` or `UsageError` for a user's mistake (see cgraph/cli/run.py).

Plug-ins: a module `cgraph/cli/cmd_<name>.py` listed in `catalog.PLUGINS`
(`cmd_draw`, `cmd_batch`) is imported when `cgraph <name>` is run (and when the Typer app is built, for
`--help`). It may declare its command with `@command` as above (fast path
and Typer for free), and/or define `register(app: typer.Typer)` to add Typer
commands by hand (those always go through Typer). The batch plug-in also
runs `eval`/`grad`/`jacobian --inputs rows.csv`: those commands call its
`csv_batch(command_name: str, opts: Options) -> int` (exit status).
"""
from __future__ import annotations

from ..records import Frozen, Record
from typing import Any, Callable, Optional, Sequence

class Options:
    """The parsed command line of one command: `o.mode`, `o.values`, ..."""

    def __init__(self, **values: Any):
        self.__dict__.update(values)

    def __getattr__(self, name: str):  # an option the command does not have
        return None

    def __eq__(self, other) -> bool:
        return isinstance(other, Options) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return "Options(" + ", ".join(f"{k}={v!r}" for k, v in vars(self).items()) + ")"


class Param(Frozen):
    """One argument (no `decls`) or option (`decls` = its flags) of a command.

    kind: `str`, `int`, `float`, `bool` (a flag: present -> True), a tuple of allowed
    strings (a choice), or `list` (an argument taking every remaining word).
    """

    __slots__ = ("name", "decls", "kind", "default", "help", "metavar", "required", "min", "panel",
                 "max")
    _defaults = {"decls": (), "kind": str, "default": None, "help": "", "metavar": None,
                 "required": False, "min": None, "panel": None, "max": None}

    @property
    def is_option(self) -> bool:
        return bool(self.decls)

    def convert(self, text: str):
        """The value of `text` for this option, as Typer would give it;
        ValueError when Typer would refuse it."""
        kind = self.kind
        if kind is float:
            value = float(text)
            if self.min is not None and value < self.min:
                raise ValueError(f"{value} < {self.min}")
            return value
        if kind is int:
            value = int(text)
            if self.min is not None and value < self.min:
                raise ValueError(f"{value} < {self.min}")
            if self.max is not None and value > self.max:
                raise ValueError(f"{value} > {self.max}")
            return value
        if isinstance(kind, tuple):
            if text not in kind:
                raise ValueError(text)
            return text
        return text


class Command(Record):
    __slots__ = ("name", "func", "params", "help", "examples", "hidden", "flags")
    _defaults = {"help": "", "examples": (), "hidden": False}
    _factories = {"flags": dict}

    def __post_init__(self):
        seen = set()
        for p in self.params:
            if p.name in seen:
                raise ValueError(f"command {self.name!r} declares {p.name!r} twice")
            seen.add(p.name)
            for d in p.decls:
                self.flags[d] = p

    @property
    def arguments(self) -> list:
        return [p for p in self.params if not p.is_option]

    @property
    def epilog(self) -> str:
        if not self.examples:
            return ""
        return "Examples:\n\n" + "\n\n".join(f"  {e}" for e in self.examples)

    def defaults(self) -> dict:
        return {p.name: (list(p.default) if isinstance(p.default, (list, tuple)) and p.kind is list
                         else p.default) for p in self.params}


COMMANDS: dict[str, Command] = {}


def command(name: str, *params: Param, help: str = "", examples: Sequence[str] = (),
            hidden: bool = False):
    """Declare a command (decorator). See the module docstring."""
    def deco(func):
        if name in COMMANDS and COMMANDS[name].func is not func:
            raise ValueError(f"command {name!r} declared twice")
        COMMANDS[name] = Command(name, func, tuple(params), help, tuple(examples), hidden)
        return func
    return deco


# ------------------------------------------------------ shared parameters
RUN_PANEL = "Running"
OUT_PANEL = "Output"

SOURCE = Param("source", kind=str, required=True, metavar="SOURCE",
               help="a .cg file, - for standard input, or the program text itself")
SOURCES = Param("sources", kind=list, required=True, metavar="SOURCE",
                help=".cg files, - for standard input, or program text")
VALUES = Param("values", kind=list, default=(), metavar="NAME=VALUE",
               help="values of inputs and leaves: a number, a tensor literal [1,2,3], "
                    "or @file (.npy, .npz:key, .csv, .json)")
INPUTS = Param("inputs", ("--inputs",), str, metavar="FILE", panel=RUN_PANEL,
               help="read values from a .json object (name -> value) or an .npz archive; "
                    "a .csv, .jsonl or .parquet table of rows is a batch run, one result per row")
OUT = Param("out", ("-o", "--out"), str, metavar="FILE", panel="Output",
            help="with --inputs rows.csv: write one result row per input row to a .csv, "
                 ".jsonl, .npz or .parquet file (atomically) instead of printing a table")

CHUNK_ROWS = Param("chunk_rows", ("--chunk-rows",), int, None, metavar="N", min=1, panel="Output",
                   help="with --inputs rows.csv --out FILE.csv|.jsonl|.parquet: stream the batch, "
                        "N rows at a time (memory stays one chunk's; the output appears when "
                        "complete; default 100,000 for --engine dask and inputs over 256 MiB)")

ENGINE = Param("engine", ("--engine",), ("local", "dask"), None, panel=RUN_PANEL,
               help="with --inputs rows.csv|.jsonl|.parquet --out FILE: local (this process, the "
                    "default) or dask (the chunks of rows as Dask tasks; needs the dask extra of "
                    "cgraph)")
SCHEDULER = Param("scheduler", ("--scheduler",), str, None, metavar="ADDRESS", panel=RUN_PANEL,
                  help="with --engine dask: the address of a running Dask scheduler "
                       "(tcp://host:8786; default: a local cluster of worker processes)")
SKIP_BAD_ROWS = Param("skip_bad_rows", ("--skip-bad-rows",), bool, False, panel=RUN_PANEL,
                      help="with --inputs rows.csv|.jsonl|.parquet: leave out a row with a bad cell or a "
                           "failing computation, go on, and list the rows left out")

MODE = Param("mode", ("--mode",), ("static", "eager"), None, panel=RUN_PANEL,
             help="static: build the whole graph, then run it; eager: run each statement "
                  "as it is reached (default: the program's `# mode:` comment line, else static)")
DTYPE = Param("dtype", ("--dtype",), ("float64", "float32"), "float64", panel=RUN_PANEL,
              help="the float type of the whole graph")
SEED = Param("seed", ("--seed",), int, 0, metavar="N", panel=RUN_PANEL,
             help="seed of randn/rand calls without their own seed")
MAX_ITERATIONS = Param("max_iterations", ("--max-iterations",), int, 100_000, metavar="N",
                       min=1, panel=RUN_PANEL,
                       help="the most loop iterations a run may take, every loop together (for loops "
                            "unrolled in static mode, while loops in eager mode)")
MAX_MEMORY = Param("max_memory", ("--max-memory",), str, None, metavar="SIZE", panel=RUN_PANEL,
                   help="refuse a run that would hold more than SIZE of values (bytes, or 500K, "
                        "200M, 2G; default: half the memory the process may use: RAM, ulimit -v, "
                        "the cgroup's memory.max), before it is allocated")
MAX_DEPTH = Param("max_depth", ("--max-depth",), int, 1000, metavar="N", min=1, panel=RUN_PANEL,
                  help="the deepest user-function calls may nest (a chain of functions, or "
                       "recursion in eager mode)")
STRICT = Param("strict", ("--strict",), bool, False, panel=RUN_PANEL,
               help="numerical trouble (nan or inf in a result: log of a negative value, "
                    "division by zero, overflow) is an error (exit 1), not a warning")
JSON = Param("json", ("--json",), bool, False, panel=OUT_PANEL,
             help="print one JSON document on stdout (diagnostics go to stderr)")
PRECISION = Param("precision", ("--precision",), int, None, metavar="N", min=1, max=17,
                  panel=OUT_PANEL,
                  help="significant digits shown, 1 to 17 (default 6; --json: full precision "
                       "unless this is given)")
QUIET = Param("quiet", ("-q", "--quiet"), bool, False, panel=OUT_PANEL,
              help="print only results: no headers, notes or warnings (errors still show)")

#: the common flags of every command that runs a program
RUN_FLAGS = (MODE, DTYPE, SEED, MAX_ITERATIONS, MAX_MEMORY, MAX_DEPTH, STRICT, JSON, PRECISION,
             QUIET)
