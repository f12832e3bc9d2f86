"""Finding and running a Graphviz renderer, and writing files atomically.

DOT text becomes SVG or PNG through a `dot`-compatible program, looked for in
this order:

1. `CGRAPH_DOT`: an explicit path (or command name). When set, it is used or
   it is an error; there is no silent fall-back.
2. `dot` on PATH: the system Graphviz.
3. `graphviz-pure`, the renderer the `graphviz-pure` wheel installs with
   cgraph: on PATH, or in the scripts directory of the running interpreter
   (an unactivated virtual environment is not on PATH).

The renderer reads the DOT on stdin and writes the image on stdout (no files
of its own); it runs with a timeout, and its stderr is captured: the known
harmless warning of graphviz-pure about the widths of non-ASCII characters is
dropped, anything else is handed back as a warning.

The `graphviz` Python package is not a dependency: it renders only through a
`dot` on PATH (not graphviz-pure), without the timeout and the diagnostics
above, and its quoting does not cover what `cgraph.drawing` must neutralise in
user names (HTML-like labels, renderer escapes); DOT is written by
`cgraph.drawing`, whose escaping the tests attack directly.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from typing import Optional

from .errors import CgraphError

ENV = "CGRAPH_DOT"
RENDER_FORMATS = ("svg", "png")
TIMEOUT = 120.0
#: stderr lines that say nothing the user can act on
HARMLESS = ("no value for width of non-ASCII character",)
MAGIC = {"png": b"\x89PNG\r\n\x1a\n"}


@dataclass(frozen=True)
class Renderer:
    path: str
    source: str            # "CGRAPH_DOT" | "PATH" | "graphviz-pure"

    def __str__(self) -> str:
        return f"{self.path} (from {self.source})"


def _scripts_dirs() -> list:
    """Where console scripts of this interpreter's environment live."""
    dirs = []
    for d in (os.path.dirname(sys.executable), sysconfig.get_path("scripts")):
        if d and d not in dirs:
            dirs.append(d)
    try:
        user = sysconfig.get_path("scripts", f"{os.name}_user")
        if user and user not in dirs:
            dirs.append(user)
    except KeyError:  # pragma: no cover - no user scheme on this platform
        pass
    return dirs


def find_renderer(env: Optional[dict] = None) -> Optional[Renderer]:
    """The renderer to use, or None when there is none. An unusable CGRAPH_DOT is an error."""
    env = os.environ if env is None else env
    path_var = env.get("PATH", os.defpath)
    override = env.get(ENV, "").strip()
    if override:
        found = override if os.path.isfile(override) and os.access(override, os.X_OK) \
            else shutil.which(override, path=path_var)
        if not found:
            raise CgraphError(f"{ENV} is set to {override!r}, which is not an executable program",
                              kind="io", hint=f"point {ENV} at Graphviz's dot (or graphviz-pure), "
                              "or unset it")
        return Renderer(found, ENV)
    found = shutil.which("dot", path=path_var)
    if found:
        return Renderer(found, "PATH")
    found = shutil.which("graphviz-pure", path=path_var)
    if found:
        return Renderer(found, "graphviz-pure")
    for d in _scripts_dirs():
        found = shutil.which("graphviz-pure", path=d)
        if found:
            return Renderer(found, "graphviz-pure")
    return None


def render(dot: str, fmt: str, renderer: Optional[Renderer] = None,
           timeout: float = TIMEOUT) -> tuple[bytes, list]:
    """Run the renderer on DOT text: (image bytes, warnings worth showing)."""
    if fmt not in RENDER_FORMATS:
        raise CgraphError(f"cannot render {fmt!r}: the formats are svg, png and dot", kind="usage")
    r = renderer or find_renderer()
    if r is None:
        raise CgraphError(f"no Graphviz renderer found to draw {fmt.upper()}", kind="io",
                          hint="install cgraph with pip (it brings graphviz-pure) or Graphviz's "
                          f"dot, set {ENV}, or write DOT text with --format dot")
    try:
        proc = subprocess.run([r.path, f"-T{fmt}"], input=dot.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise CgraphError(f"the renderer {r} took longer than {timeout:g} s", kind="runtime",
                          hint="draw fewer nodes (--max-nodes) or write DOT text with --format dot"
                          ) from None
    except OSError as exc:
        raise CgraphError(f"cannot run the renderer {r}: {exc.strerror or exc}", kind="io",
                          hint=f"set {ENV} to a working dot, or use --format dot") from None
    warnings = [line for line in _lines(proc.stderr) if not any(h in line for h in HARMLESS)]
    if proc.returncode != 0 or not proc.stdout:
        detail = "; ".join(warnings[:5]) or f"exit status {proc.returncode}"
        raise CgraphError(f"the renderer {r} failed to draw {fmt.upper()}: {detail}", kind="runtime",
                          hint="write DOT text with --format dot to see what was drawn")
    data = proc.stdout
    if fmt in MAGIC and not data.startswith(MAGIC[fmt]) or fmt == "svg" and b"<svg" not in data[:4096]:
        raise CgraphError(f"the renderer {r} did not produce {fmt.upper()}", kind="runtime",
                          hint="write DOT text with --format dot")
    return data, [f"renderer: {w}" for w in warnings]


def _lines(err: bytes) -> list:
    out = []
    for line in err.decode("utf-8", "replace").splitlines():
        line = line.strip()
        while line.lower().startswith("warning: warning:"):
            line = line[len("warning: "):]
        if line:
            out.append(line)
    return out


