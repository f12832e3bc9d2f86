"""`--engine dask`: a batch run over the rows of a table, or many programs, as Dask
tasks (dask.distributed; an optional extra: pip install 'cgraph[dask]').

One program over rows (`run_dask`): the client cuts the input into the very chunks
a local streamed run reads (`readers.row_spans`: N lines of the CSV, or N rows of
the Parquet file), and each chunk is one task: a worker reads its span of the file
(the input must be at the same path on every worker, as for dask.dataframe's
readers), runs it through the vectorised plan and encodes its rows for the output
(`stream.run_chunk`, `stream.encode_chunk`: the same functions the local engine
calls). The client writes the results in chunk order to a temporary file beside
`--out` and renames it when every chunk is in, and sums the shared gradients in
chunk order: the output equals the local streamed run's byte for byte.

Tasks are pure (a chunk's result depends on its span only), so when a worker dies
mid-run the scheduler runs its tasks again elsewhere (dask.distributed's retry).
At most a few tasks per worker are in flight, so the client's memory stays a few
chunks'. A bad row is named with its row number in the file; with `skip_bad` it is
left out and listed.

Many programs (`run_programs_dask`): each program of `cgraph batch` is one task.
"""
from __future__ import annotations

import os
from collections import deque
from typing import Callable, Mapping, Optional, Sequence

from ..errors import CgraphError

INSTALL = "pip install 'cgraph[dask]'"
#: tasks in flight per worker
IN_FLIGHT = 3


def _distributed():
    try:
        import distributed
    except ImportError:
        raise CgraphError("--engine dask needs Dask, which is not installed", kind="usage",
                          hint=f"install the extra: {INSTALL}") from None
    return distributed


