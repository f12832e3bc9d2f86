"""`run_programs`: every program of a `cgraph batch` run, in this process or
in worker processes (`jobs > 1`, or a `timeout`: a worker that runs past the
timeout is killed and replaced). Results come back in the order given."""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional, Sequence

from .programs import Task, run_one


def run_programs(tasks: Sequence[Task], values: Optional[dict] = None, config: Optional[dict] = None,
                 jobs: int = 1, timeout: Optional[float] = None,
                 on_done: Optional[Callable[[int, dict], None]] = None) -> list:
    """Run every task; one result dict each (see `run_one`), in the order given.

    jobs > 1 runs them in that many worker processes; a timeout (seconds, per
    program) also runs them in workers, and a worker whose program runs past
    it is killed (the program's result is a runtime error) and replaced."""
    tasks = list(tasks)
    if (jobs or 1) <= 1 and timeout is None:
        results = []
        for k, t in enumerate(tasks):
            results.append(run_one(t, values, config))
            if on_done:
                on_done(k, results[-1])
        return results
    return Pool(values, config, max(1, int(jobs or 1)), timeout).run(tasks, on_done)


def _worker_main(conn, values, config) -> None:
    """A worker process: run the tasks it is sent until it is sent None."""
    if config and config.get("print_to_stderr"):
        from ..ops.internal import PRINT

        PRINT["stream"] = sys.stderr
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if msg is None:
            return
        k, task = msg
        try:
            result = run_one(task, values, config)
        except KeyboardInterrupt:
            return
        try:
            conn.send((k, result))
        except Exception as exc:  # e.g. a value that cannot be pickled
            conn.send((k, {"source": task.source,
                           "error": {"kind": "internal", "message": f"cannot return the result: {exc}",
                                     "line": None, "column": None}}))


def _mp_context():
    import multiprocessing as mp

    try:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["cgraph.batch.programs", "cgraph.program", "cgraph.build",
                                    "cgraph.parse", "cgraph.ops"])
        return ctx
    except ValueError:  # pragma: no cover - no forkserver on this platform
        return mp.get_context("spawn")


class Worker:
    def __init__(self, ctx, values, config):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, values, config), daemon=True)
        self.proc.start()
        child.close()
        self.task: Optional[int] = None
        self.started = 0.0

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                self.proc.kill()
        self.proc.join(timeout=5)
        if self.proc.is_alive():  # pragma: no cover
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class Pool:
    def __init__(self, values, config, jobs, timeout):
        self.values, self.config, self.jobs, self.timeout = values, config, jobs, timeout

    def run(self, tasks, on_done) -> list:
        from collections import deque
        from multiprocessing.connection import wait

        ctx = _mp_context()
        results: list = [None] * len(tasks)
        pending = deque(range(len(tasks)))
        workers = [Worker(ctx, self.values, self.config)
                   for _ in range(min(self.jobs, len(tasks)))]

        def finish(w, result):
            k = w.task
            results[k] = result
            w.task = None
            if on_done:
                on_done(k, result)

        try:
            while pending or any(w.task is not None for w in workers):
                for w in workers:
                    if w.task is None and pending:
                        k = pending.popleft()
                        w.task, w.started = k, time.monotonic()
                        w.conn.send((k, tasks[k]))
                busy = [w for w in workers if w.task is not None]
                wait_for = None
                if self.timeout is not None:
                    wait_for = max(0.0, min(w.started for w in busy) + self.timeout - time.monotonic())
                ready = wait([w.conn for w in busy], timeout=wait_for)
                for idx, w in enumerate(workers):
                    if w.task is None or w.conn not in ready:
                        continue
                    try:
                        _, result = w.conn.recv()
                    except (EOFError, OSError):
                        code = w.proc.exitcode
                        result = _failure(tasks[w.task], "the program's process died"
                                          + (f" (exit code {code})" if code is not None else ""))
                        w.stop(kill=True)
                        workers[idx] = Worker(ctx, self.values, self.config)
                        workers[idx].task = w.task
                        w = workers[idx]
                    finish(w, result)
                if self.timeout is not None:
                    now = time.monotonic()
                    for idx, w in enumerate(workers):
                        if w.task is not None and now - w.started >= self.timeout:
                            w.stop(kill=True)
                            fresh = Worker(ctx, self.values, self.config) if pending else None
                            result = _failure(tasks[w.task], f"timed out after {self.timeout:g} s",
                                              hint="raise --timeout, or make the program faster")
                            finish(w, result)
                            if fresh is not None:
                                workers[idx] = fresh
                            else:
                                workers[idx] = Idle()
        finally:
            for w in workers:
                if not isinstance(w, Idle):
                    w.stop(kill=any(r is None for r in results))
        return results


class Idle:
    """The slot of a worker killed at the end of a run (nothing left to give it)."""

    task = None
    conn = None


def _failure(task: Task, message: str, hint: Optional[str] = None) -> dict:
    e = {"kind": "runtime", "message": message, "line": None, "column": None}
    if hint:
        e["hint"] = hint
    return {"source": task.source, "error": e}
