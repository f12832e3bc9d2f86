"""`cgraph repl`: the calculator's prompt (a CLI plug-in; the session is cgraph/repl.py).

On a terminal it is a prompt_toolkit prompt (the library IPython's prompt is
built on, imported only here): `cg> ` for a statement, `... ` inside a block
(`def`, `for`, `if`, `while`: a blank line ends it), tab completion of
builtins, names and `:commands`, history kept in the user's state directory
($XDG_STATE_HOME/cgraph/history, else ~/.local/state/cgraph/history),
Ctrl-C cancels the line, Ctrl-D leaves. With standard input not a terminal it
reads the lines, prints results without prompts or colour (errors on stderr)
and exits 1 if any statement failed, so a session can be scripted and tested.
"""
from __future__ import annotations

import os
import sys

from .spec import DTYPE, MODE, SEED, command

PROMPT, MORE = "cg> ", "... "
BANNER = ("cgraph {version} — statements run as you type them (eager mode); "
          ":help lists the commands, Ctrl-D leaves.")


@command("repl", MODE, DTYPE, SEED,
         help="An interactive calculator: each statement runs as you type it.",
         examples=["cgraph repl", "printf 'a = 2\\nb = a * 3\\n:grad b\\n' | cgraph repl"])
def repl(o) -> int:
    from ..repl import Session

    session = Session(mode=o.mode or "eager", dtype=o.dtype or "float64", seed=o.seed or 0)
    if sys.stdin.isatty() and sys.stdout.isatty():
        return _interactive(session)
    return _piped(session)


def _show(reply, color: bool = False) -> bool:
    """Print a reply (errors on stderr); True if it had errors."""
    from ..errors import render

    if reply.text:
        sys.stdout.write(reply.text)
        sys.stdout.flush()
    if reply.errors:
        print(render(reply.errors, color=color), file=sys.stderr, flush=True)
    return bool(reply.errors)


def _piped(session) -> int:
    from ..repl import read_blocks

    from ..errors import Diagnostic
    from ..repl import Reply

    failed = False
    for text in read_blocks(sys.stdin):
        if any("\udc80" <= ch <= "\udcff" for ch in text):  # bytes that are not UTF-8
            failed |= _show(Reply(errors=[Diagnostic(
                "syntax", "this input is not valid UTF-8 text", None,
                "save the file as UTF-8")]))
            continue
        failed |= _show(session.feed(text))
    return 1 if failed else 0


def history_path() -> str:
    """Where the prompt keeps its history (XDG's state directory)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "state")
    return os.path.join(base, "cgraph", "history")


def _history():
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    path = history_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
        return FileHistory(path)
    except OSError:  # a read-only home: the session still works, unremembered
        return InMemoryHistory()


class _Completer:
    """Builtins, the session's names and the :commands, as the word being typed."""

    def __init__(self, session):
        from .. import ops  # noqa: F401  (fills the registry)
        from .. import registry as R
        from ..repl import COMMANDS

        self.session = session
        self.builtins = sorted({op.name for op in R.builtins()})
        self.commands = list(COMMANDS)

    def make(self):
        from prompt_toolkit.completion import Completer, Completion

        outer = self

        class C(Completer):
            def get_completions(self, document, complete_event):
                word = document.get_word_before_cursor(WORD=True)
                if document.text_before_cursor.lstrip().startswith(":") and " " not in \
                        document.text_before_cursor.strip():
                    pool = outer.commands
                else:
                    word = document.get_word_before_cursor()
                    pool = outer.session.names() + outer.builtins
                for name in dict.fromkeys(pool):
                    if word and name.startswith(word) and name != word:
                        yield Completion(name, start_position=-len(word))
        return C()


def _interactive(session) -> int:
    from prompt_toolkit import PromptSession

    from .. import __version__

    prompt = PromptSession(history=_history(), completer=_Completer(session).make(),
                           complete_while_typing=False)
    print(BANNER.format(version=__version__))
    while True:
        try:
            line = prompt.prompt(PROMPT)
            text = line
            if line.rstrip().endswith(":") and not line.lstrip().startswith((":", "#")):
                while True:  # a block: until a blank line
                    more = prompt.prompt(MORE)
                    if not more.strip():
                        break
                    text += "\n" + more
        except KeyboardInterrupt:  # Ctrl-C: the line (or block) is dropped
            continue
        except EOFError:           # Ctrl-D: leave
            print()
            return 0
        _show(session.feed(text + "\n"), color=sys.stderr.isatty() and "NO_COLOR" not in os.environ)
