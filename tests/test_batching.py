"""Batched runs over rows (cgraph/batch/) equal a
row-by-row loop of Program.run: values, per-row gradients of the columns and
row-summed gradients of shared leaves; for hand-picked programs covering every
batching rule, every example with scalar leaves, and random programs."""
from __future__ import annotations

import glob
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cgraph import CgraphError
from cgraph.batch import Table, read_table, run_rows, write_results
from cgraph.program import Program

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RTOL, ATOL = 1e-7, 1e-9


def loop_reference(program, rows: dict, shared: dict, grad: bool, of=None, wrt=None):
    """(outputs [per row], per-row gradients, summed shared gradients) by Program.run per row."""
    n = len(next(iter(rows.values())))
    outs, grads, total = {}, {}, {}
    for r in range(n):
        feed = dict(shared)
        feed.update({k: v[r] if np.ndim(v[r]) else float(v[r]) for k, v in rows.items()})
        res = program.run(feed, grad=grad, of=of, wrt=wrt)
        for name, v in res.outputs.items():
            outs.setdefault(name, []).append(np.asarray(v))
        for leaf, g in res.gradients.items():
            if leaf in rows:
                grads.setdefault(leaf, []).append(np.asarray(g))
            else:
                total[leaf] = total.get(leaf, 0) + np.asarray(g)
    return ({k: np.stack(v) for k, v in outs.items()}, {k: np.stack(v) for k, v in grads.items()},
            total)


def check_rows(src, rows, shared=None, grad=True, of=None, wrt=None, chunk_rows=None,
               mode="static", dtype="float64"):
    shared = shared or {}
    program = Program(src, mode=mode, dtype=dtype)
    result = run_rows(program, rows, shared, grad=grad, of=of, wrt=wrt, chunk_rows=chunk_rows)
    ref_program = Program(src, mode=mode, dtype=dtype)
    outs, grads, total = loop_reference(ref_program, rows, shared, grad, of, wrt)
    rtol = RTOL if dtype == "float64" else 1e-4
    assert set(result.outputs) == set(outs)
    for name, v in outs.items():
        np.testing.assert_allclose(result.outputs[name], v, rtol=rtol, atol=ATOL, err_msg=name)
    if grad:
        assert set(result.gradients) == set(grads)
        for leaf, g in grads.items():
            np.testing.assert_allclose(result.gradients[leaf], g, rtol=rtol, atol=ATOL, err_msg=leaf)
        assert set(result.shared_gradients) == set(total)
        for leaf, g in total.items():
            np.testing.assert_allclose(result.shared_gradients[leaf], g, rtol=rtol, atol=1e-8,
                                       err_msg=f"shared {leaf}")
    return result


RNG = np.random.default_rng(7)
N = 7
ROWS = {"a": RNG.uniform(0.5, 1.5, N), "b": RNG.uniform(-1.0, 1.0, N)}
SHARED = {"W": RNG.standard_normal((2, 3)), "v": RNG.standard_normal(3),
          "A": np.array([[2.0, 0.3], [0.1, 1.5]]), "u": RNG.standard_normal(2)}

