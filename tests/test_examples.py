"""The known results of the examples in examples/, each computed independently
here with NumPy or `math` (newton, piecewise and rnn are in
tests/test_examples_eager.py; tests/test_modes.py runs every example in both
modes and compares them). Each example is run here in both modes too, unless
it is marked `# mode: eager`.

Also: every example has a comment header that says what it shows and how to
run it, and every `cgraph ...` command that header shows runs (exit 0).
"""
from __future__ import annotations

import contextlib
import glob
import io
import math
import os
import re
import shlex

import numpy as np
import pytest

from cgraph.batch import read_table, run_rows
from cgraph.program import Program

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.cg")))
EAGER_MARK = re.compile(r"^#\s*mode:\s*eager\s*$", re.MULTILINE)
MODES = ("static", "eager")
RTOL = 1e-10


def source(name: str) -> str:
    with open(os.path.join(ROOT, "examples", name), encoding="utf-8") as f:
        return f.read()


def example(name: str, mode: str = "static") -> Program:
    return Program(source(name), os.path.join(ROOT, "examples", name), mode=mode)


def run(name, mode, inputs=None, **kw):
    return example(name, mode).run(inputs, grad=True, **kw)


def close(actual, expected, rtol=RTOL, atol=1e-12):
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float),
                               rtol=rtol, atol=atol)


def numeric_grad(f, x, h=1e-6):
    """Central differences of a scalar NumPy function f at the array x."""
    x = np.array(x, dtype=float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    ez = np.exp(z)
    return ez / ez.sum(axis=axis, keepdims=True)


# ------------------------------------------------------------------- seed
@pytest.mark.parametrize("mode", MODES)
def test_seed(mode):
    r = run("seed.cg", mode)
    assert float(r.outputs["Y"]) == -5.0
    a, b, c = 2.0, 3.0, 4.0
    # the tutorial's chain rule: ∂Y/∂a = e, ∂Y/∂b = e + d, ∂Y/∂c = -d
    d, e = a + b, b - c
    assert {k: float(v) for k, v in r.gradients.items()} == {"a": e, "b": e + d, "c": -d}
    assert {k: float(v) for k, v in r.gradients.items()} == {"a": -1.0, "b": 4.0, "c": -5.0}


def test_seed_batch_over_the_csv_rows():
    t = read_table(os.path.join(ROOT, "examples", "batch", "seed_rows.csv"))
    a, b, c = (np.loadtxt(os.path.join(ROOT, "examples", "batch", "seed_rows.csv"),
                          delimiter=",", skiprows=1, unpack=True))
    res = run_rows(example("seed_batch.cg"), t, grad=True)
    close(res.outputs["Y"], (a + b) * (b - c))
    close(res.gradients["a"], b - c)
    close(res.gradients["b"], (b - c) + (a + b))
    close(res.gradients["c"], -(a + b))


# --------------------------------------------------------------- logistic
LOG_X = np.array([[0.5, 1.0], [1.5, -0.5], [-1.0, 0.5], [2.0, 1.0], [-0.5, -1.5], [0.0, 2.0]])
LOG_Y = np.array([1, 1, 0, 1, 0, 0], float)


def bce(w, b):
    p = sigmoid(LOG_X @ w + b)
    return -np.mean(LOG_Y * np.log(p) + (1 - LOG_Y) * np.log(1 - p))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("w, b", [(None, None), ([1.0, -1.0], 0.5)])
def test_logistic(mode, w, b):
    inputs = {} if w is None else {"w": np.array(w), "b": b}
    w = np.array([0.1, -0.2]) if w is None else np.array(w)
    b = 0.0 if b is None else b
    r = run("logistic.cg", mode, inputs)
    p = sigmoid(LOG_X @ w + b)
    gw, gb = LOG_X.T @ (p - LOG_Y) / len(LOG_Y), np.mean(p - LOG_Y)
    close(r.outputs["loss"], bce(w, b))
    assert list(r.gradients) == ["w", "b"]
    close(r.gradients["w"], gw)
    close(r.gradients["b"], gb)
    # one step of gradient descent, taken inside the program
    close(r.outputs["loss_next"], bce(w - 0.5 * gw, b - 0.5 * gb))
    assert float(r.outputs["loss_next"]) < float(r.outputs["loss"])
    if inputs == {}:
        assert float(r.outputs["loss"]) == pytest.approx(0.662856, abs=1e-6)  # the README's


# -------------------------------------------------------------------- mlp
MLP_X = np.array([[0.2, -1.0, 0.5], [1.5, 0.3, -0.7], [-0.4, 0.8, 1.2], [0.9, -0.6, 0.1]])
MLP_LABELS = np.array([0, 2, 1, 2])


def mlp_reference():
    """Forward and backward by hand: (loss, probs, accuracy, grads)."""
    rng = np.random.default_rng  # randn([..], seed=k) is default_rng(k).standard_normal
    W1, b1 = rng(1).standard_normal((3, 5)) * 0.5, np.zeros(5)
    W2, b2 = rng(2).standard_normal((5, 3)) * 0.5, np.zeros(3)
    pre = MLP_X @ W1 + b1
    h = np.maximum(pre, 0)
    logits = h @ W2 + b2
    probs = softmax(logits)
    n = len(MLP_LABELS)
    loss = -np.mean(np.log(probs[np.arange(n), MLP_LABELS]))
    dlogits = (probs - np.eye(3)[MLP_LABELS]) / n
    dh = dlogits @ W2.T
    dpre = dh * (pre > 0)
    grads = {"W1": MLP_X.T @ dpre, "b1": dpre.sum(0), "W2": h.T @ dlogits, "b2": dlogits.sum(0)}
    acc = np.mean(logits.argmax(1) == MLP_LABELS)
    return loss, probs, acc, grads


@pytest.mark.parametrize("mode", MODES)
def test_mlp(mode):
    loss, probs, acc, grads = mlp_reference()
    r = run("mlp.cg", mode)
    close(r.outputs["loss"], loss)
    close(r.outputs["probs"], probs)
    close(r.outputs["probs"].sum(axis=1), np.ones(4))
    assert float(r.outputs["accuracy"]) == acc == 0.75
    assert list(r.gradients) == ["W1", "b1", "W2", "b2"]
    for k, g in grads.items():
        close(r.gradients[k], g)


# -------------------------------------------------------------- attention
ATT_X = np.array([[1.0, 0.0, 0.5, -0.5], [0.0, 1.0, -0.5, 0.5], [0.5, 0.5, 1.0, 0.0]])
ATT_T = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])


