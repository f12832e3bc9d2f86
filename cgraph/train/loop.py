"""`fit`: the training loop — mini-batches, optimiser steps, epochs, saves.

    result = fit(program, "rows.csv", optimizer="adam", lr=1e-2, epochs=20)
    result.history   # [{"epoch": 1, "loss": ..., "val_loss": ..., "lr": ...}, ...]
    result.params    # trained param -> array

Each epoch visits every training row once, in an order shuffled by
`np.random.default_rng([seed, epoch])` (so a resumed run sees the same
order as an uninterrupted one), in mini-batches of `batch_size` rows (all
rows by default). The reported loss of an epoch is the mean over its rows of
the batch losses (as Keras reports it); the validation loss is computed after
the epoch's last step. `save` is rewritten after every epoch (atomically);
`resume` continues from such a file with its optimiser state and history.
`stop()` is asked after every step: True ends the run there (what the
command line's Ctrl-C and SIGTERM do), the save file keeping the last
completed epoch.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from ..errors import CgraphError, Diagnostic
from .checkpoint import load, save as save_checkpoint
from .data import Dataset, checked, read_data
from .objective import Objective
from .optimizers import make_optimizer
from .schedules import lr_at

#: the settings a resumed run must share with the run it continues
RESUME_KEYS = ("optimizer", "batch_size", "seed", "shuffle", "output", "trained")


@dataclass
class FitResult:
    history: list                      # one dict per epoch
    params: dict                       # trained param -> array
    steps: int                         # optimiser steps taken, in all
    output: str                        # the minimised output
    stopped: Optional[str] = None      # None (every epoch ran), "early_stop", "stopped"
    unused: list = field(default_factory=list)  # params the output does not depend on
    resumed_from: int = 0              # epochs already done when this run started

    def json(self) -> dict:
        from ..batch.writers import json_value

        return {"epochs": self.history, "steps": self.steps, "output": self.output,
                "stopped": self.stopped,
                "params": {k: {"value": json_value(v), "shape": list(np.shape(v))}
                           for k, v in self.params.items()}}


class NonFiniteLoss(CgraphError):
    """The loss (or a gradient) became NaN or infinite: the run stops there."""


def as_dataset(data) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, os.PathLike)):
        return read_data(data)
    return checked(Dataset({str(k): np.asarray(v, np.float64) for k, v in dict(data).items()}))


def fit(program, data, *, values: Optional[dict] = None, of: Optional[str] = None,
        wrt: Optional[Sequence[str]] = None, optimizer: str = "adam", epochs: int = 10,
        batch_size: Optional[int] = None, shuffle: bool = True, seed: int = 0,
        val: Optional[float] = None, val_data=None, early_stop: Optional[int] = None,
        lr_schedule: str = "constant", step_size: Optional[int] = None,
        gamma: Optional[float] = None, lr_min: Optional[float] = None,
        clip_norm: Optional[float] = None, init=None, save: Optional[str] = None,
        resume=False, log: Optional[str] = None,
        on_step: Optional[Callable[[dict], None]] = None,
        on_epoch: Optional[Callable[[dict], None]] = None,
        stop: Optional[Callable[[], bool]] = None, **hyper) -> FitResult:
    """Train `program`'s params to minimise its scalar output on `data` (a
    Dataset, a .csv/.npz/.parquet path, or a dict of arrays whose first axis is
    the rows). `hyper`: the optimiser's settings (lr, momentum, betas...).
    Raises CgraphError for every mistake; `NonFiniteLoss` for a NaN loss."""
    from ..datafiles import DataFileError

    try:
        return _fit(program, data, values, of, wrt, optimizer, epochs, batch_size, shuffle,
                    seed, val, val_data, early_stop, lr_schedule, step_size, gamma, lr_min,
                    clip_norm, init, save, resume, log, on_step, on_epoch, stop, hyper)
    except DataFileError as exc:
        raise CgraphError(exc.message, kind="value", hint=exc.hint) from None
    except ValueError as exc:  # a wrong setting of the optimiser or the schedule
        raise CgraphError(str(exc), kind="usage") from None


def _fit(program, data, values, of, wrt, optimizer, epochs, batch_size, shuffle, seed, val,
         val_data, early_stop, lr_schedule, step_size, gamma, lr_min, clip_norm, init, save,
         resume, log, on_step, on_epoch, stop, hyper) -> FitResult:
    _check_settings(epochs, batch_size, val, val_data, early_stop, clip_norm)
    train = as_dataset(data)
    valid = as_dataset(val_data) if val_data is not None else None
    if val:
        train, valid = train.split(val)
    obj = Objective(program, train, values, of, wrt)
    vobj = obj.with_data(valid) if valid is not None else None
    params = {k: v.copy() for k, v in obj.initial.items()}
    if init is not None:
        _load_params(params, init, program)
    opt = make_optimizer(optimizer, **hyper)
    base_lr = opt.lr
    lr_at(lr_schedule, base_lr, 0, epochs, step_size, gamma, lr_min)  # a wrong name fails now
    n = train.rows
    size = min(int(batch_size or n), n)
    batches = -(-n // size)
    settings = {"optimizer": opt.name, "batch_size": size, "seed": int(seed),
                "shuffle": bool(shuffle), "output": obj.output, "trained": obj.trained}
    history: list = []
    steps = 0
    if resume is True and not save:
        raise CgraphError("resume=True continues from the save file: give save= too",
                          kind="usage", hint="or resume='path/to/saved.npz'")
    resume_path = save if resume is True else (resume or None)
    if resume_path and os.path.exists(resume_path):
        steps, history = _resume(resume_path, params, opt, settings)
    done = len(history)
    best, wait = math.inf, 0
    for ep in history:  # the early-stopping state, as the interrupted run had it
        best, wait = _monitor(ep, best, wait)
    logf = open(log, "a", encoding="utf-8") if log else None
    stopped = None
    try:
        for epoch in range(done, epochs):
            opt.lr = lr_at(lr_schedule, base_lr, epoch, epochs, step_size, gamma, lr_min)
            order = (np.random.default_rng([int(seed), epoch]).permutation(n) if shuffle
                     else np.arange(n))
            total = 0.0
            for b, start in enumerate(range(0, n, size)):
                idx = order[start:start + size]
                loss, grads = obj.loss_and_grads(params, idx)
                if not math.isfinite(loss) or not all(np.isfinite(g).all() for g in grads.values()):
                    raise _nonfinite(obj, params, idx, epoch, b, steps, loss)
                norm = _clip(grads, clip_norm) if clip_norm else None
                opt.step(params, grads)
                steps += 1
                total += loss * len(idx)
                record = {"epoch": epoch + 1, "batch": b + 1, "batches": batches, "step": steps,
                          "loss": loss, "lr": opt.lr, **({"grad_norm": norm} if norm is not None else {})}
                if logf:
                    logf.write(json.dumps(record) + "\n")
                    logf.flush()
                if on_step:
                    on_step(record)
                if stop is not None and stop():
                    stopped = "stopped"
                    break
            if stopped:
                break
            ep = {"epoch": epoch + 1, "loss": total / n, "lr": opt.lr}
            if vobj is not None:
                ep["val_loss"] = vobj.loss(params)
            history.append(ep)
            if save:
                save_checkpoint(save, params, opt, {**settings, "epochs_done": epoch + 1,
                                                    "steps": steps, "history": history})
            if on_epoch:
                on_epoch(ep)
            best, wait = _monitor(ep, best, wait)
            if early_stop and wait >= early_stop:
                stopped = "early_stop"
                break
    finally:
        if logf:
            logf.close()
    return FitResult(history, params, steps, obj.output, stopped, obj.unused, done)


def _check_settings(epochs, batch_size, val, val_data, early_stop, clip_norm) -> None:
    def bad(message, hint=None):
        raise CgraphError(message, kind="usage", hint=hint)

    if not isinstance(epochs, int) or epochs < 1:
        bad(f"epochs must be a whole number ≥ 1, not {epochs!r}")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        bad(f"batch_size must be a whole number ≥ 1, not {batch_size!r}")
    if val is not None and not (isinstance(val, (int, float)) and 0 < val < 1):
        bad(f"val must be a fraction between 0 and 1, not {val!r}")
    if val and val_data is not None:
        bad("give val (a fraction of the rows) or val_data (other rows), not both")
    if early_stop is not None and (not isinstance(early_stop, int) or early_stop < 1):
        bad(f"early_stop must be a whole number of epochs ≥ 1, not {early_stop!r}")
    if clip_norm is not None and not (math.isfinite(clip_norm) and clip_norm > 0):
        bad(f"clip_norm must be a number > 0, not {clip_norm!r}")


def _monitor(ep: dict, best: float, wait: int) -> tuple[float, int]:
    """Early stopping watches the validation loss, else the training loss; a change
    within rounding (1e-12 relative: the same loss summed in another order) is no
    improvement."""
    value = ep.get("val_loss", ep["loss"])
    if best == math.inf or value < best - 1e-12 * abs(best):
        return value, 0
    return best, wait + 1


def _clip(grads: dict, max_norm: float) -> float:
    """torch.nn.utils.clip_grad_norm_: scale every gradient by max_norm / (‖g‖ + 1e-6)
    when that is below 1. Returns ‖g‖ before clipping."""
    total = math.sqrt(sum(float(np.sum(np.square(g))) for g in grads.values()))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for k in grads:
            grads[k] = grads[k] * coef
    return total


def _load_params(params: dict, init, program) -> None:
    """Start values from an .npz of named arrays (a save file or any other) or a dict."""
    given = load(init)[0] if isinstance(init, (str, os.PathLike)) else dict(init)
    where = os.fspath(init) if isinstance(init, (str, os.PathLike)) else "init"
    for name, v in given.items():
        if name not in params:
            raise CgraphError(f"{where} has '{name}', which is not a trained param "
                              f"({', '.join(params)})", kind="name")
        v = np.asarray(v, params[name].dtype)
        if v.shape != params[name].shape:
            raise CgraphError(f"{where}: '{name}' has shape {list(v.shape)}, the param "
                              f"{list(params[name].shape)}", kind="shape")
        params[name] = v.copy()


def _resume(path, params, opt, settings) -> tuple[int, list]:
    saved, state, meta = load(path)
    if not meta:
        raise CgraphError(f"{path} holds no training state to resume from (no fit:meta)",
                          kind="value", hint="use --init FILE to start from its params")
    for key in RESUME_KEYS:
        if meta.get(key) != settings[key]:
            raise CgraphError(f"cannot resume from {path}: it was trained with {key} "
                              f"{meta.get(key)!r}, this run has {settings[key]!r}", kind="usage",
                              hint="resume with the same settings, or start afresh without "
                                   "--resume")
    _load_params(params, saved, None)
    try:
        opt.load_state_arrays(state, params)
    except ValueError as exc:
        raise CgraphError(f"cannot resume from {path}: {exc}", kind="value") from None
    return int(meta["steps"]), list(meta["history"])


def _nonfinite(obj, params, idx, epoch, b, steps, loss) -> NonFiniteLoss:
    what = "loss" if not math.isfinite(loss) else "gradient"
    msg = (f"the {what} is {'nan' if math.isnan(loss) or what == 'gradient' else loss} at epoch "
           f"{epoch + 1}, batch {b + 1} (step {steps + 1}); training stopped before that step")
    hint = "the last save (if any) is the last good epoch; try a smaller learning rate or " \
           "--clip-norm"
    found = obj.first_nonfinite(params, idx)
    errors = [Diagnostic("value", msg, None, hint)]
    if found is not None:
        errors.append(found.replace(message=f"the first non-finite value: {found.message}"))
    return NonFiniteLoss(errors)