PROGRAMS = {
    "seed": "d = a + b\ne = b - a * 2\nY = d * e",
    "elementwise": "input W: [2, 3]\nY = sum(sin(a * W) + b ^ 2 * W + tanh(W) * exp(-a) "
                   "+ sigmoid(a - W) / (1 + W ^ 2) + abs(W - b) + relu(W * b) + gelu(a * W))",
    "binary": "input W: [2, 3]\nY = sum(maximum(a * W, b) + minimum(W, a) + atan2(W, a) "
              "+ where(a * W > b, W, a) + clip(a * W, -1, b) + (W * a) % 0.7 + a ^ b)",
    "reductions": "input W: [2, 3]\nZ = a * W + b\nY = sum(mean(Z, axis=0)) + max(Z) "
                  "+ sum(logsumexp(Z, axis=1)) + var(Z) + std(Z, axis=[0, 1]) + prod(Z[0]) "
                  "+ norm(Z) + norm(Z, ord=1, axis=1)[0] + min(Z, axis=-1, keepdims=true)[1, 0] "
                  "+ sum(sum(Z, keepdims=true)) + mean(a) + sum(b)",
    "argmax": "input W: [2, 3]\nY = a * argmax(a * W) + b * argmin(W - b, axis=1)[0] "
              "+ argmax(a * W, axis=0, keepdims=true)[0, 1]",
    "matmul": "input W: [2, 3]\ninput v: [3]\ninput u: [2]\nx = stack([a, b, a * b])\n"
              "M = outer(x, x)\nY = sum(W @ x) + x @ v + v @ x + dot(x, v) + sum(u @ W * x) "
              "+ x @ x + sum(M @ W.T) + sum(W @ M) + sum(M @ M) + sum(outer(x, v)) "
              "+ sum(outer(v, x)) + dot(a, x)[0] + sum(x @ M) + sum(W.T @ (W @ x))",
    "matmul_batch": "input W: [2, 3]\nx = stack([a, b, 1])\nB = stack([W * a, W * b])\n"
                    "Y = sum(B @ x) + sum(B @ W.T) + sum(W @ transpose(B, [0, 2, 1])) "
                    "+ sum(x @ transpose(B, [0, 2, 1]))",
    "neural": "input W: [2, 3]\ninput v: [3]\nlogits = a * W + b\n"
              "Y = cross_entropy(logits, [0, 2]) + mse(softmax(logits), W) "
              "+ sum(log_softmax(logits, axis=0)) + cross_entropy(v * a, 1) + mse(a * v, b) "
              "+ sum(softmax(a * v)) + sum(one_hot([1, 0], 3) * logits)",
    "indexing": "input W: [2, 3]\nx = a * W + b\nY = x[0, 1] + sum(x[:, ::-1]) + sum(x[:, 1:]) "
                "+ sum(x[1]) + sum(x[[1, 0, 1]]) + sum(x[-1, 0:2]) + sum(W[[0, 1]] * a)",
    "shape": "input W: [2, 3]\nx = a * W\nY = sum(reshape(x, [3, 2]) @ W) + sum(flatten(x) * b) "
             "+ sum(squeeze(expand_dims(x, 0))) + sum(transpose(x, [1, 0]) * W.T) "
             "+ sum(broadcast_to(a, [2, 2])) + sum(concat([x, W], axis=0)) "
             "+ sum(stack([x, W], axis=1) ^ 2) + sum(concat([W, x, x], axis=-1) * b) "
             "+ sum(stack([a, b, a])) + sum(expand_dims(b, [0, 1]) * W) + sum(x.T) "
             "+ sum(broadcast_to(reshape(x, [2, 3, 1]), [2, 3, 2])) + sum(full([2, 2], a) * b)",
    "linalg": "input A: [2, 2]\ninput u: [2]\nM = a * A + b * eye(2)\n"
              "Y = sum(inv(M)) + det(M) + sum(solve(M, u)) + trace(M) + sum(diag(M)) "
              "+ sum(diag(u * a)) + sum(einsum(\"ij,j->i\", M, u)) + einsum(\"ii\", M) "
              "+ sum(solve(M, stack([u, u * b], axis=1))) + sum(solve(A, u * a)) "
              "+ sum(einsum(\"ij,jk\", A, M)) + trace(A * a) + sum(inv(A) * b)",
    "shared_only_leaf": "input v: [3]\nk = 2\nY = sum(v * a) * k + b",
    "derivatives": "g = grad(a ^ 3 * b, a)\nh = grad(grad(sin(a) * b, a), a)\nY = g * b + h",
    "shared_grad": "input v: [3]\nY = sum(hessian(sum(a * v ^ 3), v)) + sum(jacobian(b * v ^ 2, v))",
    "sum_to": "input W: [2, 3]\ninput v: [3]\nY = sum(a * W + v * b) + sum((W + a) * (v + b))",
    "assert_ok": "assert a > 0, \"a is positive\"\nY = a * b",
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_batched_equals_loop(name):
    src = PROGRAMS[name]
    check_rows(src, ROWS, SHARED_FOR(src))


def SHARED_FOR(src):
    return {k: v for k, v in SHARED.items() if f"input {k}:" in src}


@pytest.mark.parametrize("name", ["seed", "reductions", "matmul", "linalg", "indexing"])
def test_chunks_and_eval(name):
    """Several chunks of rows (the last one shorter) give the same result; eval too."""
    src = PROGRAMS[name]
    check_rows(src, ROWS, SHARED_FOR(src), chunk_rows=3)
    check_rows(src, ROWS, SHARED_FOR(src), grad=False, chunk_rows=2)


def test_data_dependent_index():
    """A column used as an index: gather per row, gradients scatter back per row."""
    rows = {"i": np.array([0, 1, 1, 0, 1.0]), "a": np.arange(5.0) + 1}
    src = "input W: [2, 3]\nY = sum(W[i] * a) + sum((a * W)[i]) + sum(W[i, 1:])"
    r = check_rows(src, rows, {"W": SHARED["W"]})
    np.testing.assert_array_equal(r.gradients["i"], 0)


def test_labels_column():
    rows = {"a": np.array([0.5, 1.0, 2.0]), "label": np.array([0.0, 2.0, 1.0])}
    check_rows("input v: [3]\nY = cross_entropy(v * a, label)", rows, {"v": SHARED["v"]})


def test_of_wrt_and_outputs():
    src = "d = a + b\nY = d * d\nZ = sin(d)\noutput Y, Z"
    check_rows(src, ROWS, grad=True, of="Z", wrt=["a"])
    r = check_rows(src, ROWS, grad=False)
    assert list(r.outputs) == ["Y", "Z"]


def test_unbatched_output_and_gradient_are_spread_over_rows():
    src = "input v: [3]\nk = sum(v)\nY = a * k\noutput Y, k"
    rows = {"a": ROWS["a"]}
    r = check_rows(src, rows, {"v": SHARED["v"]}, grad=False)
    assert r.outputs["k"].shape == (N,)
    r = check_rows("input v: [3]\nY = a + sum(v)", rows, {"v": SHARED["v"]})
    np.testing.assert_allclose(r.shared_gradients["v"], np.full(3, float(N)))  # Σ over rows of 1
    np.testing.assert_allclose(r.gradients["a"], np.ones(N))


def test_float32_and_eager():
    check_rows(PROGRAMS["elementwise"], ROWS, SHARED_FOR(PROGRAMS["elementwise"]), dtype="float32")
    src = "x = a\nif x > 1:\n    y = x * b\nelse:\n    y = x ^ 2 - b\noutput y"
    check_rows(src, ROWS, mode="eager")


def test_print_runs_once_per_row(capsys):
    r = run_rows(Program("print(\"row\", a)\nY = a * 2"), {"a": np.array([1.0, 2.0, 3.0])})
    assert capsys.readouterr().out.split("\n")[:3] == ["row 1", "row 2", "row 3"]
    assert r.looped == ["print"]


def test_fallback_ops_are_few():
    """Ops with no batching rule run once per row: keep that list short (a while
    node: each row would stop after its own count; a loop node is batched through
    its body, tests/test_loop_batch.py)."""
    from cgraph.batch.vectorize import loop_ops

    assert loop_ops() == ["print", "index_grad_like", "scatter_add_like", "while"]


def test_failing_row_is_named():
    rows = {"a": np.array([1.0, 2.0, -3.0, 4.0]), "b": np.ones(4)}
    with pytest.raises(CgraphError, match="row 3") as info:  # rows of a dict count from 1
        run_rows(Program("assert a > 0, \"a must be positive\"\nY = a * b"), rows, grad=True)
    assert "a must be positive" in info.value.message
    rows = {"i": np.array([0.0, 5.0])}
    with pytest.raises(CgraphError, match="row 2"):
        run_rows(Program("input W: [2, 3]\nY = sum(W[i])"), rows, {"W": SHARED["W"]})


def test_failing_row_is_named_as_in_the_csv_file(tmp_path):
    f = tmp_path / "rows.csv"
    f.write_text("a,b\n" + "\n".join(f"{k + 1},1" for k in range(3000)) + "\n")
    f.write_text(f.read_text().replace("2500,1", "-2500,1"))
    with pytest.raises(CgraphError, match=r"row 2501 of .*rows.csv: assertion failed"):
        run_rows(Program("assert a > 0\nY = a * b"), str(f))


def test_names_and_shapes_checked():
    p = Program("d = a + b\nY = d * c")
    with pytest.raises(CgraphError, match="no value for input 'c'"):
        run_rows(p, ROWS)
    with pytest.raises(CgraphError, match="does not have"):
        run_rows(p, {**ROWS, "c": ROWS["a"], "q": ROWS["a"]})
    with pytest.raises(CgraphError, match="both"):
        run_rows(p, ROWS, {"a": 1.0, "c": 1.0})
    with pytest.raises(CgraphError, match="has shape"):
        run_rows(Program("input W: [2]\nY = sum(W * a)"), {"a": ROWS["a"], "W": ROWS["b"]})
    with pytest.raises(CgraphError, match="rows"):
        run_rows(p, {"a": np.ones(3), "b": np.ones(2), "c": np.ones(3)})


# ------------------------------------------------------------------- examples
def _example_programs():
    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "*.cg"))):
        text = open(path, encoding="utf-8").read()
        mode = "eager" if "# mode: eager" in text else "static"
        yield pytest.param(path, text, mode, id=os.path.basename(path))


