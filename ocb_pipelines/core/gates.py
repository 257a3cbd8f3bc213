"""Pandera gates over a DuckDB query, chunk by chunk (Arrow-backed: money stays decimal, memory stays flat)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import duckdb
import pandas as pd
import pandera.pandas as pa

Problem = TypeVar("Problem")
GATE_CHUNK_ROWS = 250_000  # workers + 1 chunks in memory: 1M-row chunks held 0.7 GB more at ten million rows
GATE_WORKERS = 2


def validate_in_chunks(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    schema: pa.DataFrameSchema,
    describe: Callable[[pa.errors.SchemaErrors, pd.DataFrame, int], list[Problem]],
    *,
    limit: int = 20,
    chunk_rows: int = GATE_CHUNK_ROWS,
    index: str | None = None,
    workers: int = GATE_WORKERS,
    stop_at_limit: bool = True,
) -> list[Problem]:
    """Validate every row `sql` returns; the first `limit` problems (in row order), described by `describe`.

    Chunks are validated on `workers` threads: Pandera's string checks run in pyarrow compute, which releases
    the GIL, so a second core halves the gate's wall time. At most `workers + 1` chunks are in memory.
    When `sql` does not return rows in order, `stop_at_limit=False` checks every chunk and returns up to
    `limit` problems of each, for the caller to sort and cut."""

    def check(batch) -> list[Problem]:
        frame = batch.to_pandas(types_mapper=pd.ArrowDtype)
        if index:
            frame.index = pd.Index(frame.pop(index).astype("int64").to_numpy(), name=index)
        try:
            schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            return describe(exc, frame, limit)
        return []

    problems: list[Problem] = []
    pending: deque[Future] = deque()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for batch in con.sql(sql).to_arrow_reader(chunk_rows):
            pending.append(pool.submit(check, batch))
            while len(pending) > workers or (pending and pending[0].done()):
                problems.extend(pending.popleft().result())
            if stop_at_limit and len(problems) >= limit:
                break
        for future in pending:
            problems.extend(future.result())
    return problems[:limit] if stop_at_limit else problems


def repeated_keys(con: duckdb.DuckDBPyConnection, table: str, key: str, month: str, limit: int = 3) -> list[str]:
    """Keys that occur more than once in a month's slice (uniqueness across chunks, checked in SQL)."""
    rows = con.execute(
        f"SELECT {key} FROM {table} WHERE billing_month = ? GROUP BY {key} HAVING count(*) > 1 "
        f"ORDER BY {key} LIMIT {int(limit)}",
        [month],
    ).fetchall()
    return [r[0] for r in rows]
