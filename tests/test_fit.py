"""`cgraph fit` and `Program.fit`: training that converges, both ways of writing a
model (per row, per batch) and both modes agreeing, the data files, every
mistake as a located diagnostic, saves, resume, a real signal, and the
examples trained to the losses they should reach."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import cgraph
from cgraph.errors import CgraphError
from cgraph.train import NonFiniteLoss
from cgraph.train.checkpoint import load
from cli_runner import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EX = os.path.join(ROOT, "examples")
RNG = np.random.default_rng(11)
X = RNG.normal(size=(120, 2))
Y = X @ np.array([1.5, -2.0]) + 0.25 + 0.05 * RNG.normal(size=120)

PER_ROW = """input x: [2]
input y
param w = zeros([2])
param b = 0.0
loss = (dot(w, x) + b - y)^2
output loss
"""
PER_BATCH = """input x: [n, 2]
input y: [n]
param w = zeros([2])
param b = 0.0
loss = mean((x @ w + b - y)^2)
output loss
"""


def numpy_sgd(epochs, size, lr, order=None):
    """The same training written by hand: mean squared error, plain SGD."""
    w, b = np.zeros(2), 0.0
    for e in range(epochs):
        idx_all = np.arange(len(X)) if order is None else order(e)
        for s in range(0, len(X), size):
            idx = idx_all[s:s + size]
            r = X[idx] @ w + b - Y[idx]
            gw, gb = 2 * X[idx].T @ r / len(idx), 2 * r.mean()
            w, b = w - lr * gw, b - lr * gb
    return w, b


@pytest.mark.parametrize("src", [PER_ROW, PER_BATCH], ids=["per-row", "per-batch"])
@pytest.mark.parametrize("mode", ["static", "eager"])
def test_sgd_equals_the_hand_written_loop(src, mode):
    r = cgraph.compile(src, mode=mode).fit({"x": X, "y": Y}, optimizer="sgd", lr=0.1, epochs=5,
                                           batch_size=32, shuffle=False)
    w, b = numpy_sgd(5, 32, 0.1)
    np.testing.assert_allclose(r.params["w"], w, rtol=1e-10)
    np.testing.assert_allclose(r.params["b"], b, rtol=1e-10)
    assert r.steps == 5 * 4 and len(r.history) == 5 and r.output == "loss"
    assert [h["epoch"] for h in r.history] == [1, 2, 3, 4, 5]
    assert r.history[-1]["loss"] < r.history[0]["loss"]


def test_the_shuffle_is_seeded_per_epoch():
    order = lambda e: np.random.default_rng([7, e]).permutation(len(X))  # noqa: E731
    r = cgraph.compile(PER_BATCH).fit({"x": X, "y": Y}, optimizer="sgd", lr=0.1, epochs=3,
                                      batch_size=25, seed=7)
    w, b = numpy_sgd(3, 25, 0.1, order)
    np.testing.assert_allclose(r.params["w"], w, rtol=1e-10)
    r2 = cgraph.compile(PER_BATCH).fit({"x": X, "y": Y}, optimizer="sgd", lr=0.1, epochs=3,
                                       batch_size=25, seed=8)
    assert not np.allclose(r2.params["w"], r.params["w"], rtol=1e-12)


def test_training_against_torch_end_to_end():
    """The MLP example, two epochs of Adam in file order: the same params as
    PyTorch's nn + torch.optim.Adam computing the same model."""
    torch = pytest.importorskip("torch")
    data = np.load(os.path.join(EX, "data", "spiral.npz"))
    prog = cgraph.compile(open(os.path.join(EX, "mlp_train.cg")).read())
    start = prog.fit(dict(data), epochs=1, lr=0.0, batch_size=300).params  # the initial params
    r = prog.fit(dict(data), optimizer="adam", lr=0.05, epochs=2, batch_size=32, shuffle=False)
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in start.items()}
    opt = torch.optim.Adam(list(t.values()), lr=0.05, foreach=False)
    Xt = torch.tensor(data["X"], dtype=torch.float64)
    lt = torch.tensor(data["labels"], dtype=torch.long)
    for _ in range(2):
        for s in range(0, 300, 32):
            opt.zero_grad()
            h = torch.tanh(Xt[s:s + 32] @ t["W1"] + t["b1"])
            loss = torch.nn.functional.cross_entropy(h @ t["W2"] + t["b2"], lt[s:s + 32])
            loss.backward()
            opt.step()
    for k in t:
        np.testing.assert_allclose(r.params[k], t[k].detach().numpy(), rtol=1e-9, atol=1e-12)