@pytest.mark.parametrize("path,text,mode", list(_example_programs()))
def test_examples_batched_equal_loop(path, text, mode):
    """Every example with scalar leaves, run over rows of those leaves."""
    program = Program(text, path, mode=mode)
    try:
        g = program.check() if mode == "static" else program.run().graph
    except CgraphError as exc:  # an example that needs values to build
        pytest.skip(f"does not build without values: {exc.message}")
    scalars = [n for n, i in g.leaves.items() if g.nodes[i].shape in ((), None)
               and g.nodes[i].dtype in ("float64", "float32")]  # None: an input of any shape
    if not scalars:
        pytest.skip("no scalar leaves to batch over")
    rng = np.random.default_rng(3)
    rows = {n: rng.uniform(0.5, 2.0, 4) for n in scalars}
    # an input of a known tensor shape is a column of one tensor per row (fit's data)
    rows.update({n: rng.uniform(0.5, 2.0, (4,) + tuple(g.nodes[i].shape))
                 for n, i in g.leaves.items() if g.nodes[i].op.name == "input"
                 and g.nodes[i].shape and None not in g.nodes[i].shape})
    outs = list(g.outputs.values())
    grad = bool(outs) and g.nodes[outs[0]].shape == ()
    check_rows(text, rows, grad=grad, mode=mode)


