"""SOURCE, NAME=VALUE and --inputs: from the command line to a Program and its values.

Public helpers (the draw and batch plug-ins use them too):

- `read_source(arg) -> (text, file)`: SOURCE is a file, `-` (stdin), or the
  program text. A SOURCE that names no file but looks like a path (ends in
  `.cg`, or is a `/`-separated word with no spaces or operators other than
  `/`, and not a division of numbers like `1/3`) is a missing file:
  `UsageError` (exit 2). Text that is not UTF-8 is
  the parser's syntax diagnostic (exit 1).
- `parse_assignment(word) -> (name, array)`: one `NAME=VALUE`, VALUE a
  number (`2`, `-1.5e3`, `inf`), a tensor literal (`[1,2,3]`,
  `[[1,0],[0,1]]`, read by `parse_literal`, a tiny parser: never Python
  evaluation), or `@file` (`.npy`, `.npz:key`, `.csv`, `.json`).
- `parse_literal(text)`: numbers and nested `[...]` lists -> nested lists.
- `read_values(words, inputs_file=None) -> dict`: every value, the
  `--inputs` file (.json object or .npz) first, NAME=VALUE words over it.
- `open_program(opts) -> (Program, values)`: all of the above plus the
  common flags (--mode --dtype --seed --max-iterations).
- `split_names("a,b") -> ["a", "b"]` for --wrt.
- `parse_size("2G") -> 2_000_000_000` for --max-memory (K M G T: powers of
  1000; KiB MiB GiB TiB: powers of 1024; a bare number is bytes).

A malformed word or an unreadable file is a `UsageError` (exit 2); a value
for a name the program does not have, a missing input or a wrong shape are
the engine's diagnostics (exit 1).
"""
from __future__ import annotations

import os
import re
import sys
from typing import Optional

from .run import UsageError

STDIN = "-"
MAX_SOURCE_BYTES = 16 << 20
MAX_LITERAL_DEPTH = 32

# a word that can only be a path: no spaces, brackets or operators but '/'
_PATHLIKE = re.compile(r"[\w.~\-/\\:]+")


# ------------------------------------------------------------------ source
def looks_like_path(arg: str) -> bool:
    """CLI.md: a SOURCE that ends in .cg or holds a / is meant as a file; a
    word with a space, a bracket or an operator other than / is program text,
    and so is a division of numbers (`1/3`)."""
    if arg.endswith(".cg"):
        return True
    if "/" not in arg or not _PATHLIKE.fullmatch(arg):
        return False
    return not all(_is_number(part) for part in arg.split("/"))


def _is_number(text: str) -> bool:
    return bool(_NUMBER.fullmatch(text.strip()))


def read_stdin_bytes() -> bytes:
    """Standard input, undecoded (at most MAX_SOURCE_BYTES)."""
    try:
        data = sys.stdin.buffer.read(MAX_SOURCE_BYTES + 1) if hasattr(sys.stdin, "buffer") \
            else sys.stdin.read().encode("utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read standard input: {exc.strerror or exc}") from None
    if len(data) > MAX_SOURCE_BYTES:
        raise UsageError(f"<stdin> is larger than {MAX_SOURCE_BYTES >> 20} MiB: not a program")
    return data


def read_source(arg: str) -> tuple[str, str]:
    """(program text, file name for diagnostics)."""
    if arg == STDIN:
        return _decode(read_stdin_bytes(), "<stdin>"), "<stdin>"
    if os.path.isdir(arg):
        raise UsageError(f"{arg} is a directory, not a .cg file")
    if os.path.exists(arg):
        try:
            with open(arg, "rb") as fp:
                data = fp.read(MAX_SOURCE_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"cannot read {arg}: {exc.strerror or exc}") from None
        if len(data) > MAX_SOURCE_BYTES:
            raise UsageError(f"{arg} is larger than {MAX_SOURCE_BYTES >> 20} MiB: not a program",
                             "pass large data as inputs (NAME=@file) or with load(\"file\")")
        return _decode(data, arg), arg
    if looks_like_path(arg):
        hint = None
        if not arg.endswith(".cg"):
            hint = (f"to divide, write the program with spaces: \"{arg.replace('/', ' / ')}\""
                    if "/" in arg else None)
        raise UsageError(f"no such file: {arg}", hint)
    return arg, "<expr>"


def _decode(data: bytes, file: str) -> str:
    if len(data) > MAX_SOURCE_BYTES:
        raise UsageError(f"{file} is larger than {MAX_SOURCE_BYTES >> 20} MiB: not a program")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        from ..parse import parse_bytes

        parse_bytes(data, file)  # raises the located syntax diagnostic
        raise  # pragma: no cover


# ------------------------------------------------------------------ values
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                     r"|[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
_TOKEN = re.compile(r"\s*(?:(\[)|(\])|(,)|([^\s\[\],]+))")