def test_validation_early_stopping_and_schedules():
    p = cgraph.compile(PER_BATCH)
    r = p.fit({"x": X, "y": Y}, lr=0.05, epochs=4, val=0.25)
    assert all("val_loss" in h for h in r.history)
    r = p.fit({"x": X[:90], "y": Y[:90]}, lr=0.05, epochs=4, val_data={"x": X[90:], "y": Y[90:]})
    assert r.history[-1]["val_loss"] < r.history[0]["val_loss"]
    # a learning rate of 0 never improves: stops after `early_stop` epochs more
    r = p.fit({"x": X, "y": Y}, lr=0.0, epochs=50, early_stop=3)
    assert r.stopped == "early_stop" and len(r.history) == 4
    r = p.fit({"x": X, "y": Y}, optimizer="sgd", lr=0.1, epochs=4, lr_schedule="step",
              step_size=2, gamma=0.5)
    assert [h["lr"] for h in r.history] == [0.1, 0.1, 0.05, 0.05]


def test_init_values_and_unused_params():
    src = PER_BATCH.replace("output loss", "param unused = 3.0\noutput loss")
    r = cgraph.compile(src).fit({"x": X, "y": Y}, lr=0.0, epochs=1, init={"w": [1.0, 2.0]})
    assert list(r.params["w"]) == [1.0, 2.0] and r.unused == ["unused"]
    # a shared value for every row (not a column)
    src2 = "input x\ninput s\nparam w = 0.0\nloss = (w * x - s)^2\noutput loss\n"
    r = cgraph.compile(src2).fit({"x": [1.0, 2.0, 3.0]}, values={"s": 2.0}, optimizer="sgd",
                                 lr=0.05, epochs=200)
    assert abs(float(r.params["w"]) - 2.0 * 6 / 14) < 1e-6


def test_mistakes_are_located_errors():
    p = cgraph.compile(PER_BATCH, "m.cg")
    with pytest.raises(CgraphError) as e:
        p.fit({"x": X}, epochs=1)
    assert e.value.kind == "name" and "input 'y' has no column" in e.value.message
    assert e.value.line == 2
    with pytest.raises(CgraphError) as e:
        p.fit({"x": X, "y": Y, "w": X}, epochs=1)
    assert "'w' is a param" in e.value.message and e.value.line == 3
    with pytest.raises(CgraphError) as e:
        p.fit({"x": X[:, :1, None], "y": Y}, epochs=1)
    assert e.value.kind == "shape"
    with pytest.raises(CgraphError) as e:
        p.fit({"x": X, "y": Y[:50]}, epochs=1)
    assert "rows" in e.value.message
    with pytest.raises(CgraphError) as e:
        p.fit({"x": X, "y": Y}, epochs=0)
    assert e.value.kind == "usage"
    with pytest.raises(CgraphError) as e:
        cgraph.compile("input x\nloss = x^2\noutput loss\n").fit({"x": X[:, 0]})
    assert "no param" in e.value.message
    with pytest.raises(CgraphError) as e:  # the batch program's output must be the batch's loss
        cgraph.compile(PER_BATCH.replace("mean(", "(")).fit({"x": X, "y": Y})
    assert e.value.kind == "type" and "mean(" in e.value.hint


def test_a_nan_loss_stops_with_the_op_and_keeps_the_last_save(tmp_path):
    src = "input x\ninput y\nparam w = 1.0\npred = sqrt(w) * x\nloss = (pred - y)^2\n"
    save = str(tmp_path / "p.npz")
    with pytest.raises(NonFiniteLoss) as e:
        cgraph.compile(src, "nan.cg").fit({"x": [1.0, 2.0, 3.0], "y": [0.0, 0.0, 0.0]},
                                          optimizer="sgd", lr=1.0, epochs=3, save=save)
    msgs = [d.message for d in e.value.errors]
    assert "epoch 2, batch 1 (step 2)" in msgs[0]
    assert "sqrt of a negative value" in msgs[1] and e.value.errors[1].line == 4
    params, _, meta = load(save)
    # the last completed epoch (one step of lr 1 took w below 0: the next loss is nan)
    assert meta["epochs_done"] == 1 and float(params["w"]) == pytest.approx(1 - 28 / 6)


# ------------------------------------------------------------ data files
def write_csv(path, header, cols):
    rows = np.column_stack(cols)
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        f.writelines(",".join(repr(float(v)) for v in r) + "\n" for r in rows)


