"""Writes the small training sets of the fit examples (deterministic: run it again
and the files are the same). Usage: python examples/data/make_data.py"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def write_csv(name, header, cols):
    rows = np.column_stack(cols)
    with open(os.path.join(HERE, name), "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(f"{v:.6g}" for v in r) + "\n")


def main():
    rng = np.random.default_rng(7)
    # linear.csv: y = 2·x0 − 3·x1 + 0.5·x2 + 1 + noise, 200 rows
    x = rng.normal(size=(200, 3))
    y = x @ [2.0, -3.0, 0.5] + 1.0 + 0.1 * rng.normal(size=200)
    write_csv("linear.csv", ["x[0]", "x[1]", "x[2]", "y"], [x, y])
    # blobs.csv: two overlapping Gaussian clouds in the plane, labels 0/1, 300 rows
    n = 150
    a = rng.normal(size=(n, 2)) * 0.9 + [-1.0, -0.5]
    b = rng.normal(size=(n, 2)) * 0.9 + [1.0, 0.8]
    pts = np.vstack([a, b])
    lab = np.r_[np.zeros(n), np.ones(n)]
    order = rng.permutation(2 * n)
    write_csv("blobs.csv", ["x[0]", "x[1]", "label"], [pts[order], lab[order]])
    # spiral.npz: three interleaved spiral arms (CS231n's toy set), 300 rows
    k, m = 3, 100
    X = np.zeros((k * m, 2))
    labels = np.zeros(k * m)
    for c in range(k):
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, m) + 0.2 * rng.normal(size=m)
        X[c * m:(c + 1) * m] = np.c_[r * np.sin(t), r * np.cos(t)]
        labels[c * m:(c + 1) * m] = c
    order = rng.permutation(k * m)
    np.savez(os.path.join(HERE, "spiral.npz"), X=X[order], labels=labels[order])


if __name__ == "__main__":
    main()
