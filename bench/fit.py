"""Workload — training: one epoch of `Program.fit` on the MLP 784→512 relu→10 with
cross-entropy, 60,000 synthetic rows, batch 256, Adam (lr 1e-3), in file order.
Against a hand-written NumPy training loop of the same maths (forward, backward,
torch.optim's Adam update); the trained params are checked to agree first.

Target: cgraph ≤ 1.2× NumPy.

    python bench/fit.py [--repeat N]        (CGRAPH_BENCH_FIT_ROWS=N for fewer rows)
"""
from __future__ import annotations

import math
import os

import numpy as np

import timing
from timing import Row, fmt_ratio, fmt_time

import cgraph

N = int(os.environ.get("CGRAPH_BENCH_FIT_ROWS", 60_000))
D, H, C, B, LR = 784, 512, 10, 256, 1e-3
TARGET = 1.2

SOURCE = f"""\
input X: [n, {D}]
input labels: [n]
param W1 = zeros([{D}, {H}])
param b1 = zeros([{H}])
param W2 = zeros([{H}, {C}])
param b2 = zeros([{C}])
h = relu(X @ W1 + b1)
loss = cross_entropy(h @ W2 + b2, labels)
"""


def data(seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = {"X": rng.standard_normal((N, D)), "labels": rng.integers(0, C, N).astype(float)}
    start = {"W1": rng.standard_normal((D, H)) * np.sqrt(2.0 / D), "b1": np.zeros(H),
             "W2": rng.standard_normal((H, C)) * np.sqrt(1.0 / H), "b2": np.zeros(C)}
    return rows, start


def reference(rows, start):
    """One epoch by hand, as a NumPy user writes it."""
    X, labels = rows["X"], rows["labels"].astype(np.int64)
    P = {k: v.copy() for k, v in start.items()}
    m = {k: np.zeros_like(v) for k, v in P.items()}
    v = {k: np.zeros_like(x) for k, x in P.items()}
    b1, b2, total = 0.9, 0.999, 0.0
    for t, s in enumerate(range(0, N, B), start=1):
        x, y = X[s:s + B], labels[s:s + B]
        n = len(x)
        z1 = x @ P["W1"] + P["b1"]
        h = np.maximum(z1, 0.0)
        logits = h @ P["W2"] + P["b2"]
        mx = logits.max(axis=1, keepdims=True)
        e = np.exp(logits - mx)
        ssum = e.sum(axis=1, keepdims=True)
        r = np.arange(n)
        total += n * np.mean(np.log(ssum[:, 0]) + mx[:, 0] - logits[r, y])
        d = e / ssum
        d[r, y] -= 1.0
        d /= n
        dz1 = (d @ P["W2"].T) * (z1 > 0)
        g = {"W1": x.T @ dz1, "b1": dz1.sum(0), "W2": h.T @ d, "b2": d.sum(0)}
        for k in P:
            m[k] += (1 - b1) * (g[k] - m[k])
            v[k] *= b2
            v[k] += (1 - b2) * g[k] * g[k]
            denom = np.sqrt(v[k]) / math.sqrt(1 - b2 ** t) + 1e-8
            P[k] -= LR / (1 - b1 ** t) * (m[k] / denom)
    return total / N, P


def measure(repeat: int = 3) -> list:
    rows, start = data()
    prog = cgraph.compile(SOURCE, "fit_mlp.cg")

    def ours():
        return prog.fit(rows, optimizer="adam", lr=LR, epochs=1, batch_size=B, shuffle=False,
                        init=start)

    r = ours()
    loss, params = reference(rows, start)
    np.testing.assert_allclose(r.history[0]["loss"], loss, rtol=1e-10)
    for k in params:
        np.testing.assert_allclose(r.params[k], params[k], rtol=1e-8, atol=1e-12, err_msg=k)
    t = timing.compare({"cgraph": ours, "numpy": lambda: reference(rows, start)},
                       repeat=repeat, warmup=0, min_sample=0.0, budget=60, min_repeat=2)
    cg, ref = t["cgraph"].median, t["numpy"].median
    return [Row(f"fit: an epoch of MLP 784→512→10, Adam, {N:,} rows, batch {B}", fmt_time(cg),
                f"{fmt_time(ref)} (NumPy)", fmt_ratio(cg / ref), "≤ 1.2×", cg / ref <= TARGET)]


if __name__ == "__main__":
    timing.main(measure, __doc__.splitlines()[0])