# ------------------------------------------------------------ random programs
SHAPES = [(), (2,), (3,), (2, 3)]
UNARY = ["sin", "cos", "tanh", "sigmoid", "softplus", "square", "abs", "relu", "gelu", "silu",
         "atan", "-"]
BINARY = ["+", "-", "*", "maximum", "minimum"]


@st.composite
def expr(draw, shape, depth):
    """Program text of a value of `shape` over scalar columns a, b and shared
    V [3], M [2, 3], U [2]."""
    leaves = {(): ["a", "b", "0.5", "(a*b)"], (3,): ["V", "(a*V)"], (2,): ["U", "(b*U)"],
              (2, 3): ["M", "(M*a)"]}
    if depth <= 0 or draw(st.integers(0, 7)) == 0:
        return draw(st.sampled_from(leaves[shape]))
    sub = lambda s: draw(expr(s, depth - 1))  # noqa: E731
    choice = draw(st.integers(0, 9))
    if choice <= 2:
        f = draw(st.sampled_from(UNARY))
        return f"(-{sub(shape)})" if f == "-" else f"{f}({sub(shape)})"
    if choice <= 5:
        op = draw(st.sampled_from(BINARY))
        other = draw(st.sampled_from([shape, ()] + ([(3,)] if shape == (2, 3) else [])))
        x, y = sub(shape), sub(other)
        if draw(st.booleans()):
            x, y = y, x
        return f"{op}({x}, {y})" if op.isalpha() else f"({x} {op} {y})"
    if shape == ():
        kind = draw(st.integers(0, 5))
        if kind == 0:
            return f"{draw(st.sampled_from(['sum', 'mean', 'max', 'logsumexp']))}({sub((2, 3))})"
        if kind == 1:
            return f"({sub((3,))} @ {sub((3,))})"
        if kind == 2:
            return f"{sub((3,))}[{draw(st.integers(-3, 2))}]"
        if kind == 3:
            return f"norm({sub((2,))})"
        if kind == 4:
            return f"{sub((2, 3))}[1, {draw(st.integers(0, 2))}]"
        return f"sum(softmax({sub((3,))}) * {sub((3,))})"
    if shape == (3,):
        kind = draw(st.integers(0, 4))
        if kind == 0:
            return f"sum({sub((2, 3))}, axis=0)"
        if kind == 1:
            return f"({sub((2,))} @ {sub((2, 3))})"
        if kind == 2:
            return f"softmax({sub((3,))})"
        if kind == 3:
            return f"{sub((2, 3))}[{draw(st.integers(0, 1))}]"
        return f"{sub((3,))}[::-1]"
    if shape == (2,):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            return f"mean({sub((2, 3))}, axis=1)"
        if kind == 1:
            return f"({sub((2, 3))} @ {sub((3,))})"
        if kind == 2:
            return f"{sub((2, 3))}[:, {draw(st.integers(0, 2))}]"
        return f"stack([{sub(())}, {sub(())}])"
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return f"outer({sub((2,))}, {sub((3,))})"
    if kind == 1:
        return f"(reshape({sub((3,))} * {sub((2,))}[0], [1, 3]) + {sub((2, 3))})"
    if kind == 2:
        return f"transpose(transpose({sub((2, 3))}))"
    if kind == 3:
        return f"log_softmax({sub((2, 3))}, axis={draw(st.integers(0, 1))})"
    return f"concat([{sub((2, 3))}[0:1], {sub((2, 3))}[1:]], axis=0)"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr((), 5), st.integers(1, 6))
