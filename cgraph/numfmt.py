"""Numbers as text, the one way tables and CSV files show them."""
from __future__ import annotations

import math


def fmt_float(x: float, digits: int) -> str:
    """`x` to `digits` significant digits: `-5`, `0.333333`, `1e+10`, `nan`, `-inf`."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = f"{x:.{digits}g}"
    return "0" if text == "-0" else text
