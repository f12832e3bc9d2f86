"""`cgraph export --to numpy|torch`: standalone modules with forward() and gradients().

Every exported module runs in a fresh interpreter (which must never import
cgraph) and gives cgraph's values and gradients, on every example and on random
programs from tests/strategies.py; the PyTorch module is run by torch itself
(skipped only where torch is not installed: `make test` installs it from the
wheel on this machine). Also: every registry op has a NumPy and a PyTorch
emitter (or a stated reason not to), names that are not Python identifiers or
that would shadow the module's own are mapped, user text reaches the code only
as literals, and the file is written atomically.
"""
from __future__ import annotations

import ast
import glob
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cgraph import pipeline
from cgraph import registry as R
from cgraph.errors import CgraphError
from cgraph.export import export_source
from cgraph.export import numpy_ops, torch_ops
from cgraph.export.code import NOT_EXPORTED
from cgraph.program import Program
from cli_runner import cli
from strategies import programs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.cg")))
try:
    import torch  # noqa: F401  (is it installed?)
    HAS_TORCH = True
except ImportError:  # pragma: no cover - torch is installed by `make test` where it can be
    HAS_TORCH = False
TARGETS = ["numpy"] + (["torch"] if HAS_TORCH else [])
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")

#: run in a fresh interpreter: load each module, run it, save what it returned
RUNNER = r'''
import importlib.util, json, sys
import numpy as np
jobs = json.load(open(sys.argv[1]))
out = {}
def arr(v):
    return np.asarray(v.detach().numpy() if hasattr(v, "detach") else v, dtype=float)
for k, job in enumerate(jobs):
    spec = importlib.util.spec_from_file_location(f"exported_{k}", job["module"])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    inputs = dict(np.load(job["inputs"]))
    for name, v in mod.forward(inputs).items():
        out[f"{k}/forward/{name}"] = arr(v)
    if job["grad"]:
        value, grads = mod.gradients(inputs)
        out[f"{k}/value"] = arr(value)
        for name, g in grads.items():
            out[f"{k}/grad/{name}"] = arr(g)
assert "cgraph" not in sys.modules, "an exported module imported cgraph"
np.savez(sys.argv[2], **out)
'''


def close(a, b, rtol, what):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol,
                               atol=rtol * 1e-2, equal_nan=True, err_msg=what)


def example_inputs(prog: Program) -> dict:
    """Values for a program's inputs: shapes as declared (a named dim is 5,
    undeclared is a scalar), labels 0 or 1, the rest normal."""
    g = pipeline.build(prog)
    rng = np.random.default_rng(0)
    out = {}
    for name, i in g.inputs.items():
        shape = g.nodes[i].shape
        shape = () if shape is None else tuple(5 if d is None else d for d in shape)
        out[name] = (rng.integers(0, 2, shape).astype(float) if "label" in name
                     else rng.normal(size=shape) * 0.8)
    return out


def reference(prog: Program, inputs: dict):
    """cgraph's outputs, and (value, gradients) or None where the output is not scalar."""
    outs = prog.evaluate(inputs)
    try:
        value, grads = prog.gradients(inputs)
    except CgraphError:
        return outs, None
    return outs, (value, grads)


