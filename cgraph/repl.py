"""The calculator's session: statements that accumulate as a script, run at once.

`Session.feed(text)` takes one statement or block (as a REPL reads it) and
returns what to show. The session keeps the script of every statement that
ran; a new one runs as the last statement of that script, in eager mode (each
line runs at once, and control flow may depend on values), so a session is
exactly the program `:save` writes. A statement that fails is reported and
not kept. `print` output of earlier statements is not shown again: a run's
printed text is compared with the previous run's, and only what the new
statement printed is shown (eager runs are deterministic, seeds included).

Commands (`:help` lists them) are thin callers of the command line: `:grad`,
`:explain` and `:draw` run `cgraph grad|draw` on the session's script.
The terminal side (prompt_toolkit, history, completion) is cgraph/cli/cmd_repl.py.
"""
from __future__ import annotations

import io
import os
import shlex
from dataclasses import dataclass, field
from typing import Optional

from .errors import CgraphError

COMMANDS = {
    ":grad": ":grad [NAME] [--wrt a,b]   gradients of NAME (default: the last value) w.r.t. the leaves",
    ":explain": ":explain [NAME] [--wrt a,b]   the chain rule, step by step",
    ":draw": ":draw FILE [--backward]   draw the session's graph (.svg, .png, .dot)",
    ":vars": ":vars   every name, its shape and value",
    ":reset": ":reset   forget everything",
    ":load": ":load FILE.cg   run a file's statements here",
    ":save": ":save FILE.cg   write the session as a script",
    ":help": ":help   this list",
}


@dataclass
class Reply:
    """What one input produced: text to print, diagnostics, and whether to quit."""

    text: str = ""
    errors: list = field(default_factory=list)


