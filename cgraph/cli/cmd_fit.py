"""`cgraph fit`: train a program's params on rows of data (a CLI plug-in).

    cgraph fit examples/linear_regression.cg --data examples/data/line.csv --epochs 50
    cgraph fit model.cg --data rows.npz --optimizer sgd --lr 0.1 --momentum 0.9 --json
    cgraph fit mlp.cg --data train.npz --val 0.1 --save params.npz --plot loss.svg

On a terminal a progress bar shows each epoch's batches and running loss on
stderr; every epoch then prints one line on stdout (the only output when
piped), and the trained params print at the end. `--json` prints one
document instead. Ctrl-C or SIGTERM stops after the current step: the
`--save` file keeps the last completed epoch (exit 130 / 143), and `--resume`
continues from it. The library side is `cgraph.train`.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager

from .spec import (DTYPE, JSON, MAX_ITERATIONS, MAX_MEMORY, MODE, PRECISION, QUIET, SOURCE,
                   VALUES, Param, command)

FIT = "Training"
OPT = "Optimiser"
OUT = "Output"

PARAMS = (
    Param("data", ("--data",), str, required=True, metavar="FILE", panel=FIT,
          help="the rows to train on: .csv (a header naming the inputs; x[0], x[1], … for a "
               "vector), .npz (one array per input, rows first) or .parquet"),
    Param("of", ("--of",), str, metavar="NAME", panel=FIT,
          help="the output to minimise (default: the program's first output)"),
    Param("wrt", ("--wrt",), str, metavar="A,B", panel=FIT,
          help="train these params only (default: every param the output depends on)"),
    Param("epochs", ("--epochs",), int, 10, metavar="N", min=1, panel=FIT,
          help="passes over the training rows"),
    Param("batch_size", ("--batch-size",), int, None, metavar="B", min=1, panel=FIT,
          help="rows per optimiser step (default: all of them)"),
    Param("seed", ("--seed",), int, 0, metavar="S", panel=FIT,
          help="seed of the shuffle (and of randn/rand calls without their own seed)"),
    Param("no_shuffle", ("--no-shuffle",), bool, False, panel=FIT,
          help="visit the rows in file order every epoch"),
    Param("val", ("--val",), float, None, metavar="FRACTION", panel=FIT,
          help="keep the last FRACTION of the rows (0 < FRACTION < 1) for a validation loss"),
    Param("val_data", ("--val-data",), str, None, metavar="FILE", panel=FIT,
          help="validation rows from another file (same columns)"),
    Param("early_stop", ("--early-stop",), int, None, metavar="PATIENCE", min=1, panel=FIT,
          help="stop when the validation loss (else the training loss) has not improved for "
               "PATIENCE epochs"),
    Param("init", ("--init",), str, None, metavar="FILE", panel=FIT,
          help="start the params from the arrays of an .npz file (e.g. a --save file)"),
    Param("save", ("--save",), str, None, metavar="FILE", panel=FIT,
          help="write the params and optimiser state to an .npz file after every epoch "
               "(atomically)"),
    Param("resume", ("--resume",), bool, False, panel=FIT,
          help="continue from the --save file (params, optimiser state, epochs done) if it "
               "exists"),
    Param("optimizer", ("--optimizer",), ("sgd", "adam", "adamw", "rmsprop"), "adam", panel=OPT,
          help="the update rule, as torch.optim defines it"),
    Param("lr", ("--lr",), float, None, metavar="RATE", min=0, panel=OPT,
          help="learning rate (default as PyTorch: 1e-3; rmsprop 1e-2)"),
    Param("momentum", ("--momentum",), float, None, metavar="M", min=0, panel=OPT,
          help="sgd, rmsprop: momentum (default 0)"),
    Param("dampening", ("--dampening",), float, None, metavar="D", min=0, panel=OPT,
          help="sgd: dampening of the momentum (default 0)"),
    Param("nesterov", ("--nesterov",), bool, False, panel=OPT, help="sgd: Nesterov momentum"),
    Param("weight_decay", ("--weight-decay",), float, None, metavar="L", min=0, panel=OPT,
          help="L2 penalty (adamw: decoupled decay, default 1e-2; others 0)"),
    Param("betas", ("--betas",), str, None, metavar="B1,B2", panel=OPT,
          help="adam, adamw: moment decay rates (default 0.9,0.999)"),
    Param("eps", ("--eps",), float, None, metavar="E", min=0, panel=OPT,
          help="adam, adamw, rmsprop: added to the denominator (default 1e-8)"),
    Param("alpha", ("--alpha",), float, None, metavar="A", min=0, panel=OPT,
          help="rmsprop: decay of the squared-gradient average (default 0.99)"),
    Param("centered", ("--centered",), bool, False, panel=OPT,
          help="rmsprop: divide by the gradient's variance estimate"),
    Param("amsgrad", ("--amsgrad",), bool, False, panel=OPT, help="adam, adamw: AMSGrad"),
    Param("lr_schedule", ("--lr-schedule",), ("constant", "step", "cosine"), "constant",
          panel=OPT, help="per epoch: constant; step (× --gamma every --step-size epochs); "
                          "cosine (down to --lr-min at the last epoch)"),
    Param("step_size", ("--step-size",), int, None, metavar="N", min=1, panel=OPT,
          help="step schedule: epochs between decays (default: a third of --epochs)"),
    Param("gamma", ("--gamma",), float, None, metavar="G", min=0, panel=OPT,
          help="step schedule: the factor of each decay (default 0.1)"),
    Param("lr_min", ("--lr-min",), float, None, metavar="RATE", min=0, panel=OPT,
          help="cosine schedule: the final rate (default 0)"),
    Param("clip_norm", ("--clip-norm",), float, None, metavar="MAX", panel=OPT,
          help="scale the gradients down when their total L2 norm exceeds MAX"),
    Param("log", ("--log",), str, None, metavar="FILE.jsonl", panel=OUT,
          help="append one JSON record per step (epoch, batch, step, loss, lr)"),
    Param("plot", ("--plot",), str, None, metavar="FILE", panel=OUT,
          help="draw the loss curve to a .svg, .png or .pdf file (needs matplotlib)"),
)


@command("fit", SOURCE, VALUES, *PARAMS, MODE, DTYPE, MAX_ITERATIONS, MAX_MEMORY, JSON,
         PRECISION, QUIET,
         help="Train the program's params to minimise its output on rows of data.",
         examples=["cgraph fit examples/linear_regression.cg --data examples/data/line.csv "
                   "--optimizer sgd --lr 0.1 --epochs 30",
                   "cgraph fit examples/mlp_train.cg --data examples/data/blobs.npz --val 0.2 "
                   "--batch-size 32 --epochs 40 --plot loss.svg",
                   "cgraph fit model.cg --data rows.csv --save params.npz --resume --json"])
def fit(o) -> int:
    from .output import Printer
    from .run import UsageError, note
    from .sources import check_output, open_program, split_names

    for out in (o.save, o.plot, o.log):
        check_output(o, out)
    if o.resume and not o.save:
        raise UsageError("--resume continues from the --save file; give --save FILE too")
    if o.val is not None and o.val_data:
        raise UsageError("give --val (a fraction of the rows) or --val-data FILE, not both")
    if o.save and not o.save.lower().endswith(".npz"):
        raise UsageError(f"--save {o.save}: the file name must end in .npz")
    betas = _betas(o.betas)
    if o.plot:
        from ..train.plot import check_plot

        check_plot(o.plot)
    program, values = open_program(o)
    printer = Printer(o)
    quiet = bool(o.quiet)
    hyper = {"lr": o.lr, "momentum": o.momentum, "dampening": o.dampening,
             "weight_decay": o.weight_decay, "betas": betas, "eps": o.eps, "alpha": o.alpha,
             "nesterov": o.nesterov or None, "centered": o.centered or None,
             "amsgrad": o.amsgrad or None}
    _check_hyper(o.optimizer, hyper)
    show = _Progress(printer, o.epochs, quiet)
    with _deferred_signals() as caught:
        try:
            result = _run(program, o, values, split_names(o.wrt), hyper, show, caught)
        finally:
            show.close()
    if result.unused:
        note(f"note: {result.output} does not depend on {', '.join(result.unused)}: not trained",
             quiet=quiet)
    if o.plot and result.history:
        from ..train.plot import plot_history

        plot_history(result.history, o.plot, title=f"{program.file}: {result.output}")
        note(f"wrote {o.plot}", quiet=quiet)
    if printer.json:
        doc = result.json()
        doc["params"] = {k: printer.entry(v) for k, v in result.params.items()}
        printer.document(doc)
    else:
        _print_params(printer, result)
    if result.stopped == "early_stop":
        note(f"note: stopped early after epoch {result.history[-1]['epoch']}: no improvement for "
             f"{o.early_stop} epochs", quiet=quiet)
    if caught:
        from .run import interrupted, Terminated

        where = f"; {o.save} holds epoch {len(result.history)}" if o.save and result.history else ""
        note(f"note: stopped after step {result.steps}{where}", quiet=False)
        return interrupted(Terminated() if caught[0] == "TERM" else KeyboardInterrupt())
    return 0


def _run(program, o, values, wrt, hyper, show, caught):
    from ..train import fit as train

    return train(program, o.data, values=values, of=o.of, wrt=wrt, optimizer=o.optimizer,
                 epochs=o.epochs or 10, batch_size=o.batch_size, shuffle=not o.no_shuffle,
                 seed=o.seed or 0, val=o.val, val_data=o.val_data, early_stop=o.early_stop,
                 lr_schedule=o.lr_schedule or "constant", step_size=o.step_size, gamma=o.gamma,
                 lr_min=o.lr_min, clip_norm=o.clip_norm, init=o.init, save=o.save,
                 resume=bool(o.resume), log=o.log, on_step=show.step, on_epoch=show.epoch,
                 stop=lambda: bool(caught), **hyper)


def _betas(text):
    from .run import UsageError

    if text is None:
        return None
    try:
        b = tuple(float(t) for t in text.split(","))
    except ValueError:
        b = ()
    if len(b) != 2:
        raise UsageError(f"--betas {text}: give two numbers, B1,B2", "e.g. --betas 0.9,0.999")
    return b


def _check_hyper(name, hyper) -> None:
    """A setting the chosen optimiser does not have is a usage error, not ignored."""
    from ..train import OPTIMIZERS
    from .run import UsageError

    own = OPTIMIZERS[name].defaults
    for k, v in hyper.items():
        if v is not None and k not in own:
            flag = "--" + k.replace("_", "-")
            users = [n for n, cls in OPTIMIZERS.items() if k in cls.defaults]
            raise UsageError(f"{flag} is not a setting of {name}",
                             f"{flag} is for {', '.join(users)}")


def _print_params(printer, result) -> None:
    rows = [(k, printer.shape(v), printer.show(v)) for k, v in result.params.items()]
    printer.table(["param", "shape", "value"], rows,
                  title=f"trained params ({result.steps} steps)")


@contextmanager
def _deferred_signals():
    """Ctrl-C and SIGTERM set a flag the loop reads after each step (a second one
    stops at once). Yields the list that receives "INT" or "TERM"."""
    import signal
    import threading

    caught: list = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum, frame):
        if caught:  # the second signal: stop now
            from .run import Terminated

            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        caught.append("TERM" if signum == signal.SIGTERM else "INT")

    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in old:
        signal.signal(s, handler)
    try:
        yield caught
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class _Progress:
    """A Rich progress bar per epoch on a terminal (stderr); one line per epoch on stdout."""

    def __init__(self, printer, epochs: int, quiet: bool):
        self.printer, self.epochs, self.quiet = printer, epochs, quiet
        self.bar = self.task = None
        self.total = self.rows = 0
        self.live = not quiet and sys.stderr.isatty()

    def step(self, record: dict) -> None:
        if not self.live:
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(TextColumn("epoch {task.fields[epoch]}/" + str(self.epochs)),
                                BarColumn(), MofNCompleteColumn(),
                                TextColumn("loss {task.fields[loss]}"),
                                console=Console(stderr=True), transient=True)
            self.bar.start()
        if self.task is None or record["batch"] == 1:
            if self.task is not None:
                self.bar.remove_task(self.task)
            self.task = self.bar.add_task("", total=record["batches"], epoch=record["epoch"],
                                          loss="")
            self.total = self.rows = 0
        self.total += record["loss"]
        self.rows += 1
        self.bar.update(self.task, advance=1, loss=self._num(self.total / self.rows))

    def epoch(self, ep: dict) -> None:
        if self.quiet or self.printer.json:
            return
        parts = [f"epoch {ep['epoch']:>{len(str(self.epochs))}}/{self.epochs}",
                 f"loss {self._num(ep['loss'])}"]
        if "val_loss" in ep:
            parts.append(f"val_loss {self._num(ep['val_loss'])}")
        parts.append(f"lr {self._num(ep['lr'])}")
        text = "  ".join(parts)
        if self.bar is not None and sys.stdout.isatty():  # above the bar, on the same screen
            self.bar.console.print(text, highlight=False, markup=False, soft_wrap=True)
        else:
            print(text, flush=True)  # piped: each epoch's line as soon as it is done

    def _num(self, x) -> str:
        from .output import fmt_number

        return fmt_number(x, self.printer.digits)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