def attention_loss(Wq, Wk, Wv):
    Q, K, V = ATT_X @ Wq, ATT_X @ Wk, ATT_X @ Wv
    A = softmax(Q @ K.T / math.sqrt(2))
    return np.mean((A @ V - ATT_T) ** 2), A


@pytest.mark.parametrize("mode", MODES)
def test_attention(mode):
    rng = np.random.default_rng
    W = {name: rng(seed).standard_normal((4, 2)) * 0.5
         for name, seed in (("Wq", 11), ("Wk", 12), ("Wv", 13))}
    loss, A = attention_loss(W["Wq"], W["Wk"], W["Wv"])
    r = run("attention.cg", mode)
    close(r.outputs["loss"], loss)
    close(r.outputs["A"], A)
    close(r.outputs["A"].sum(axis=1), np.ones(3))
    assert list(r.gradients) == ["Wq", "Wk", "Wv"]
    for name in W:
        def f(x, name=name):
            return attention_loss(**{**W, name: x})[0]
        close(r.gradients[name], numeric_grad(f, W[name]), rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------- taylor
def sin_derivative(k: int, x: float) -> float:
    return (math.sin, math.cos, lambda t: -math.sin(t), lambda t: -math.cos(t))[k % 4](x)


def taylor_reference(a, h, n=5):
    value = sum(sin_derivative(k, a) * h ** k / math.factorial(k) for k in range(n + 1))
    d_a = sum(sin_derivative(k + 1, a) * h ** k / math.factorial(k) for k in range(n + 1))
    d_h = sum(sin_derivative(k, a) * h ** (k - 1) / math.factorial(k - 1) for k in range(1, n + 1))
    return value, d_a, d_h


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("a, h", [(None, None), (1.0, 0.1), (-2.0, 0.7)])
def test_taylor(mode, a, h):
    inputs = {} if a is None else {"a": a, "h": h}
    a, h = (0.5, 0.3) if a is None else (a, h)
    r = run("taylor.cg", mode, inputs)
    value, d_a, d_h = taylor_reference(a, h)
    close(r.outputs["taylor"], value)
    close(r.outputs["exact"], math.sin(a + h))
    close(r.outputs["error"], math.sin(a + h) - value, rtol=1e-7, atol=1e-15)
    # the remainder of a 5th-order expansion of sin: at most h^6/6!
    assert abs(float(r.outputs["error"])) <= h ** 6 / math.factorial(6)
    assert list(r.gradients) == ["a", "h"]
    close(r.gradients["a"], d_a)
    close(r.gradients["h"], d_h)


# ----------------------------------------------------------------- matrix
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("A", [None, [[2.0, 1.0, 0.5], [-1.0, 3.0, 1.0], [0.0, 2.0, 4.0]]])
def test_matrix(mode, A):
    # the second matrix is not symmetric, so a missing transpose shows
    inputs = {} if A is None else {"A": np.array(A)}
    A = np.array([[4.0, 1, 0], [1, 3, 1], [0, 1, 2]]) if A is None else np.array(A)
    b = np.array([1.0, 2.0, 3.0])
    r = run("matrix.cg", mode, inputs)
    Ainv = np.linalg.inv(A)
    x = np.linalg.solve(A, b)
    logdet = math.log(np.linalg.det(A))
    close(r.outputs["x"], x)
    close(A @ r.outputs["x"], b)
    close(r.outputs["G"], Ainv.T)                        # Jacobi's formula
    assert float(r.outputs["gap"]) < 1e-12
    close(r.outputs["loss"], x.sum() + logdet + np.trace(Ainv))
    ones = np.ones(3)
    dA = -np.outer(Ainv.T @ ones, x) + Ainv.T - (Ainv @ Ainv).T
    close(r.gradients["A"], dA)
    close(r.gradients["b"], Ainv.T @ ones)

    def loss(M):
        Mi = np.linalg.inv(M)
        return np.linalg.solve(M, b).sum() + math.log(np.linalg.det(M)) + np.trace(Mi)
    close(r.gradients["A"], numeric_grad(loss, A), rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------- projectile
G = 9.81


def projectile(v, angle, height):
    th = np.radians(angle)
    vx, vy = v * np.cos(th), v * np.sin(th)
    return vx * (vy + np.sqrt(vy ** 2 + 2 * G * height)) / G


def test_projectile_over_the_csv_rows():
    path = os.path.join(ROOT, "examples", "batch", "throws.csv")
    v, angle, height = np.loadtxt(path, delimiter=",", skiprows=1, unpack=True)
    res = run_rows(example("projectile.cg"), read_table(path), grad=True)
    close(res.outputs["dist"], projectile(v, angle, height))
    h = 1e-6
    for name, col in (("v", 0), ("angle", 1), ("height", 2)):
        args = [v, angle, height]
        up = [a + h if i == col else a for i, a in enumerate(args)]
        down = [a - h if i == col else a for i, a in enumerate(args)]
        fd = (projectile(*up) - projectile(*down)) / (2 * h)
        close(res.gradients[name], fd, rtol=1e-6, atol=1e-7)
    # from the ground, the range is v²·sin(2θ)/g, and 45° is the best angle
    assert float(res.outputs["dist"][0]) == pytest.approx(20 ** 2 / G)
    assert abs(float(res.gradients["angle"][0])) < 1e-12
    # from 10 m up, the best angle is lower: at 45° the range falls as the angle rises
    assert float(res.gradients["angle"][4]) < 0


@pytest.mark.parametrize("mode", MODES)
def test_projectile_one_throw(mode):
    r = run("projectile.cg", mode, {"v": 20.0, "angle": 30.0, "height": 2.0})
    close(r.outputs["dist"], projectile(20.0, 30.0, 2.0))
    assert list(r.gradients) == ["v", "angle", "height"]


# ------------------------------------------------------ the headers' commands
def header(path: str) -> list:
    """The leading comment block of an example."""
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                break
            lines.append(line.rstrip("\n"))
    return lines


@pytest.mark.parametrize("path", EXAMPLES, ids=[os.path.basename(p) for p in EXAMPLES])
def test_every_example_has_a_header_saying_what_and_how(path):
    head = header(path)
    name = os.path.basename(path)
    assert head and name in head[0], f"{name}: the first line names the file"
    text = "\n".join(head)
    if name not in ("seed.cg",):  # the seed is the tutorial's own six lines
        assert len(head) >= 5, f"{name}: say what it shows"
        assert re.search(r"cgraph (eval|grad|fit)", text), f"{name}: say how to run it"
    if EAGER_MARK.search(source(name)):
        assert "--mode eager" in text


def header_commands() -> list:
    """The `cgraph ...` lines of every header (a line ending in a backslash goes on
    on the next one)."""
    cmds = []
    for path in EXAMPLES:
        joined, lines = [], header(path)
        for line in lines:
            if joined and joined[-1].endswith("\\"):
                joined[-1] = joined[-1][:-1].rstrip() + " " + line.lstrip("#").strip()
            else:
                joined.append(line)
        for line in joined:
            m = re.match(r"#\s+(cgraph \S.*?)(?:\s{2,}.*)?$", line)
            if m:
                cmds.append((os.path.basename(path), m.group(1)))
    return cmds


def test_the_commands_in_the_headers_run(tmp_path, monkeypatch):
    """Run in this process (`cgraph.cli.run`, what the `cgraph` script calls), to
    stay fast; the README's commands are run as real processes by test_readme."""
    from cgraph.cli import run as cli

    cmds = header_commands()
    assert len(cmds) >= 20
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    for name, cmd in cmds:
        words = shlex.split(cmd)
        assert words[0] == "cgraph"
        for i, w in enumerate(words[:-1]):     # files written go to tmp_path
            if w in ("-o", "--out", "--plot", "--save", "--log"):
                words[i + 1] = str(tmp_path / f"{name}.{words[i + 1].rsplit('/', 1)[-1]}")
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            status = cli(words[1:])
        assert status == 0, f"examples/{name}: `{cmd}` exited {status}\n{out.getvalue()}"
        assert "Traceback" not in out.getvalue()