def test_random_programs(body, n):
    rng = np.random.default_rng(n)
    src = f"input V: [3]\ninput M: [2, 3]\ninput U: [2]\nY = sum({body}) + b * 0.25 + a * 0.5"
    rows = {"a": rng.uniform(-1.5, 1.5, n), "b": rng.uniform(-1.5, 1.5, n)}
    shared = {"V": rng.standard_normal(3), "M": rng.standard_normal((2, 3)),
              "U": rng.standard_normal(2)}
    check_rows(src, rows, shared, chunk_rows=int(rng.integers(1, n + 1)))


# ------------------------------------------------------------------- files
def test_read_table_and_bad_rows(tmp_path):
    from cgraph.datafiles import DataFileError

    f = tmp_path / "rows.csv"
    f.write_text("a,b\n1,2\n3.5,-4\n\n5,6\n")
    t = read_table(f)
    assert t.columns == ["a", "b"] and t.rows == 3
    np.testing.assert_array_equal(t.values["b"], [2, -4, 6])
    for text, where in [("a,b\n1,2\n3,x\n", "row 3, column 2 (b): 'x' is not a number"),
                        ("a,b\n1,2\n3\n", "row 3, column 2 is missing"),
                        ("a,b\n1,2,3\n", "row 2, column 3 is extra"),
                        ("a,b\n1,\n", "row 2, column 2 (b): the cell is empty"),
                        ("1,2\n3,4\n", "no header row"),
                        ("a,a\n1,2\n", "appears twice")]:
        f.write_text(text)
        with pytest.raises(DataFileError, match=where.replace("(", r"\(").replace(")", r"\)")):
            read_table(f)
    f.write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(CgraphError, match="no value for input 'c'"):
        run_rows(Program("a + b + c"), str(f))


def test_fast_csv_reader_agrees_with_the_csv_module(tmp_path):
    from cgraph import datafiles

    cases = ["a,b\n1,2\n3,4\n", " x , y \n 1 , 2 \n", "1,2\n3,4\n\n", "a\r\n1\r\n2\r\n",
             'a,"b,c"\n"1.5",2\n', "a,b\nnan,inf\n-inf,1e300\n", "\ufeffa,b\n1,2\n",
             "a,b\n1_000,2\n", "a,b\n,,\n1,2\n"]
    for k, text in enumerate(cases):
        f = tmp_path / f"c{k}.csv"
        f.write_text(text, encoding="utf-8")
        fast = datafiles._read_csv_fast(str(f))
        header, values = datafiles.read_csv_table(str(f))
        if fast is not None:
            assert fast[0] == header
            np.testing.assert_array_equal(fast[1], values)