def parse_literal(text: str):
    """`[[1, 2], [3, 4]]` -> nested lists of floats; a bare number -> float.
    ValueError (with a reason) for anything else."""
    tokens = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        tokens.append(m.group(1) or m.group(2) or m.group(3) or ("num", m.group(4)))
    if pos < len(text.rstrip()):
        raise ValueError("unexpected characters")
    if not tokens:
        raise ValueError("empty value")
    stack: list[list] = []
    result = None
    expect_item = True
    for k, tok in enumerate(tokens):
        if result is not None:
            raise ValueError("text after the end of the value")
        if tok == "[":
            if not expect_item:
                raise ValueError("missing ',' before '['")
            if len(stack) >= MAX_LITERAL_DEPTH:
                raise ValueError("nested too deeply")
            stack.append([])
            expect_item = True
        elif tok == "]":
            if not stack:
                raise ValueError("unbalanced ']'")
            if expect_item and stack[-1] and tokens[k - 1] == ",":
                raise ValueError("a ',' before ']' needs a value after it")
            done = stack.pop()
            if stack:
                stack[-1].append(done)
                expect_item = False
            else:
                result = done
        elif tok == ",":
            if expect_item or not stack:
                raise ValueError("unexpected ','")
            expect_item = True
        else:
            word = tok[1]
            if not expect_item:
                raise ValueError(f"missing ',' before {word!r}")
            if not _NUMBER.fullmatch(word):  # the language's numbers: no 1_000, no ١
                raise ValueError(f"{word!r} is not a number")
            num = float(word)
            if not stack:
                result = num
            else:
                stack[-1].append(num)
                expect_item = False
    if stack:
        raise ValueError("unbalanced '['")
    return result


def parse_value(name: str, text: str, max_bytes: Optional[int] = None):
    """The array a VALUE stands for."""
    import numpy as np

    if text.startswith("@"):
        return read_file_value(text[1:], f"{name}=@", max_bytes)
    try:
        value = parse_literal(text)
        arr = np.array(value, dtype=np.float64)
    except ValueError as exc:
        reason = str(exc)
        if "inhomogeneous" in reason or "sequence" in reason:
            reason = "the rows have different lengths"
        shown = repr(text) if len(text) <= 80 else repr(text[:60]) + f"… ({len(text):,} characters)"
        raise UsageError(f"malformed value for '{name}': {shown} ({reason[:200]})",
                         "a VALUE is a number (2, -1.5e3, inf), a tensor literal ([1,2,3], "
                         "[[1,0],[0,1]]) or @file (.npy, .npz:key, .csv, .json)") from None
    return arr


def read_file_value(ref: str, what: str = "@", max_bytes: Optional[int] = None):
    """An array from `path`, `path.npz:key`; a bad file is a UsageError, a .npy
    array over `max_bytes` (read from its header) a value error."""
    from .. import datafiles

    if not ref:
        raise UsageError(f"{what} needs a file name", "e.g. x=@x.npy or W=@weights.npz:W")
    path, key = datafiles.split_ref(os.path.expanduser(ref))
    try:
        if max_bytes is not None and key is None and path.lower().endswith(".npy"):
            _check_npy_size(path, max_bytes)
        return datafiles.read_array(path, key)
    except datafiles.DataFileError as exc:
        raise UsageError(exc.message, exc.hint) from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _check_npy_size(path: str, max_bytes: int) -> None:
    import math

    from .. import datafiles
    from ..errors import CgraphError
    from ..ir import human_bytes
    from ..shape_math import fmt

    shape = datafiles.array_shape(path)  # the header only
    need = 8 * math.prod(shape)          # read as float64
    if need > max_bytes:
        raise CgraphError(f"{path} holds an array of shape {fmt(shape)}, which would take "
                          f"{human_bytes(need)}, more than the memory limit of {human_bytes(max_bytes)}",
                          kind="value", hint="use a smaller file, or raise the limit with --max-memory")


def parse_assignment(word: str, max_bytes: Optional[int] = None):
    """`NAME=VALUE` -> (name, array)."""
    name, eq, text = word.partition("=")
    name = name.strip()
    if not eq or not name:
        hint = "values are given as NAME=VALUE, e.g. x=2 or W=[[1,0],[0,1]]"
        if word.endswith(".cg") or os.path.exists(word):
            hint = "give one SOURCE per command (cgraph check takes several)"
        raise UsageError(f"expected NAME=VALUE, got {word!r}", hint)
    if not name.isidentifier():
        raise UsageError(f"{name!r} is not a name (in {word!r})",
                         "names are words: letters, digits and _ (θ, W_out, α1)")
    if not text.strip():
        raise UsageError(f"no value after '{name}='", f"e.g. {name}=2 or {name}=[1,2,3]")
    return name, parse_value(name, text.strip(), max_bytes)


def read_inputs_file(path: str, max_bytes: Optional[int] = None, only=None) -> dict:
    """--inputs: a .json object (name -> value) or an .npz archive (a member over
    `max_bytes` refused from its header, before it is read)."""
    from .. import datafiles
    from ..errors import CgraphError

    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".json":
            return datafiles.read_json_values(path)
        if ext == ".npz":
            if max_bytes is None:
                from ..ir import default_max_bytes

                max_bytes = default_max_bytes()
            return datafiles.read_npz_values(path, max_bytes=max_bytes, only=only)
    except datafiles.MemoryLimit as exc:
        raise CgraphError(exc.message, kind="value", hint=exc.hint) from None
    except datafiles.DataFileError as exc:
        raise UsageError(exc.message, exc.hint) from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    raise UsageError(f"--inputs takes a .json, .npz or .csv file, not {path!r}",
                     "a .json object of name -> value, an .npz archive, or a .csv batch")


