"""What `fit` minimises: the program's scalar output, averaged over a batch of rows.

A program is trained in one of two ways, chosen from how it declares its
inputs against the data's columns:

- **per row** (an input declared with the shape of one row, `input x: [3]`,
  or undeclared, `input x`): the program is written for one example, as for
  batch runs; a mini-batch runs vectorised through `cgraph.batch.run_rows`
  and the loss is the mean of the per-row outputs (its gradient, the mean of
  the per-row gradients);
- **per batch** (an input declared with one more axis than a row,
  `input X: [n, 784]`): the program takes the whole mini-batch and its
  output is the batch's loss already (`mean(...)`, `cross_entropy`), as a
  PyTorch model's forward does.

Params are the program's top-level `param`s (or the `wrt` subset) that the
loss depends on.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..errors import CgraphError, Diagnostic, NotScalar


class Objective:
    """Loss and gradients of `program` on rows of `data`, for given param values."""

    def __init__(self, program, data, values: Optional[dict] = None, of: Optional[str] = None,
                 wrt: Optional[Sequence[str]] = None):
        from .. import ast as A

        self.program, self.data = program, data
        self.values = program.feed(values or {})
        body = program.ast.body
        inputs = {st.name: st for st in body if isinstance(st, A.Input)}
        params = {st.name: st for st in body if isinstance(st, A.Param)}
        where = data.path or "the data"
        for name in data.columns:
            if name in params:
                self._fail(f"'{name}' is a param: fit trains it, it is not read from {where}",
                           params[name].span, hint="drop the column, or start from given values "
                           "with --init FILE.npz")
            if name in self.values:
                self._fail(f"'{name}' is given both as a column of {where} and as a value",
                           inputs[name].span if name in inputs else None, kind="name")
        for name, st in inputs.items():
            if name not in data.columns and name not in self.values:
                self._fail(f"input '{name}' has no column in {where} and no value", st.span,
                           kind="name", hint=f"add a column '{name}' (or {name}[0], {name}[1], … "
                           "for a vector), or give it as NAME=VALUE for every row")
        self.per_row = self._per_row(inputs)
        if wrt is None:
            wrt = list(params)
        for w in wrt:
            if w not in params:
                self._fail(f"'{w}' is not a param of the program: fit trains params only",
                           inputs[w].span if w in inputs else None, kind="name",
                           hint=f"its params: {', '.join(params) or 'none'}")
        if not wrt:
            self._fail("the program has no param to train", None, kind="name",
                       hint="declare the trained values with `param w = ...`")
        self._setup(of, list(wrt))

    # --------------------------------------------------------------- set-up
    def _fail(self, message, span, kind="value", hint=None):
        p = self.program
        raise CgraphError([Diagnostic(kind, message, span, hint)]).with_source(p.file, p.source)

    def _per_row(self, inputs) -> bool:
        """True when the program is written for one row (see the module docstring)."""
        modes = {}
        for name, col in self.data.columns.items():
            st = inputs.get(name)
            if st is None or st.shape is None:
                continue
            r, d = len(st.shape), col.ndim
            if r == d:
                modes[name] = False
            elif r == d - 1:
                modes[name] = True
            else:
                row = list(col.shape[1:])
                self._fail(f"input '{name}' is declared with {r} ax{'i' if r == 1 else 'e'}s, but "
                           f"each row of the data gives it shape {row}", st.span, kind="shape",
                           hint=f"declare it [{', '.join(map(str, row))}] (one row) or "
                                f"[n, {', '.join(map(str, row))}] (a batch of rows)"
                           if row else "declare it as a scalar (one row) or [n] (a batch)")
        if len(set(modes.values())) > 1:
            row = next(k for k, v in modes.items() if v)
            whole = next(k for k, v in modes.items() if not v)
            self._fail(f"input '{row}' is declared for one row, but '{whole}' for a batch of rows",
                       inputs[whole].span, kind="shape",
                       hint="declare every data input the same way: one row each, or a leading "
                            "batch axis [n, ...] on each")
        return all(modes.values()) if modes else True

    def _setup(self, of, wrt) -> None:
        p = self.program
        first = self.data.take(slice(0, 1) if not self.per_row else 0)
        try:
            c = p.compiled({**self.values, **first}, grad=True, of=of, wrt=wrt)
        except NotScalar as exc:
            if self.per_row:
                raise
            exc.errors = [d.replace(hint="a program that takes a batch of rows (an input "
                                    "declared [n, ...]) returns the batch's loss: a scalar, "
                                    "such as mean(...) of the per-row losses")
                          for d in exc.errors]
            raise
        g = c.graph
        self.output = c.output
        self.trained = [w for w in wrt if c.leaves[w].connected]
        self.unused = [w for w in wrt if not c.leaves[w].connected]
        if not self.trained:
            self._fail(f"'{self.output}' does not depend on any param ({', '.join(wrt)})", None,
                       kind="name")
        self.initial = {}
        for w in self.trained:
            if w in self.values:
                self.initial[w] = np.array(self.values.pop(w))
                continue
            node = g.nodes[g.leaves[w]]
            v = g.values[node.id] if p.mode == "eager" else node.attrs.get("default")
            self.initial[w] = np.array(v, dtype=p.dtype)

    # ------------------------------------------------------------------ run
    def loss_and_grads(self, params: dict, idx) -> tuple[float, dict]:
        """The mean loss over rows `idx` and its gradient for every trained param."""
        p, rows = self.program, self.data.take(idx)
        if self.per_row:
            from ..batch.rows import run_rows

            r = run_rows(p, rows, shared={**self.values, **params}, grad=True, of=self.output,
                         wrt=self.trained)
            n = len(r.outputs[self.output])
            return (float(np.mean(r.outputs[self.output])),
                    {w: r.shared_gradients[w] / n for w in self.trained})
        v, grads = p.gradients({**self.values, **rows, **params}, of=self.output, wrt=self.trained)
        return float(v), grads

    def loss(self, params: dict, idx=slice(None)) -> float:
        """The mean loss over rows `idx` (no gradients)."""
        p, rows = self.program, self.data.take(idx)
        if self.per_row:
            from ..batch.rows import run_rows

            r = run_rows(p, rows, shared={**self.values, **params}, of=self.output)
            return float(np.mean(r.outputs[self.output]))
        return float(p.evaluate({**self.values, **rows, **params})[self.output])

    def with_data(self, data) -> "Objective":
        """The same objective on other rows (validation data), checked the same way."""
        other = object.__new__(Objective)
        other.__dict__.update(self.__dict__)
        other.data = data
        missing = [k for k in self.data.columns if k not in data.columns]
        if missing:
            raise CgraphError(f"{data.path or 'the validation data'} has no column '{missing[0]}' "
                              f"(the training data has)", kind="name")
        return other

    def first_nonfinite(self, params: dict, idx) -> Optional[Diagnostic]:
        """Where the first NaN or infinity of the loss (or a gradient) on rows `idx`
        came from: the op and its source line."""
        from ..nonfinite import first_nonfinite, nonfinite

        p, rows = self.program, self.data.take(idx)
        feeds = ([{**self.values, **params, **{k: v[r] for k, v in rows.items()}}
                  for r in range(len(next(iter(rows.values()))))]
                 if self.per_row else [{**self.values, **rows, **params}])
        for feed in feeds:
            res = p.run(feed, grad=True, of=self.output, wrt=self.trained, keep_all=True)
            bad = [v for v in (*res.outputs.values(), *res.gradients.values()) if nonfinite(v)]
            if bad:
                d = first_nonfinite(res, p.feed(feed), p)
                if d is not None:
                    return CgraphError([d]).with_source(p.file, p.source).errors[0]
        return None
