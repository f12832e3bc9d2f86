"""Output files written atomically: all of it, or nothing.

    from cgraph.cli.atomic import atomic_open

    with atomic_open("results.csv", "w", newline="") as fp:   # or "wb"
        writer = csv.writer(fp)
        ...

The data goes to a temporary file beside the target (same directory, so the
rename cannot cross file systems), is flushed and fsync'ed, and replaces the
target with `os.replace` only when the block ends without an exception; on
an error or Ctrl-C the temporary file is removed and an existing target is
left untouched. `-` is standard output (not atomic: a stream). A path that
cannot be written is a `UsageError` (exit 2), raised by `check_writable(path)`
(call it before computing anything); a write that fails midway (disk full) is
a `CgraphError` of kind "io" (exit 1).

For bytes already in memory, `cgraph.render.write_atomic(path, data)` does
the same in one call.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile

from .run import UsageError


def check_writable(path: str) -> None:
    """Fail early when `path` cannot be written (a directory, no such folder...)."""
    if path == "-":
        return
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise UsageError(f"cannot write {path}: it is a directory")
    if not os.path.isdir(directory):
        raise UsageError(f"cannot write {path}: the directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise UsageError(f"cannot write {path}: the directory {directory} is not writable")


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
    check_writable(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if binary else {"encoding": encoding,
                                                        "newline": newline})) as fp:
            yield fp
            fp.flush()
            os.fsync(fp.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            from ..errors import CgraphError

            raise CgraphError(f"cannot write {path}: {exc.strerror or exc}", kind="io") from None
        raise
