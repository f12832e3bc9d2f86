"""Output files written atomically: all of it, or nothing.

    from cgraph.atomic import atomic_open, write_atomic

    with atomic_open("results.csv", "w", newline="") as fp:   # or "wb"
        writer = csv.writer(fp)
        ...

The data goes to a temporary file beside the target (same directory, so the
rename cannot cross file systems), is flushed and fsync'ed, and replaces the
target with `os.replace` only when the block ends without an exception; on
an error or Ctrl-C the temporary file is removed and an existing target is
left untouched; an existing target keeps its permissions. `-` is standard
output (not atomic: a stream). A path that cannot be written is a
`CgraphError` of kind "usage" (exit 2), raised by `check_writable(path)`
(call it before computing anything); a write that fails midway (disk full)
is a `CgraphError` of kind "io" (exit 1). Every output file cgraph writes
(drawings, batch results) goes through here.

An output that is a symbolic link is written through: the link's target is
replaced atomically and the link stays a link (as `cp` and shell redirection
treat links). An empty file name is a usage error.

For bytes already in memory, `write_atomic(path, data)` does it in one call.
"""
from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile

from .errors import CgraphError


def check_writable(path: str) -> None:
    """Fail early when `path` cannot be written (a directory, no such folder...)."""
    if path == "-":
        return
    if not path:
        raise CgraphError("the output file name is empty", kind="usage",
                          hint="give a file name, or - for standard output")
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise CgraphError(f"cannot write {path}: it is a directory", kind="usage")
    if not os.path.isdir(directory):
        raise CgraphError(f"cannot write {path}: the directory {directory} does not exist",
                          kind="usage")
    if not os.access(directory, os.W_OK):
        raise CgraphError(f"cannot write {path}: the directory {directory} is not writable",
                          kind="usage")


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w", encoding: str | None = "utf-8", newline=None):
    """A file object whose contents replace `path` only when the block succeeds."""
    binary = "b" in mode
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open writes: mode 'w' or 'wb'")
    if path == "-":
        stream = sys.stdout.buffer if binary and hasattr(sys.stdout, "buffer") else sys.stdout
        yield stream
        stream.flush()
        return
    path = os.fspath(path)
    check_writable(path)
    if os.path.islink(path):  # write through a link: its target is replaced, the link stays
        path = os.path.realpath(path)
        check_writable(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        perms = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        perms = 0o666 & ~mask
    # the temporary name must fit the file system's limit too (255 bytes) however long path's is
    stem = os.path.basename(path).encode("utf-8", "surrogateescape")[:120].decode("utf-8", "ignore")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{stem}.", suffix=".tmp")
    except OSError as exc:
        raise CgraphError(f"cannot write {path}: {exc.strerror or exc}", kind="io") from None
    try:
        with os.fdopen(fd, mode, **({} if binary else {"encoding": encoding,
                                                        "newline": newline})) as fp:
            yield fp
            fp.flush()
            os.fsync(fp.fileno())
        os.chmod(tmp, perms)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise CgraphError(f"cannot write {path}: {exc.strerror or exc}", kind="io") from None
        raise


def write_atomic(path: str, data: bytes) -> None:
    """Write all of `data` to `path`, or nothing; `-` writes to standard output."""
    if path == "-" and getattr(sys.stdout, "buffer", None) is None:
        sys.stdout.write(data.decode("utf-8", "replace"))  # a text-only stream (tests)
        return
    sys.stdout.flush()
    with atomic_open(path, "wb") as fp:
        fp.write(data)
