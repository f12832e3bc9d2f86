"""One compiled program run from several threads at once gives the answers
it gives alone: plans share no mutable state between concurrent runs."""
from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

import cgraph

SOURCE = "input x\ny = sum(exp(sin(x) * 2) * cos(x) + tanh(x) * x)\n"


def _hammer(fn, n_threads=4, calls=6):
    results, errors = [], []
    start = threading.Barrier(n_threads)

    def work(k):
        try:
            start.wait()
            for c in range(calls):
                results.append((k, c, fn(k)))
        except Exception as exc:       # noqa: BLE001  (reported below)
            errors.append(exc)

    ths = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    assert not errors, errors
    return results


@pytest.mark.parametrize("mode", ["static", "eager"])
def test_one_program_from_four_threads(mode):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(100_000) for _ in range(4)]
    prog = cgraph.compile(SOURCE, mode=mode)
    alone = [prog.gradients({"x": x}) for x in xs]
    for k, _, (value, grads) in _hammer(lambda k: prog.gradients({"x": xs[k]})):
        assert value == alone[k][0]
        np.testing.assert_array_equal(grads["x"], alone[k][1]["x"])


def test_evaluate_from_four_threads():
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(100_000) for _ in range(4)]
    prog = cgraph.compile("input x\nY = sum(tanh(x) * x)\n")
    alone = [float(prog.evaluate({"x": x})["Y"]) for x in xs]
    for k, _, out in _hammer(lambda k: prog.evaluate({"x": xs[k]})):
        assert float(out["Y"]) == alone[k]


def test_building_in_threads_leaves_the_collector_as_it_was():
    assert gc.isenabled()
    _hammer(lambda k: cgraph.compile("input x\n" + "x = x * 1.5 + 1\n" * 200 + "Y = x\n")
            .evaluate({"x": float(k)}))
    assert gc.isenabled()
    gc.disable()
    try:
        cgraph.evaluate("1 + 2")
        assert not gc.isenabled()          # a caller that keeps it off keeps it off
    finally:
        gc.enable()


def test_first_calls_from_threads_in_a_fresh_process():
    """Issue 19: the first calls from 4 threads once failed with KeyError: 'add'."""
    import subprocess
    import sys

    code = ("import threading, cgraph\nerrs = []\n"
            "def f():\n    try:\n        assert cgraph.evaluate('a + b * 2', {'a': 1, 'b': 2})['Y'] == 5\n"
            "    except Exception as e:\n        errs.append(repr(e))\n"
            "ts = [threading.Thread(target=f) for _ in range(4)]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\nprint(errs)\n")
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "[]", out.stdout + out.stderr