class Session:
    def __init__(self, mode: str = "eager", dtype: str = "float64", seed: int = 0):
        self.mode, self.dtype, self.seed = mode, dtype, seed
        self.script: list[str] = []   # the statements (blocks) that ran, in order
        self.printed = ""             # what the last run printed
        self.values: dict = {}        # name -> value after the last run

    @property
    def source(self) -> str:
        return "".join(s if s.endswith("\n") else s + "\n" for s in self.script)

    def names(self) -> list:
        return list(self.values)

    # ---------------------------------------------------------------- input
    def feed(self, text: str) -> Reply:
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            return Reply()
        if stripped.startswith(":"):
            return self.command(stripped)
        return self.run(text)

    def run(self, text: str, file: str = "<input>") -> Reply:
        """Run `text` after the script so far; keep it if it runs."""
        from .ops.internal import PRINT
        from .program import Program

        before = self.source
        candidate = before + (text if text.endswith("\n") else text + "\n")
        captured = io.StringIO()
        old = PRINT["stream"]
        PRINT["stream"] = captured
        try:
            prog = Program(candidate, "<session>", mode=self.mode, dtype=self.dtype, seed=self.seed)
            result = prog.run(all_names=True)
        except CgraphError as exc:
            return Reply(errors=self._located(exc, before, text, file))
        finally:
            PRINT["stream"] = old
        printed = captured.getvalue()
        new_print = printed[len(self.printed):] if printed.startswith(self.printed) else printed
        self.script.append(text)
        self.printed = printed
        self.values = result.named()
        shown = self._shown(prog, text, result)
        return Reply(text=new_print + shown)

    def _shown(self, prog, text: str, result) -> str:
        """`a = 2` for the names the statement binds at the top, the value of a
        bare expression, nothing for a block."""
        from . import ast as A
        from .parse import parse

        from .cli.output import show_array

        try:
            body = parse(text, "<input>").body
        except CgraphError:
            return ""
        out = []
        for st in body:
            if isinstance(st, (A.Assign, A.Param, A.Const, A.Input)):
                name = st.target if isinstance(st, A.Assign) else st.name
                if name in self.values:
                    out.append(f"{name} = {show_array(self.values[name])}")
            elif isinstance(st, A.ExprStmt) and st is body[-1] and result.outputs:
                value = list(result.outputs.values())[-1]
                out.append(show_array(value))
        return "".join(line + "\n" for line in out)

    def _located(self, exc: CgraphError, before: str, text: str, file: str) -> list:
        """The errors with lines counted from the start of `text`, not of the script."""
        offset = before.count("\n")
        fixed = []
        for d in exc.errors:
            sp = d.span
            if sp is not None and sp.line > offset:
                sp = sp.replace(file=file, line=sp.line - offset, end_line=max(1, sp.end_line - offset))
                d = d.replace(span=sp)
            elif sp is not None and sp.line > 0:
                d = d.replace(message=f"{d.message} (in an earlier statement, line {sp.line} of "
                                      f"the session)", span=None)
            fixed.append(d)
        return CgraphError(fixed).with_source(file, text).errors

    # ------------------------------------------------------------- commands
    def command(self, line: str) -> Reply:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return Reply(errors=[_usage(str(exc))])
        name, args = words[0], words[1:]
        if name in (":help", ":h", ":?"):
            return Reply(text="\n".join(COMMANDS.values()) + "\n")
        if name == ":vars":
            return Reply(text=self._vars())
        if name == ":reset":
            self.script, self.printed, self.values = [], "", {}
            return Reply(text="(session cleared)\n")
        if name == ":save":
            return self._save(args)
        if name == ":load":
            return self._load(args)
        if name in (":grad", ":explain"):
            return self._cli(["grad"] + _grad_args(args) + (["--explain"] if name == ":explain" else []))
        if name == ":draw":
            if not args:
                return Reply(errors=[_usage(":draw needs a file: :draw graph.svg")])
            return self._cli(["draw", "-o", args[0]] + args[1:], source_first=True)
        from .errors import nearest

        near = nearest(name, list(COMMANDS))
        return Reply(errors=[_usage(f"no command {name}" + (f"; did you mean {near}?" if near else "")
                                    + " (:help lists them)")])

    def _vars(self) -> str:
        from .cli.output import plain_table, shape_text, show_array

        if not self.values:
            return "(no names yet)\n"
        rows = [(k, shape_text(v), show_array(v)) for k, v in self.values.items()]
        return plain_table(["name", "shape", "value"], rows) + "\n"

    def _save(self, args) -> Reply:
        if len(args) != 1:
            return Reply(errors=[_usage(":save needs one file name: :save session.cg")])
        from .atomic import write_atomic

        try:
            write_atomic(args[0], self.source.encode("utf-8"))
        except OSError as exc:
            return Reply(errors=[_usage(f"cannot write {args[0]}: {exc.strerror or exc}")])
        n = len(self.script)
        return Reply(text=f"wrote {args[0]} ({n} statement{'s' * (n != 1)})\n")

    def _load(self, args) -> Reply:
        if len(args) != 1:
            return Reply(errors=[_usage(":load needs one file name: :load model.cg")])
        try:
            with open(args[0], encoding="utf-8") as fp:
                text = fp.read()
        except (OSError, UnicodeDecodeError) as exc:
            return Reply(errors=[_usage(f"cannot read {args[0]}: {getattr(exc, 'strerror', None) or exc}")])
        return self.run(text, file=os.path.basename(args[0]))

    def _cli(self, argv: list, source_first: bool = False) -> Reply:
        """Run a cgraph command on the session's script (its prints silenced)."""
        if not self.script:
            return Reply(errors=[_usage("nothing to work on yet: type a statement first")])
        from .cli import run
        from .ops.internal import PRINT

        # a trailing newline: the text is never taken for a file name
        source = self.source + "\n"
        argv = [argv[0], source] + argv[1:] + ["--mode", self.mode, "--dtype", self.dtype,
                                               "--seed", str(self.seed)]
        old = PRINT["stream"]
        PRINT["stream"] = io.StringIO()
        try:
            run(argv)
        finally:
            PRINT["stream"] = old
        return Reply()


def _grad_args(args: list) -> list:
    out = []
    it = iter(args)
    for a in it:
        if a.startswith("--"):
            out.append(a)
            if a in ("--wrt", "--of"):
                out.append(next(it, ""))
        else:
            out += ["--of", a]
    return out


def _usage(message: str):
    from .errors import Diagnostic

    return Diagnostic("usage", message, None, None)


def read_blocks(lines):
    """Statements from an iterator of lines, as the prompt reads them: a line ending
    in ':' opens a block that goes on while lines are indented (or until a blank
    line). Yields each statement's text."""
    block: Optional[list] = None
    for raw in lines:
        line = raw.rstrip("\n")
        if block is not None:
            if line.strip() == "":
                yield "\n".join(block) + "\n"
                block = None
                continue
            if line[:1] in (" ", "\t") or line.lstrip().startswith(("elif", "else")):
                block.append(line)
                continue
            yield "\n".join(block) + "\n"
            block = None
        if line.rstrip().endswith(":") and not line.lstrip().startswith((":", "#")):
            block = [line]
        else:
            yield line + "\n"
    if block is not None:
        yield "\n".join(block) + "\n"