def read_values(words, inputs_file: Optional[str] = None, max_bytes: Optional[int] = None) -> dict:
    """Every value given: the --inputs file first, NAME=VALUE words over it.
    A .npy file whose array is over `max_bytes` is refused before it is read."""
    values = read_inputs_file(inputs_file, max_bytes) if inputs_file else {}
    seen = set()
    for word in words or ():
        name, value = parse_assignment(word, max_bytes)
        if name in seen:
            raise UsageError(f"'{name}' is given twice", "give each value once")
        seen.add(name)
        values[name] = value
    return values


def split_names(text: Optional[str]) -> Optional[list[str]]:
    """--wrt a,b -> ["a", "b"] (None when not given)."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError("--wrt needs at least one name", "e.g. --wrt a,b")
    return names


_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(?:([kmgtp])(i?)b?|b)?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """--max-memory SIZE -> bytes: `1000000`, `500K`, `200M`, `2G`, `1.5GB`, `512MiB`."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise UsageError(f"--max-memory {text}: not a size",
                         "give bytes (1000000) or a number with a unit: 500K, 200M, 2G, 512MiB")
    unit = (m.group(2) or "").lower()
    scale = (1024 if m.group(3) else 1000) ** ("kmgtp".index(unit) + 1) if unit else 1
    size = int(float(m.group(1)) * scale)
    if size <= 0:
        raise UsageError(f"--max-memory {text}: the limit must be more than 0 bytes")
    return size


def max_memory(opts) -> Optional[int]:
    """The --max-memory of a command line in bytes (None: the default limit)."""
    text = getattr(opts, "max_memory", None)
    return parse_size(text) if text else None


def is_csv_batch(opts) -> bool:
    return bool(getattr(opts, "inputs", None)) and opts.inputs.lower().endswith((".csv", ".jsonl", ".parquet"))


def check_output(opts, out) -> None:
    """Refuse an output file that is empty or is one of the command's inputs (the
    source, --inputs, a NAME=@file value), links resolved: writing it would
    replace the input."""
    if out is None or out == "-":
        return
    if out == "":
        raise UsageError("the output file name is empty", "give -o FILE (or - for standard output)")
    if not os.path.exists(out):
        return
    inputs = [getattr(opts, k, None) for k in ("source", "inputs", "data", "val_data", "init")]
    inputs += [w.split("=@", 1)[1] for w in (getattr(opts, "values", None) or []) if "=@" in w]
    inputs += sorted(_loaded_files(getattr(opts, "source", None)))
    for path in inputs:
        if path and path != STDIN and os.path.exists(path):
            try:
                same = os.path.samefile(path, out)
            except OSError:
                continue
            if same:
                raise UsageError(f"the output {out} is the input {path}: writing it would replace "
                                 "the input", "write the output to another file")


def _loaded_files(source) -> set:
    """The files the program reads with load("..."): outputs must not replace them
    either. A program that does not parse loads nothing (its errors come later)."""
    if not source or source == STDIN:
        return set()
    from ..ast_walk import load_paths
    from ..errors import CgraphError
    from ..parse import parse

    try:
        text, file = read_source(source)
        base = os.path.dirname(os.path.abspath(file))  # load() reads beside the program
        return {os.path.join(base, p) for p in load_paths(parse(text, file).body)}
    except (CgraphError, UsageError):
        return set()


# ----------------------------------------------------------------- program
def compile_source(opts, text: str, file: str):
    """A Program from source text and the common flags."""
    from ..program import Program

    return Program(text, file, mode=opts.mode, dtype=opts.dtype or "float64",
                   seed=opts.seed or 0, max_iterations=opts.max_iterations or 100_000,
                   max_memory=max_memory(opts), max_depth=opts.max_depth or 1000)


def open_program(opts):
    """(Program, values) for a command with SOURCE, NAME=VALUE... and --inputs.
    The values are read first: a malformed word is exit 2 even when the
    program has errors too. Of an `--inputs` .npz archive only the arrays the
    program has a name for are read (the others stand in as 0: still told apart
    as unknown names, never loaded)."""
    limit = max_memory(opts)
    text, file = read_source(opts.source)
    values = read_values(opts.values, None, max_bytes=limit)
    if not (opts.inputs and opts.inputs.lower().endswith(".npz")):
        if opts.inputs:
            values = {**read_inputs_file(opts.inputs, limit), **values}
        return compile_source(opts, text, file), values
    from ..errors import CgraphError

    try:
        program = compile_source(opts, text, file)
    except CgraphError:
        read_inputs_file(opts.inputs, limit)  # a bad file is still a usage error first
        raise
    from ..ast_walk import bound_names, free_names

    names = bound_names(program.ast.body) | free_names(program.ast)
    given = read_inputs_file(opts.inputs, limit, only=names)
    return program, {**given, **values}