def run_fresh(tmp_path, cases, target):
    """Export each (program, inputs) to `target`, run them all in one fresh
    interpreter; return (results, refs)."""
    jobs, refs = [], []
    for k, (prog, inputs) in enumerate(cases):
        module = tmp_path / f"m_{target}_{k}.py"
        module.write_text(export_source(prog, target, inputs), encoding="utf-8")
        np.savez(tmp_path / f"in_{target}_{k}.npz", **inputs)
        ref = reference(prog, inputs)
        refs.append(ref)
        jobs.append({"module": str(module), "inputs": str(tmp_path / f"in_{target}_{k}.npz"),
                     "grad": ref[1] is not None})
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    (tmp_path / "runner.py").write_text(RUNNER)
    res = tmp_path / f"out_{target}.npz"
    proc = subprocess.run([sys.executable, str(tmp_path / "runner.py"), str(tmp_path / "jobs.json"),
                           str(res)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(np.load(res)), refs


def compare(results, refs, rtol, names=None):
    for k, (outs, grad) in enumerate(refs):
        label = names[k] if names else f"program {k}"
        for name, v in outs.items():
            close(results[f"{k}/forward/{name}"], v, rtol, f"{label}: output {name}")
        if grad is not None:
            close(results[f"{k}/value"], grad[0], rtol, f"{label}: value")
            for name, g in grad[1].items():
                close(results[f"{k}/grad/{name}"], g, rtol, f"{label}: ∂/∂{name}")


def load_module(text: str, tmp_path, name: str = "exported"):
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------- the registry
@pytest.mark.parametrize("target", ["numpy", "torch"])
def test_every_op_is_written_or_says_why_not(target):
    emit = (numpy_ops if target == "numpy" else torch_ops).EMIT
    missing = [op.name for op in R.REGISTRY.values()
               if op.name not in emit and op.name not in NOT_EXPORTED]
    assert not missing, f"ops with no {target} emitter: {missing}"
    assert not set(emit) & set(NOT_EXPORTED)


# ---------------------------------------------------------------- the examples
def static_examples():
    """(name, program, inputs) of every example a static graph can run; the others
    must fail to export with the diagnostic a static run gives."""
    out = []
    for path in EXAMPLES:
        text = open(path, encoding="utf-8").read()
        prog = Program(text, path, mode="static")
        inputs = {}
        try:
            inputs = example_inputs(prog)
            prog.evaluate(inputs)
        except CgraphError as exc:
            with pytest.raises(CgraphError) as caught:
                export_source(prog, "numpy", inputs)
            assert caught.value.message == exc.message
            continue
        out.append((os.path.basename(path), prog, inputs))
    return out


@pytest.mark.parametrize("target", TARGETS)
def test_examples_exported_run_in_a_fresh_interpreter(tmp_path, target):
    cases = static_examples()
    assert len(cases) >= 10
    results, refs = run_fresh(tmp_path, [(p, i) for _, p, i in cases], target)
    compare(results, refs, 1e-9, [n for n, _, _ in cases])


def test_seed_module_writes_the_chain_rule_out(tmp_path):
    text = export_source(Program(open(os.path.join(ROOT, "examples", "seed.cg")).read(),
                                 "examples/seed.cg"), "numpy")
    for line in ("d = a + b", "e = b - c", "Y = d * e", "d_b = d + e", "d_c = -d", "d_a = e"):
        assert f"    {line}" in text, line
    mod = load_module(text, tmp_path)
    value, grads = mod.gradients({})
    assert value == -5.0 and {k: float(v) for k, v in grads.items()} == {"a": -1.0, "b": 4.0,
                                                                          "c": -5.0}
    assert float(mod.forward({"a": 1.0, "b": 1.0, "c": 0.0})["Y"]) == 2.0
    assert set(mod.gradients({}, wrt=["b"])[1]) == {"b"}
    with pytest.raises(KeyError):
        mod.forward({"z": 1.0})
    with pytest.raises(ValueError):
        mod.forward({"a": [1.0, 2.0]})


@pytest.mark.parametrize("target", TARGETS)
def test_modules_import_only_their_library(target):
    allowed = {"numpy": {"numpy", "base64"}, "torch": {"torch", "base64", "math"}}[target]
    for _, prog, inputs in static_examples():
        tree = ast.parse(export_source(prog, target, inputs))
        imported = {a.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, (ast.Import, ast.ImportFrom))
                    for a in getattr(node, "names", [])}
        assert imported <= allowed, imported


# ---------------------------------------------------------------- random programs
RANDOM = settings(max_examples=3, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("target", TARGETS)
@RANDOM
@given(cases=st.lists(programs(prints=False, whiles=False), min_size=12, max_size=12))
def test_random_programs_in_a_fresh_interpreter(tmp_path_factory, target, cases):
    tmp = tmp_path_factory.mktemp("random")
    progs = [(Program(src, "<random>"), inputs) for src, inputs in cases]
    results, refs = run_fresh(tmp, progs, target)
    compare(results, refs, 1e-8)


@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(case=programs(derivatives=True, prints=False, whiles=False))
def test_random_programs_with_grad_inside(tmp_path, target, case):
    src, inputs = case
    prog = Program(src, "<random>")
    mod = load_module(export_source(prog, target, inputs), tmp_path, f"r_{target}")
    outs, grad = reference(prog, inputs)
    got = mod.forward(inputs)
    for name, v in outs.items():
        close(_np(got[name]), v, 1e-8, name)
    if grad is not None:
        value, grads = mod.gradients(inputs)
        close(_np(value), grad[0], 1e-8, "value")
        for name, g in grad[1].items():
            close(_np(grads[name]), g, 1e-8, name)


def _np(v):
    return v.detach().numpy() if hasattr(v, "detach") else np.asarray(v)


@needs_torch
def test_torch_module_is_differentiated_by_torch(tmp_path):
    import torch

    src = open(os.path.join(ROOT, "examples", "mlp.cg")).read()
    mod = load_module(export_source(Program(src, "mlp.cg"), "torch"), tmp_path, "mlp_torch")
    assert "torch.autograd.grad" in open(tmp_path / "mlp_torch.py").read()
    W1 = torch.tensor(mod.DEFAULTS["W1"].numpy(), requires_grad=True)
    loss = mod.run(W1, *[mod.DEFAULTS[n] for n in ("b1", "W2", "b2")])["loss"]
    loss.backward()
    value, grads = mod.gradients({})
    assert torch.equal(grads["W1"], W1.grad)
    ref_value, ref = Program(src, "mlp.cg").gradients()
    close(value.numpy(), ref_value, 1e-10, "loss")
    close(grads["W1"].numpy(), ref["W1"], 1e-10, "W1")


# ---------------------------------------------------------------- names and text
@pytest.mark.parametrize("target", TARGETS)
def test_names_that_are_not_identifiers_or_shadow_the_module(tmp_path, target):
    src = ("input np\ninput read\nα = 2\nlabels = np * read + α\nforward = sum(labels) * 2\n"
           "value = forward + 1\noutput value\n")
    prog = Program(src, "<names>")
    text = export_source(prog, target, {"np": 3.0, "read": 2.0})
    compile(text, "m.py", "exec")
    mod = load_module(text, tmp_path, f"names_{target}")
    value, grads = mod.gradients({"np": 3.0, "read": 2.0})
    assert float(value) == (3 * 2 + 2) * 2 + 1
    assert {k: float(v) for k, v in grads.items()} == {"np": 4.0, "read": 6.0, "α": 2.0}


def test_user_text_is_only_literals(tmp_path, capfd):
    evil = 'x\\" ; import os ; os.system(\\"echo owned\\") ; \\"\\n\\r\\u2028'
    src = f'input x\nprint("{evil}", x)\nassert x > 0, "{evil}"\ny = x * 2\noutput y\n'
    prog = Program(src, 'odd "file"\nname.cg')
    text = export_source(prog, "numpy", {"x": 1.5})
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in ("eval", "exec", "open", "__import__", "compile")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            assert {a.name for a in node.names} <= {"numpy", "base64"}
    mod = load_module(text, tmp_path, "evil")
    prog.evaluate({"x": 1.5})
    expected = capfd.readouterr().out
    assert float(mod.forward({"x": 1.5})["y"]) == 3.0
    assert capfd.readouterr().out == expected
    with pytest.raises(AssertionError):
        mod.forward({"x": -1.0})


def test_float32_programs_stay_float32(tmp_path):
    src = "input x: [3]\ny = sum(sin(x) * 0.5 + x * x)\noutput y\n"
    prog = Program(src, "<f32>", dtype="float32")
    mod = load_module(export_source(prog, "numpy"), tmp_path, "f32")
    x = np.array([0.1, 0.2, 0.3], np.float32)
    value, grads = mod.gradients({"x": x})
    assert grads["x"].dtype == np.float32
    ref_value, ref = prog.gradients({"x": x})
    close(value, ref_value, 1e-6, "value")
    close(grads["x"], ref["x"], 1e-6, "grad")


def test_a_non_scalar_output_has_forward_only(tmp_path):
    mod = load_module(export_source(Program("input x: [2]\ny = x * 3\noutput y", "<v>"), "numpy"),
                      tmp_path, "vec")
    assert mod.forward({"x": [1.0, 2.0]})["y"].tolist() == [3.0, 6.0]
    with pytest.raises(ValueError, match="scalar"):
        mod.gradients({"x": [1.0, 2.0]})


# ---------------------------------------------------------------- the command
def test_cli_writes_the_module_atomically(tmp_path):
    out = tmp_path / "seed_model.py"
    seed = os.path.join(ROOT, "examples", "seed.cg")
    r = cli("export", seed, "-o", str(out))
    assert r.code == 0, r.stderr
    mod = load_module(out.read_text(), tmp_path, "seed_model")
    assert float(mod.gradients({})[1]["b"]) == 4.0
    # a program that cannot be exported leaves the old module in place
    bad = tmp_path / "bad.cg"
    bad.write_text("input X: [n, 2]\ny = sum(X)\noutput y\n")
    before = out.read_text()
    r = cli("export", str(bad), "-o", str(out))
    assert r.code == 1 and "shape" in r.stderr and "Traceback" not in r.stderr
    assert out.read_text() == before
    # ...and an example value fixes the shape
    r = cli("export", str(bad), "X=[[1,2],[3,4],[5,6]]", "-o", str(out))
    assert r.code == 0, r.stderr
    assert load_module(out.read_text(), tmp_path, "bad_model").SHAPES == {"X": (3, 2)}
    left = set(os.listdir(tmp_path)) - {"__pycache__"}
    assert left == {"seed_model.py", "bad.cg", "bad_model.py"}, left  # no temporary files


def test_cli_usage_errors(tmp_path):
    seed = os.path.join(ROOT, "examples", "seed.cg")
    r = cli("export", seed, "-o", str(tmp_path / "m.txt"))
    assert r.code == 2 and ".py" in r.stderr
    r = cli("export", seed, "--to", "jax")
    assert r.code == 2
    r = cli("export", seed)
    assert r.code == 0 and "def gradients(inputs, wrt=None):" in r.stdout