def test_csv_npz_and_parquet_give_the_same_training(tmp_path):
    csv = tmp_path / "d.csv"
    write_csv(csv, ["x[0]", "x[1]", "y"], [X, Y])
    npz = tmp_path / "d.npz"
    np.savez(npz, x=X, y=Y)
    paths = [csv, npz]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"x": [list(r) for r in X], "y": Y}), tmp_path / "d.parquet")
        paths.append(tmp_path / "d.parquet")
    except ImportError:
        pass
    p = cgraph.compile(PER_ROW)
    results = [p.fit(str(path), optimizer="sgd", lr=0.1, epochs=2, batch_size=40).params
               for path in paths]
    for r in results[1:]:
        for k in r:
            np.testing.assert_allclose(r[k], results[0][k], rtol=1e-12)


def test_bad_data_files_are_diagnostics(tmp_path):
    src = tmp_path / "m.cg"
    src.write_text(PER_ROW)
    (tmp_path / "gap.csv").write_text("x[0],x[2],y\n1,2,3\n")
    (tmp_path / "nan.csv").write_text("x[0],x[1],y\n1,2,oops\n")
    (tmp_path / "d.txt").write_text("1,2\n")
    for data, status, words in (("gap.csv", 1, "lacks x[1]"), ("nan.csv", 1, "not a number"),
                                ("d.txt", 1, ".csv, .npz, .parquet"),
                                ("missing.csv", 1, "no such file")):
        out = cli("fit", src, "--data", tmp_path / data)
        assert out.code == status, (data, out)
        assert words in out.stderr and "Traceback" not in out.stderr, out.stderr


# ------------------------------------------------------------ command line
def test_cli_prints_epochs_and_params_and_json(tmp_path):
    csv = tmp_path / "d.csv"
    write_csv(csv, ["x[0]", "x[1]", "y"], [X, Y])
    src = tmp_path / "m.cg"
    src.write_text(PER_ROW)
    out = cli("fit", src, "--data", csv, "--optimizer", "sgd", "--lr", "0.1", "--epochs", "3",
              "--batch-size", "30", env={"NO_COLOR": "1"})
    assert out.code == 0, out
    lines = out.stdout.splitlines()
    assert lines[0].startswith("epoch 1/3  loss ") and lines[2].startswith("epoch 3/3")
    assert "trained params (12 steps)" in out.stdout
    log = tmp_path / "steps.jsonl"
    out = cli("fit", src, "--data", csv, "--epochs", "2", "--lr", "0.05", "--json", "--val", "0.2",
              "--log", log)
    doc = out.json
    assert doc["steps"] == 2 and [e["epoch"] for e in doc["epochs"]] == [1, 2]
    assert "val_loss" in doc["epochs"][0] and doc["params"]["w"]["shape"] == [2]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and records[0]["epoch"] == 1


def test_cli_usage_errors(tmp_path):
    src = tmp_path / "m.cg"
    src.write_text(PER_ROW)
    np.savez(tmp_path / "d.npz", x=X, y=Y)
    d = tmp_path / "d.npz"
    for args, words in ((["--optimizer", "sgd", "--betas", "0.9,0.99"], "not a setting of sgd"),
                        (["--resume"], "--save"), (["--betas", "0.9"], "two numbers"),
                        (["--optimizer", "lbfgs"], "adam"),
                        (["--val", "0.2", "--val-data", str(d)], "not both"),
                        (["--save", str(d)], "is the input"),
                        (["--plot", str(tmp_path / "l.jpg")], ".svg")):
        out = cli("fit", src, "--data", d, *args)
        assert out.code == 2, (args, out)
        assert words in out.stderr, (args, out.stderr)


def test_plot_writes_the_loss_curve(tmp_path):
    pytest.importorskip("matplotlib")
    src = tmp_path / "m.cg"
    src.write_text(PER_BATCH)
    np.savez(tmp_path / "d.npz", x=X, y=Y)
    out = cli("fit", src, "--data", tmp_path / "d.npz", "--epochs", "3", "--val", "0.2",
              "--plot", tmp_path / "loss.svg", "-q")
    assert out.code == 0, out
    svg = (tmp_path / "loss.svg").read_text()
    assert svg.startswith("<?xml") and "<svg" in svg


