"""load("path"): arrays from .npy, .npz (with a key), .csv and .json files.

The builder resolves the path relative to the script before the node is
made. The file readers live in `cgraph.datafiles` (the command line uses the
same ones for `NAME=@file` and `--inputs`). The shape rule reads the file's
shape when the graph is built, so shape errors downstream are found before
running; an unreadable file is a (located) value error then. `load` is
foldable: a static build reads the file once and keeps the array as a
constant (a top-level `X = load(...)` is a leaf whose default is that array).
"""
from __future__ import annotations

from .. import datafiles
from .. import shape_math as S
from ..registry import defop


def _load_shape(shapes, path="", key=None):
    try:
        return datafiles.array_shape(path, key)
    except datafiles.DataFileError as exc:
        raise S.ShapeError(exc.message, exc.hint, kind="value") from None
    except OSError as exc:
        raise S.ShapeError(f"cannot read {path}: {exc}", kind="value") from None


def _load(path="", key=None):
    return datafiles.read_array_cached(path, key)


defop("load", sig="path:str, key:str=none", forward=_load, shape=_load_shape, vjp=None,
      doc="an array from a .npy, .npz (with a key), .csv or .json file (pickles refused)",
      deriv="none (data)", family="data", symbol="load")
