"""The optimisers of `cgraph fit`, with PyTorch's update formulas and defaults.

Each class follows the single-tensor code path of `torch.optim` (same order
of operations, so float64 results agree to rounding):

- `SGD`: momentum with dampening, Nesterov, L2 weight decay (lr 1e-3);
- `Adam`: bias-corrected moments, optional AMSGrad, L2 weight decay (lr 1e-3);
- `AdamW`: Adam with decoupled weight decay, θ ← θ(1 − lr·λ) (lr 1e-3, λ 1e-2);
- `RMSprop`: squared-gradient average, centred or not, momentum (lr 1e-2).

An optimiser owns its state (moment arrays per param, the step count);
`state_arrays()` / `load_state_arrays()` turn it into plain named arrays for
an `.npz` checkpoint, so a resumed run continues exactly where it stopped.
Params are updated in place by `step(params, grads)`.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np


class Optimizer(ABC):
    name = ""
    #: hyperparameter -> PyTorch's default
    defaults: dict = {}
    #: the names of the per-param state arrays (created on a param's first step)
    buffers: tuple = ()

    def __init__(self, **hyper):
        for k in hyper:
            if k not in self.defaults:
                raise ValueError(f"{self.name} has no '{k}' setting (it has "
                                 f"{', '.join(self.defaults)})")
        self.hyper = {**self.defaults, **{k: v for k, v in hyper.items() if v is not None}}
        self.check()
        self.steps = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}

    @property
    def lr(self) -> float:
        return self.hyper["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self.hyper["lr"] = float(value)

    def check(self) -> None:
        h = self.hyper
        for k, v in h.items():
            if isinstance(v, float) and (not math.isfinite(v) or v < 0):
                raise ValueError(f"{k} must be a finite number ≥ 0, not {v}")

    def step(self, params: dict, grads: dict) -> None:
        """One update of every param in `grads`, in place."""
        self.steps += 1
        for name, g in grads.items():
            p = params[name]
            st = self.state.get(name)
            if st is None:
                st = self.state[name] = self.first_state(p)
            self.update(p, np.asarray(g, p.dtype), st)

    def first_state(self, p: np.ndarray) -> dict:
        return {b: np.zeros_like(p) for b in self.buffers}

    def scratch(self, p: np.ndarray) -> np.ndarray:
        """A work array the shape of `p` (not state: never saved)."""
        pool = self.__dict__.setdefault("_scratch", {})
        key = (p.shape, p.dtype.str)
        buf = pool.get(key)
        if buf is None:
            buf = pool[key] = np.empty_like(p)
        return buf

    @abstractmethod
    def update(self, p: np.ndarray, g: np.ndarray, st: dict) -> None:
        """One param's update, in place, from its gradient and state."""

    # ------------------------------------------------------------ checkpoint
    def state_arrays(self) -> dict:
        """Flat names -> arrays: `BUFFER/PARAM` for each state array, and `steps`."""
        out = {"steps": np.asarray(self.steps, np.int64)}
        for pname, st in self.state.items():
            for b, arr in st.items():
                out[f"{b}/{pname}"] = arr
        return out

    def load_state_arrays(self, arrays: dict, params: dict) -> None:
        self.steps = int(arrays.get("steps", 0))
        self.state = {}
        for key, arr in arrays.items():
            b, _, pname = key.partition("/")
            if not pname:
                continue
            if b not in self.buffers or pname not in params:
                raise ValueError(f"the saved optimiser state has '{key}', which {self.name} "
                                 f"with these params does not use")
            if np.shape(arr) != params[pname].shape:
                raise ValueError(f"the saved '{key}' has shape {list(np.shape(arr))}, the param "
                                 f"{list(params[pname].shape)}")
            self.state.setdefault(pname, {})[b] = np.array(arr, params[pname].dtype)
        for pname, st in self.state.items():
            missing = [b for b in self.first_state(params[pname]) if b not in st]
            if missing:
                raise ValueError(f"the saved optimiser state lacks {missing[0]}/{pname}")


def _decayed(p, g, weight_decay):
    """L2 weight decay as torch.optim adds it: g + λθ (a new array)."""
    return g + weight_decay * p if weight_decay else g


