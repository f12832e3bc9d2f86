"""The loss curve of a training run, drawn with matplotlib (imported only here)."""
from __future__ import annotations

import io
import os

from ..errors import CgraphError

FORMATS = (".svg", ".png", ".pdf")


def check_plot(path: str) -> None:
    """Refuse a plot that cannot be drawn before training, not after it."""
    import importlib.util

    if os.path.splitext(path)[1].lower() not in FORMATS:
        raise CgraphError(f"cannot plot to {path}: the name must end in {', '.join(FORMATS)}",
                          kind="usage")
    if importlib.util.find_spec("matplotlib") is None:
        raise CgraphError("--plot needs matplotlib, which is not installed", kind="usage",
                          hint="pip install 'cgraph[plot]' (or pip install matplotlib)")


def plot_history(history: list, path: str, title: str = "") -> None:
    """Training (and validation) loss per epoch, written atomically to .svg/.png/.pdf."""
    check_plot(path)
    ext = os.path.splitext(path)[1].lower()
    import matplotlib

    matplotlib.use("Agg")  # no screen: draw to a file
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    try:
        ax.plot(epochs, [h["loss"] for h in history], marker="o", markersize=3, label="training")
        if any("val_loss" in h for h in history):
            ax.plot(epochs, [h.get("val_loss") for h in history], marker="o", markersize=3,
                    label="validation")
        losses = [h["loss"] for h in history] + [h["val_loss"] for h in history if "val_loss" in h]
        if losses and min(losses) > 0 and max(losses) / min(losses) > 100:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        if title:
            ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        buf = io.BytesIO()
        # a fixed date and no hash salt: the same run draws the same file
        meta = {"Date": None} if ext == ".svg" else {}
        if ext == ".svg":
            matplotlib.rcParams["svg.hashsalt"] = "cgraph"
        fig.savefig(buf, format=ext[1:], metadata=meta)
    finally:
        plt.close(fig)
    from ..atomic import write_atomic

    write_atomic(path, buf.getvalue())
