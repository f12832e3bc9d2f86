"""Text in drawings: user strings made safe for DOT and Graphviz's HTML labels
(control characters escaped, long text cut), and values, numbers and shapes
summarised for a node's label."""
from __future__ import annotations

import unicodedata
from typing import Optional

import numpy as np

DEFAULT_PRECISION = 4
MAX_TEXT = 48             # longest user string shown in a label (the tooltip has more)


# ------------------------------------------------------------------ escaping
def clean_text(s, limit: Optional[int] = MAX_TEXT) -> str:
    """Printable text: control characters shown as escapes, long text cut with '…'."""
    out = []
    for ch in str(s):
        cat = unicodedata.category(ch)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif cat in ("Cc", "Cs", "Co", "Cn") or cat == "Zl" or cat == "Zp":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    text = "".join(out)
    if limit is not None and len(text) > limit:
        text = text[:limit - 1] + "…"
    return text


ZWSP = "\u200b"


def html_text(s, limit: Optional[int] = MAX_TEXT) -> str:
    """Text for inside an HTML-like label: cleaned, then every markup character escaped.
    A backslash is followed by a zero-width space: some renderers (graphviz-pure)
    expand `\\N`, `\\G`... even in HTML labels, and `\\` + ZWSP is no escape anywhere."""
    text = clean_text(s, limit)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;").replace("\\", "\\" + ZWSP))


def dot_string(s, limit: Optional[int] = 300) -> str:
    """A double-quoted DOT string (for tooltips). Renderers disagree on backslash
    escapes in quoted strings, so a backslash is shown as '∖' and a quote escaped."""
    text = clean_text(s, limit).replace("\\", "∖").replace('"', '\\"')
    return f'"{text}"'


# ----------------------------------------------------------- value summaries
def fmt_number(x, precision: int = DEFAULT_PRECISION) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    return f"{x:.{precision}g}"


def summarised(v) -> bool:
    """Whether fmt_value shows v as a summary (mean, norm) rather than its numbers."""
    return v is not None and (np.ndim(v) > 1 or np.size(v) > 4)


def fmt_value(v, precision: int = DEFAULT_PRECISION) -> Optional[str]:
    """A short summary of a value: the number, a tiny vector, or mean and norm."""
    if v is None:
        return None
    a = np.asarray(v)
    if a.dtype.kind not in "biuf":
        return clean_text(a)
    if a.ndim == 0:
        return fmt_number(a.item(), precision)
    if a.size == 0:
        return "empty"
    if a.ndim == 1 and a.size <= 4:
        return "[" + ", ".join(fmt_number(x, precision) for x in a.tolist()) + "]"
    if a.dtype.kind == "b":
        return f"{int(a.sum())} of {a.size} true"
    with np.errstate(all="ignore"):
        f = a.astype(np.float64)
        return f"mean {fmt_number(f.mean(), precision)}  norm {fmt_number(np.sqrt((f * f).sum()), precision)}"


def fmt_shape(shape, dtype: Optional[str] = None, float_dtype: str = "float64") -> str:
    """`[3, 2]`, `[3, ?]`, with the dtype when it is not the graph's float type
    (a scalar: the dtype alone, or nothing)."""
    if shape is None:
        text = "[?]"
    elif shape == ():
        text = ""
    else:
        text = "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
    if dtype and dtype != float_dtype:
        dt = {"float64": "f64", "float32": "f32", "int64": "int", "bool": "bool"}.get(dtype, dtype)
        text = f"{text} {dt}" if text else dt
    return text
