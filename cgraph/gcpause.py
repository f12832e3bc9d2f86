"""Pausing Python's cyclic garbage collector while a big graph is made.

Parsing and building make hundreds of thousands of small objects and no
cycles; the collector rescanning them made a 100,000-statement script cost
13x a 10,000-statement one instead of 10x. `paused()` turns the collector
off for the duration and back on when the last of the overlapping pauses
(in any thread) ends, and only if it was on when the first began: a caller
that keeps it off keeps it off.
"""
from __future__ import annotations

import _thread  # threading's C core (importing `threading` costs 0.4 ms)
import gc
from contextlib import contextmanager

__all__ = ["paused", "without_gc"]

_lock = _thread.allocate_lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused():
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


def without_gc(method):
    """`method` with the collector paused (a decorator)."""
    import functools

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with paused():
            return method(*args, **kwargs)
    return wrapper