def client_for(scheduler: Optional[str] = None, workers: Optional[int] = None):
    """(client, cluster or None): a client of the scheduler at `scheduler`, or of a
    new local cluster of worker processes (one thread each)."""
    import logging

    distributed = _distributed()
    if scheduler:
        try:
            return distributed.Client(scheduler, timeout="10s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise CgraphError(f"--scheduler {scheduler}: cannot connect ({exc})", kind="usage",
                              hint="give the address a running Dask scheduler prints, "
                                   "e.g. tcp://10.0.0.5:8786") from None
    cluster = distributed.LocalCluster(n_workers=workers or max(1, os.cpu_count() or 1),
                                       threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    return distributed.Client(cluster), cluster


# ===================================================================== one program
_PROGRAMS: dict = {}


def _program(text: str, file: str, settings: tuple):
    """The worker's compiled program (kept: the next chunk reuses its plans)."""
    from ..program import Program

    key = (text, file, settings)
    prog = _PROGRAMS.get(key)
    if prog is None:
        _PROGRAMS.clear()
        prog = _PROGRAMS[key] = Program(text, file, **dict(settings))
    return prog


def chunk_task(job: dict, span) -> tuple:
    """One chunk, in a worker: ("ok", rows, names, data, head, shared gradients,
    summary, bad rows) or ("error", kind, message, hint)."""
    from ..datafiles import DataFileError
    from .readers import read_span
    from .stream import encode_chunk, run_chunk

    try:
        program = _program(job["text"], job["file"], job["settings"])
        table = read_span(job["path"], job["header"], span, job["skip_bad"], shown=job["shown"])
        part, bad = run_chunk(program, table, job["shared"], job["grad"], job["of"], job["wrt"],
                              job["all_names"], job["skip_bad"])
        if part is None:
            return ("ok", 0, None, None, None, {}, None, bad)
        names, data, head = encode_chunk(part, job["ext"])
        summary = (part.columns, part.output, dict(part.connected), list(part.looped))
        return ("ok", part.rows, names, data, head, dict(part.shared_gradients), summary, bad)
    except DataFileError as exc:
        return ("error", "value", exc.message, exc.hint)
    except CgraphError as exc:
        d = exc.errors[0]
        return ("error", d.kind, d.message, d.hint)


def run_dask(text: str, file: str, settings: Mapping, path: str, out_path: str,
             shared: Optional[Mapping] = None, grad: bool = False, of: Optional[str] = None,
             wrt: Optional[Sequence[str]] = None, all_names: bool = False,
             chunk_rows: int = 100_000, skip_bad: bool = False,
             scheduler: Optional[str] = None, client=None,
             on_chunk: Optional[Callable] = None):
    """The streamed run of `stream.stream_rows`, its chunks as Dask tasks (see the
    module docstring). `client`: an existing distributed.Client (else one is made,
    from `scheduler` or a local cluster, and closed at the end); `on_chunk(k)` is
    called as chunk k's result is written. Returns the summary BatchResult (with
    `.tasks`, the number of chunks)."""
    from ..datafiles import DataFileError
    from .readers import Span, row_spans
    from .stream import ChunkSink, add_chunk, check_stream_out
    from .table import BatchResult

    ext = check_stream_out(out_path)
    _distributed()
    try:
        header, spans = row_spans(path, int(chunk_rows))
    except DataFileError as exc:
        raise CgraphError(exc.message, kind="value", hint=exc.hint) from None
    own = client is None
    cluster = None
    if own:
        client, cluster = client_for(scheduler)
    job = {"text": text, "file": file, "settings": tuple(sorted(dict(settings).items())),
           "path": os.path.abspath(path), "shown": os.fspath(path), "header": header, "skip_bad": skip_bad,
           "shared": dict(shared or {}), "grad": grad, "of": of,
           "wrt": list(wrt) if wrt is not None else None, "all_names": all_names, "ext": ext}
    total, count = None, 0
    try:
        limit = IN_FLIGHT * max(1, len(client.scheduler_info().get("workers", {})) or 1)
        pending: deque = deque()
        with ChunkSink(out_path, ext) as sink:
            def take():
                nonlocal total
                k, fut = pending.popleft()
                res = fut.result()
                fut.release()
                if res[0] == "error":
                    raise CgraphError(res[2], kind=res[1], hint=res[3])
                _, rows, names, data, head, grads, summary, bad = res
                part = None
                if rows:
                    columns, output, connected, looped = summary
                    part = BatchResult(rows=rows, columns=columns, inputs={}, outputs={},
                                       output=output, shared_gradients=grads,
                                       connected=connected, looped=looped)
                    sink.add(names, data, head)
                total = add_chunk(total, part, bad)
                if on_chunk is not None:
                    on_chunk(k)

            try:
                for span in spans:
                    bare = Span(span.first_row, span.offset, span.length, span.stop)
                    pending.append((count, client.submit(chunk_task, job, bare,
                                                         key=f"cgraph-chunk-{count}-{id(job)}")))
                    count += 1
                    while len(pending) >= limit:
                        take()
            except DataFileError as exc:
                raise CgraphError(exc.message, kind="value", hint=exc.hint) from None
            while pending:
                take()
            if total is None or total.rows == 0 and not total.skipped:
                raise CgraphError(f"{path} has no rows under its header", kind="value")
            if total.rows == 0:
                raise CgraphError(f"every row of {path} is bad ({len(total.skipped)} left "
                                  "out)", kind="value", hint=total.skipped[0][1])
            total.written = sink.names
    finally:
        close = getattr(spans, "close", None)
        if close is not None:
            close()
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
    total.tasks = count
    return total


# =================================================================== many programs
def run_programs_dask(tasks: list, values: Optional[dict], config: Optional[dict],
                      scheduler: Optional[str] = None, on_done: Optional[Callable] = None,
                      client=None) -> list:
    """`cgraph batch --engine dask`: each program one task; results in the order given."""
    from .programs import run_one

    own = client is None
    cluster = None
    if own:
        client, cluster = client_for(scheduler)
    try:
        futures = [client.submit(run_one, t, values, config, key=f"cgraph-program-{k}-{id(tasks)}")
                   for k, t in enumerate(tasks)]
        results = []
        for k, fut in enumerate(futures):
            r = fut.result()
            results.append(r)
            if on_done is not None:
                on_done(k, r)
        return results
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
