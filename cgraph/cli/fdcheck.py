"""`cgraph grad --check`: every gradient against central finite differences.

For each leaf, each element x_i (or, for a leaf of more than `MAX_ELEMENTS`
elements, a seeded sample of them that always includes the element with the
largest gradient) is perturbed by ±h, h = ε^(1/3)·max(1, |x_i|), and
(f(x + h) − f(x − h)) / 2h is compared with the gradient. The reference runs
in float64 even when the program runs in float32.

An element passes when |analytic − numeric| ≤ atol + rtol·max(|analytic|,
|numeric|), with atol scaled by |f|; the reported error is the relative
error |analytic − numeric| / max(|analytic|, |numeric|) (0 when both are 0).

`fd_check(program, result, values, of=None, seed=0) -> Report`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_ELEMENTS = 24          # per leaf; bigger leaves are sampled
TOLERANCES = {"float64": (1e-5, 1e-7), "float32": (2e-3, 1e-4)}   # rtol, atol (× max(1, |f|))


@dataclass
class LeafCheck:
    name: str
    size: int
    checked: int = 0
    max_rel: float = 0.0
    max_abs: float = 0.0
    worst: tuple = ()            # index of the worst element
    analytic: float = 0.0
    numeric: float = 0.0
    passed: bool = True
    skipped: str = ""

    def to_json(self) -> dict:
        out = {"checked": self.checked, "size": self.size, "max_rel_error": self.max_rel,
               "max_abs_error": self.max_abs, "passed": self.passed}
        if self.skipped:
            out["skipped"] = self.skipped
        elif not self.passed:
            out["worst"] = {"index": list(self.worst), "analytic": self.analytic,
                            "numeric": self.numeric}
        return out


@dataclass
class Report:
    leaves: list = field(default_factory=list)
    rtol: float = 0.0
    atol: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.leaves)

    def to_json(self) -> dict:
        return {"passed": self.passed, "method": "central differences", "rtol": self.rtol,
                "atol": self.atol, "leaves": {c.name: c.to_json() for c in self.leaves}}


def _reference(program):
    return program.variant(dtype="float64")


def _base_value(result, values: dict, name: str):
    if name in values:
        return np.array(values[name], dtype=np.float64)
    g = result.graph
    node = g.nodes[g.leaves[name]]
    v = node.attrs.get("default")
    if v is None:
        v = result.values[node.id]
    return np.array(v, dtype=np.float64)


def fd_check(program, result, values: dict, of=None, seed: int = 0) -> Report:
    from ..nonfinite import silenced_prints

    ref = _reference(program)
    out = result.output
    rtol, atol0 = TOLERANCES.get(program.dtype, TOLERANCES["float64"])
    feed = {n: np.array(v, dtype=np.float64) for n, v in values.items()}
    g = result.graph
    leaves = [n for n in result.gradients if n in g.leaves]
    for n in leaves:
        feed.setdefault(n, _base_value(result, values, n))

    def f(feed_) -> float:
        return float(np.asarray(ref.run(feed_, of=of).outputs[out], dtype=np.float64))

    with silenced_prints():
        f0 = f(feed)
    atol = atol0 * max(1.0, abs(f0)) if np.isfinite(f0) else atol0
    report = Report(rtol=rtol, atol=atol)
    eps3 = np.finfo(np.float64).eps ** (1 / 3)
    rng = np.random.default_rng(seed)
    for name in result.gradients:
        analytic = np.asarray(result.gradients[name], dtype=np.float64)
        check = LeafCheck(name, int(analytic.size))
        report.leaves.append(check)
        if name not in g.leaves:
            check.skipped = "not a leaf: it cannot be perturbed"
            continue
        x0 = feed[name]
        if x0.shape != analytic.shape:  # pragma: no cover - the engine keeps shapes
            check.skipped = "shape mismatch"
            continue
        if x0.size <= MAX_ELEMENTS:
            picks = list(range(x0.size))
        else:
            picks = set(rng.choice(x0.size, MAX_ELEMENTS - 1, replace=False).tolist())
            picks.add(int(np.argmax(np.abs(analytic))))
            picks = sorted(picks)
        with silenced_prints(), np.errstate(all="ignore"):  # inf - inf is handled below
            for i in picks:
                xi = x0.flat[i]
                h = eps3 * max(1.0, abs(xi))
                xp, xm = x0.copy(), x0.copy()
                xp.flat[i] = xi + h
                xm.flat[i] = xi - h
                num = (f({**feed, name: xp}) - f({**feed, name: xm})) / (xp.flat[i] - xm.flat[i])
                a = float(analytic.flat[i])
                err = abs(a - num)
                scale = max(abs(a), abs(num))
                rel = 0.0 if err == 0 else (err / scale if scale else float("inf"))
                if not np.isfinite(err):
                    rel = err = float("inf") if not (np.isnan(a) and np.isnan(num)) else 0.0
                ok = err <= atol + rtol * scale
                check.checked += 1
                if check.checked == 1 or rel > check.max_rel:
                    check.max_rel = rel
                    check.worst = tuple(int(k) for k in np.unravel_index(i, x0.shape))
                    check.analytic, check.numeric = a, float(num)
                check.max_abs = max(check.max_abs, err)
                check.passed = check.passed and bool(ok)
    return report