class SGD(Optimizer):
    name = "sgd"
    defaults = {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0,
                "nesterov": False}
    buffers = ("momentum_buffer",)

    def check(self) -> None:
        super().check()
        h = self.hyper
        if h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
            raise ValueError("Nesterov momentum needs a momentum > 0 and no dampening")

    def update(self, p, g, st):
        h = self.hyper
        g = _decayed(p, g, h["weight_decay"])
        mu = h["momentum"]
        if mu:
            buf = st.get("momentum_buffer")
            if buf is None:                # torch: the first buffer is the gradient itself
                buf = st["momentum_buffer"] = np.array(g)
            else:
                buf *= mu
                buf += (1 - h["dampening"]) * g
            g = g + mu * buf if h["nesterov"] else buf
        p -= h["lr"] * g

    def first_state(self, p):
        return {}  # the momentum buffer starts as the first gradient


class Adam(Optimizer):
    name = "adam"
    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                "amsgrad": False}
    buffers = ("exp_avg", "exp_avg_sq")
    decoupled = False

    def __init__(self, **hyper):
        super().__init__(**hyper)
        if self.hyper["amsgrad"]:
            self.buffers = self.buffers + ("max_exp_avg_sq",)

    def check(self) -> None:
        super().check()
        b1, b2 = self.hyper["betas"]
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas must be in [0, 1), not {b1}, {b2}")

    def update(self, p, g, st):
        h = self.hyper
        lr, (b1, b2), eps, wd = h["lr"], h["betas"], h["eps"], h["weight_decay"]
        if self.decoupled:
            p *= 1 - lr * wd
        else:
            g = _decayed(p, g, wd)
        m, v = st["exp_avg"], st["exp_avg_sq"]
        tmp = self.scratch(p)  # the same operations as below, without temporaries
        np.subtract(g, m, out=tmp)
        tmp *= 1 - b1
        m += tmp                                # torch: exp_avg.lerp_(grad, 1 - beta1)
        np.multiply(g, g, out=tmp)
        tmp *= 1 - b2
        v *= b2
        v += tmp                                # exp_avg_sq·β2 + (1 − β2)·g²
        t = self.steps
        step_size = lr / (1 - b1 ** t)
        bc2_sqrt = math.sqrt(1 - b2 ** t)
        if h["amsgrad"]:
            vmax = st["max_exp_avg_sq"]
            np.maximum(vmax, v, out=vmax)
            v = vmax
        np.sqrt(v, out=tmp)
        tmp /= bc2_sqrt
        tmp += eps                              # denom = √v / √(1 − β2^t) + ε
        np.divide(m, tmp, out=tmp)
        tmp *= step_size
        p -= tmp                                # θ − lr/(1 − β1^t) · m / denom


class AdamW(Adam):
    name = "adamw"
    defaults = {**Adam.defaults, "weight_decay": 1e-2}
    decoupled = True


class RMSprop(Optimizer):
    name = "rmsprop"
    defaults = {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                "centered": False}
    buffers = ("square_avg", "momentum_buffer", "grad_avg")

    def update(self, p, g, st):
        h = self.hyper
        a, eps = h["alpha"], h["eps"]
        g = _decayed(p, g, h["weight_decay"])
        sq = st["square_avg"]
        sq *= a
        sq += (1 - a) * (g * g)
        if h["centered"]:
            ga = st["grad_avg"]
            ga += (1 - a) * (g - ga)
            avg = np.sqrt(sq - ga * ga)
        else:
            avg = np.sqrt(sq)
        avg += eps
        if h["momentum"] > 0:
            buf = st["momentum_buffer"]
            buf *= h["momentum"]
            buf += g / avg
            p -= h["lr"] * buf
        else:
            p -= h["lr"] * (g / avg)


OPTIMIZERS = {cls.name: cls for cls in (SGD, Adam, AdamW, RMSprop)}


def make_optimizer(name: str, **hyper) -> Optimizer:
    """The optimiser `name` (sgd, adam, adamw, rmsprop) with these hyperparameters;
    those not given (None) take PyTorch's defaults. ValueError for a wrong one
    (a setting the optimiser does not have, a negative rate...)."""
    cls = OPTIMIZERS.get(name)
    if cls is None:
        raise ValueError(f"no optimiser '{name}' (there are {', '.join(OPTIMIZERS)})")
    return cls(**{k: v for k, v in hyper.items() if v is not None})
