"""Saved training state: one `.npz` file, written atomically, never pickled.

Keys: each trained param under its own name; the optimiser's state under
`opt:BUFFER/PARAM` (`opt:steps` the step count); `fit:meta` the settings and
history as UTF-8 JSON bytes (a uint8 array). A param's name is an identifier,
so it never collides with the `opt:` and `fit:` keys. `--init FILE` reads the
params of such a file (or of any .npz of named arrays) and ignores the rest.
"""
from __future__ import annotations

import json
import os

import numpy as np

from ..datafiles import DataFileError

FORMAT = 1


def save(path: str, params: dict, optimizer, meta: dict) -> None:
    from ..atomic import atomic_open

    arrays = {name: np.asarray(v) for name, v in params.items()}
    arrays.update({f"opt:{k}": v for k, v in optimizer.state_arrays().items()})
    doc = json.dumps({"format": FORMAT, **meta}).encode()
    arrays["fit:meta"] = np.frombuffer(doc, np.uint8)
    with atomic_open(os.fspath(path), "wb") as fp:
        np.savez(fp, **arrays)


def load(path: str) -> tuple[dict, dict, dict]:
    """(params, optimiser state arrays, meta) of a saved file; meta is {} for a
    plain .npz of params."""
    from ..datafiles import read_npz_values

    arrays = read_npz_values(path)
    params = {k: v for k, v in arrays.items() if ":" not in k}
    state = {k[4:]: v for k, v in arrays.items() if k.startswith("opt:")}
    meta = {}
    if "fit:meta" in arrays:
        try:
            meta = json.loads(arrays["fit:meta"].astype(np.uint8).tobytes().decode())
        except (ValueError, UnicodeDecodeError):
            raise DataFileError(f"{path}: its fit:meta record is damaged") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise DataFileError(f"{path} was saved by another version of cgraph fit")
    return params, state, meta
