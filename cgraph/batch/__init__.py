"""Scripted batch runs: one program over the rows of a table, and many programs.

One program, many rows (`cgraph eval|grad PROGRAM --inputs rows.csv`):

    from cgraph.batch import read_table, run_rows, write_results
    table = read_table("rows.csv")                  # Table: columns, values, first_row
    result = run_rows(program, table, shared={"W": W}, grad=True)
    write_results(result, "results.csv")           # or .jsonl, .npz (atomically)

Many programs (`cgraph batch FILE... | -`): `run_programs(tasks, values,
jobs=, timeout=)` runs each `Task` isolated and returns one result dict per
program, in order.

The modules, by job:

- `table`: `Table` (the columns of a CSV file), `read_table`, `BatchResult`;
- `vectorize`: the graph transformation that turns a one-row graph into a
  batched one (every row-dependent node gets a leading row axis, like `jax.vmap`);
- `rows`: `run_rows`, which builds the one-row graph through the pipeline,
  vectorises it, and runs it in chunks of rows (row by row in eager mode);
- `writers`: CSV, JSONL and NPZ output (atomic), JSON documents and tables;
- `stream`: `stream_rows`, a CSV file read, run and written a chunk of rows at a
  time (`--chunk-rows N`), shared gradients summed over the chunks;
- `programs`: `Task` and `run_one`, one program of a `cgraph batch` run;
- `pool`: `run_programs`, in this process or in worker processes with a timeout.
"""
from .table import BatchResult, Table
from .readers import ROW_SUFFIXES, read_table
from .rows import run_rows
from .writers import SUFFIXES, result_json, table_rows, write_csv, write_results
from .programs import Task, error_entry, run_one
from .pool import run_programs

__all__ = ["BatchResult", "ROW_SUFFIXES", "SUFFIXES", "Table", "Task", "error_entry", "read_table", "result_json",
           "run_one", "run_programs", "run_rows", "table_rows", "write_csv", "write_results"]