def test_resume_equals_an_uninterrupted_run(tmp_path):
    p = cgraph.compile(PER_BATCH)
    data = {"x": X, "y": Y}
    save = str(tmp_path / "s.npz")
    whole = p.fit(data, optimizer="adam", lr=0.05, epochs=6, batch_size=16, seed=3)
    p.fit(data, optimizer="adam", lr=0.05, epochs=3, batch_size=16, seed=3, save=save)
    again = p.fit(data, optimizer="adam", lr=0.05, epochs=6, batch_size=16, seed=3, save=save,
                  resume=True)
    assert again.resumed_from == 3 and again.steps == whole.steps
    for k in whole.params:
        np.testing.assert_array_equal(again.params[k], whole.params[k])
    assert again.history == whole.history
    with pytest.raises(CgraphError, match="batch_size"):
        p.fit(data, optimizer="adam", lr=0.05, epochs=6, batch_size=8, seed=3, save=save,
              resume=True)


def test_a_real_signal_stops_after_the_step_and_resume_finishes(tmp_path):
    """SIGINT and SIGTERM to a running `cgraph fit`: exit 130 / 143, the save
    file holds the last completed epoch, and --resume ends where an
    uninterrupted run ends."""
    src = tmp_path / "m.cg"
    src.write_text(PER_ROW)
    np.savez(tmp_path / "d.npz", x=X, y=Y)
    exe = os.path.join(os.path.dirname(sys.executable), "cgraph")
    common = [str(src), "--data", str(tmp_path / "d.npz"), "--optimizer", "adam", "--lr", "0.01",
              "--batch-size", "1", "--seed", "5"]
    for sig, status in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        save = tmp_path / f"s{status}.npz"
        proc = subprocess.Popen([exe, "fit", *common, "--epochs", "100000", "--save", str(save)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while not save.exists() and time.time() < deadline:
            time.sleep(0.05)
        assert save.exists(), proc.stderr
        time.sleep(0.2)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == status, err
        assert b"Traceback" not in err and b"stopped after step" in err
        done = load(str(save))[2]["epochs_done"]
        assert done >= 1
    target = done + 1
    out = subprocess.run([exe, "fit", *common, "--epochs", str(target), "--save", str(save),
                          "--resume", "--json"], capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    resumed = json.loads(out.stdout)
    whole = cgraph.compile(PER_ROW).fit({"x": X, "y": Y}, optimizer="adam", lr=0.01,
                                        batch_size=1, seed=5, epochs=target)
    for k in whole.params:
        np.testing.assert_allclose(resumed["params"][k]["value"], whole.params[k], rtol=1e-15)
    assert resumed["steps"] == whole.steps


# ------------------------------------------------------------ the examples
@pytest.mark.parametrize("name, data, args, below", [
    ("linear_regression.cg", "linear.csv",
     ["--optimizer", "sgd", "--lr", "0.1", "--epochs", "30", "--batch-size", "20"], 0.012),
    ("logistic_regression.cg", "blobs.csv",
     ["--lr", "0.1", "--epochs", "40", "--batch-size", "30", "--val", "0.2"], 0.25),
    ("mlp_train.cg", "spiral.npz",
     ["--lr", "0.05", "--epochs", "150", "--batch-size", "32"], 0.08),
])
def test_the_examples_train_to_their_losses(name, data, args, below):
    out = cli("fit", os.path.join(EX, name), "--data", os.path.join(EX, "data", data), *args,
              "--json")
    assert out.code == 0, out
    doc = out.json
    assert doc["epochs"][-1]["loss"] < below, doc["epochs"][-1]
    assert doc["epochs"][-1]["loss"] < doc["epochs"][0]["loss"] / 2
    if name == "linear_regression.cg":  # the data's true weights (examples/data/make_data.py)
        np.testing.assert_allclose(doc["params"]["w"]["value"], [2.0, -3.0, 0.5], atol=0.05)
        assert abs(doc["params"]["b"]["value"] - 1.0) < 0.05


def test_the_python_blocks_of_docs_fit_run(monkeypatch, capsys):
    import re

    monkeypatch.chdir(ROOT)
    text = open(os.path.join(ROOT, "docs", "fit.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "docs/fit.md", "exec"), {})
        printed = capsys.readouterr().out
        for want in re.findall(r"#\s+(.+)$", code, re.M):
            assert want.strip() in printed


def test_resume_needs_a_save_file():
    with pytest.raises(CgraphError, match="save="):
        cgraph.compile(PER_BATCH).fit({"x": X, "y": Y}, epochs=1, resume=True)
