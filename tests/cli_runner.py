"""`cli(...)`: run `cgraph ARGS...` in this process and capture everything —
the exit status, stdout, stderr and any NumPy RuntimeWarning (there should
be none: cgraph reports numerical trouble itself). The tests' one runner."""
from __future__ import annotations

import io
import json
import os
import sys
import warnings

from cgraph.cli import run


class Out:
    def __init__(self, code, stdout, stderr, warned=()):
        self.code, self.stdout, self.stderr, self.warned = code, stdout, stderr, list(warned)

    @property
    def json(self):
        return json.loads(self.stdout)

    def __repr__(self):
        return f"Out(code={self.code}, stderr={self.stderr[-2000:]!r})"


def cli(*args, stdin: str | bytes = "", env: dict | None = None) -> Out:
    """`cgraph ARGS...` with `stdin` as standard input and `env` added to the environment."""
    out, err = io.BytesIO(), io.BytesIO()
    data = stdin.encode() if isinstance(stdin, str) else stdin
    streams = (io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"),
               io.TextIOWrapper(out, encoding="utf-8", write_through=True),
               io.TextIOWrapper(err, encoding="utf-8", write_through=True))
    saved = sys.stdin, sys.stdout, sys.stderr
    saved_env = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    sys.stdin, sys.stdout, sys.stderr = streams
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = run([str(a) for a in args])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdin, sys.stdout, sys.stderr = saved
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    warned = [f"{w.message} ({w.filename}:{w.lineno})" for w in caught
              if issubclass(w.category, RuntimeWarning)]
    return Out(code, out.getvalue().decode("utf-8", "replace"),
               err.getvalue().decode("utf-8", "replace"), warned)