def test_write_results_formats(tmp_path):
    import json

    p = Program("input v: [2]\nY = a * b\nZ = v * a\noutput Y, Z")
    r = run_rows(p, {"a": np.array([1.0, 0.1]), "b": np.array([2.0, np.nan])},
                 {"v": np.array([1.0, 3.0])})
    write_results(r, tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text().splitlines() == [
        "a,b,Y,Z[0],Z[1]", "1.0,2.0,2.0,1.0,3.0", "0.1,nan,nan,0.1,0.30000000000000004"]
    write_results(r, tmp_path / "r.jsonl")
    lines = [json.loads(s) for s in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert lines[1] == {"a": 0.1, "b": "NaN", "Y": "NaN", "Z": [0.1, 0.30000000000000004]}
    write_results(r, tmp_path / "r.npz")
    with np.load(tmp_path / "r.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["Y", "Z", "a", "b"] and z["Z"].shape == (2, 2)
    g = run_rows(Program("input v: [2]\nY = sum(v * a) * b"), {"a": np.ones(3), "b": np.ones(3)},
                 {"v": np.array([1.0, 3.0])}, grad=True)
    write_results(g, tmp_path / "g.csv")
    assert (tmp_path / "g.csv").read_text().splitlines()[0] == "a,b,Y,dY/da,dY/db"
    write_results(g, tmp_path / "g.npz")
    with np.load(tmp_path / "g.npz", allow_pickle=False) as z:
        np.testing.assert_allclose(z["dY/dv"], [3.0, 3.0])  # shared: summed over the rows


def test_csv_writer_withoutfast_json_matches(tmp_path, monkeypatch):
    from cgraph.batch import writers

    rng = np.random.default_rng(1)
    r = run_rows(Program("Y = a * b + 1e-300"), {"a": rng.standard_normal(50) * 1e10,
                                                 "b": rng.standard_normal(50)}, grad=True)
    write_results(r, tmp_path / "fast.csv")
    monkeypatch.setattr(writers, "fast_json", lambda: None)
    write_results(r, tmp_path / "slow.csv")
    fast = read_table(tmp_path / "fast.csv")
    slow = read_table(tmp_path / "slow.csv")
    for c in fast.columns:
        np.testing.assert_array_equal(fast.values[c], slow.values[c])
    np.testing.assert_array_equal(fast.values["Y"], r.outputs["Y"])  # exact round trip


def test_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    from cgraph.batch import writers

    out = tmp_path / "results.csv"
    out.write_text("old,file\n1,2\n")
    r = run_rows(Program("Y = a * 2"), {"a": np.arange(200_000.0)})
    calls = {"n": 0}
    real = writers.format_rows

    def failing(blocks, digits=None):
        calls["n"] += 1
        if calls["n"] == 2:  # half-way through the file
            raise KeyboardInterrupt
        return real(blocks, digits)

    monkeypatch.setattr(writers, "format_rows", failing)
    with pytest.raises(KeyboardInterrupt):
        write_results(r, out)
    assert out.read_text() == "old,file\n1,2\n"
    assert os.listdir(tmp_path) == ["results.csv"]
    monkeypatch.setattr(writers, "format_rows", real)
    write_results(r, out)
    assert out.read_text().splitlines()[:2] == ["a,Y", "0.0,0.0"]
    assert os.listdir(tmp_path) == ["results.csv"]


def test_table_api():
    r = run_rows(Program("Y = a * 2"), Table(["a"], {"a": np.array([1.0, 2.0])}))
    from cgraph.batch import result_json, table_rows

    assert table_rows(r) == (["a", "Y"], [["1.0", "2.0"], ["2.0", "4.0"]])
    assert result_json(r) == {"rows": 2, "outputs": {"Y": {"value": [2.0, 4.0], "shape": [2]}}}


def test_rnn_example_scaled_per_row():
    """The RNN example (loops unrolled, matmuls against shared params), its input
    sequence scaled by a column: per-row gradients and row-summed param gradients."""
    text = open(os.path.join(ROOT, "examples", "rnn.cg"), encoding="utf-8").read()
    if "const xs = randn([6, 2], seed=1)" not in text:
        pytest.skip("examples/rnn.cg changed")
    text = text.replace("const xs = randn([6, 2], seed=1)", "xs = randn([6, 2], seed=1) * s")
    check_rows(text, {"s": np.array([0.5, 1.0, -2.0, 0.1])}, chunk_rows=3)


def test_a_shared_weight_under_vector_rows_sums_as_one_matrix_product():
    """x: one vector per row, W shared: Σ_r x_rᵀ g_r is computed as one [p, n] @ [n, q]
    product (vectorize._summed_matmul) and equals the per-row loop."""
    rng = np.random.default_rng(5)
    src = "input x: [4]\ninput W: [4, 3]\nh = tanh(x @ W)\nY = sum(h * h)\n"
    rows = {"x": rng.normal(size=(9, 4))}
    result = check_rows(src, rows, shared={"W": rng.normal(size=(4, 3))}, grad=True)
    assert result.shared_gradients["W"].shape == (4, 3)
    from cgraph.batch import rows as batch_rows

    program = Program(src)
    run_rows(program, rows, {"W": np.ones((4, 3))}, grad=True)
    plans = batch_rows._PLANS[program].values()
    big = max(plans, key=lambda c: max(len(n.shape or ()) for n in c.plan.graph.nodes))
    assert all(not (n.op.name == "matmul" and len(n.shape) == 3) for n in big.plan.graph.nodes
               if n.shape is not None)
