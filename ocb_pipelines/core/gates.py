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
MIN_CHUNK_ROWS = 100_000  # below this Pandera's fixed cost per chunk (holding the GIL) starts to show
GATE_ROWS_IN_FLIGHT = 1_000_000  # with many workers, chunks shrink to keep about this many rows in memory


def gate_workers(con: duckdb.DuckDBPyConnection) -> int:
    """One worker per DuckDB thread (`database.threads`, by default every core)."""
    return max(1, int(con.execute("SELECT current_setting('threads')").fetchall()[0][0]))


def chunk_rows_for(workers: int) -> int:
    """Rows per chunk: 250,000 up to two workers; smaller with more, so about GATE_ROWS_IN_FLIGHT rows (never
    fewer than MIN_CHUNK_ROWS per chunk) are in memory at once, whatever the machine."""
    return max(MIN_CHUNK_ROWS, min(GATE_CHUNK_ROWS, GATE_ROWS_IN_FLIGHT // (workers + 1)))


def validate_in_chunks(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    schema: pa.DataFrameSchema,
    describe: Callable[[pa.errors.SchemaErrors, pd.DataFrame, int], list[Problem]],
    *,
    limit: int = 20,
    chunk_rows: int | None = None,
    index: str | None = None,
    workers: int | None = None,
    stop_at_limit: bool = True,
) -> list[Problem]:
    """Validate every row `sql` returns; the first `limit` problems (in row order), described by `describe`.

    Chunks are validated on `workers` threads, by default one per DuckDB thread: Pandera's string checks run in
    pyarrow compute and numpy, which release the GIL, so each core takes a chunk (no Python loop per row). At
    most `workers + 1` chunks are in memory (`chunk_rows_for`). When `sql` does not return rows in order,
    `stop_at_limit=False` checks every chunk and returns up to `limit` problems of each, for the caller to sort
    and cut."""
    workers = workers or gate_workers(con)
    chunk_rows = chunk_rows or chunk_rows_for(workers)

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


def describe_schema_failures(error: pa.errors.SchemaErrors, frame: pd.DataFrame, limit: int = 20, *,
                             row_word: str = "row") -> list[str]:
    """Pandera's failure cases as `<file> <row_word> <n>: column C, value V: failed CHECK` (the frame has
    file_name and file_row_number), the first `limit` of them."""
    out: list[str] = []
    for case in error.failure_cases.head(limit).itertuples(index=False):
        idx = getattr(case, "index", None)
        where = ""
        if idx is not None and not pd.isna(idx) and idx in frame.index:
            where = f"{frame.at[idx, 'file_name']} {row_word} {frame.at[idx, 'file_row_number']}: "
        out.append(f"{where}column {case.column}, value {case.failure_case!r}: failed {case.check}")
    return out


def describe_keyed_failures(error: pa.errors.SchemaErrors, frame: pd.DataFrame, limit: int,
                            where: Callable[[pd.Series], str]) -> list[str]:
    """Pandera's failure cases as `<where(row)>: column C, value V: failed CHECK` for frames keyed by other than a
    file's rows (statements, a PI's history): a frame-wide check, which fails once per column, reported once; a
    rule over the whole row as `failed: CHECK`. The first `limit` of them."""
    out: list[str] = []
    seen: set[tuple[str, str]] = set()
    for case in error.failure_cases.itertuples(index=False):
        idx = getattr(case, "index", None)
        if (str(idx), str(case.check)) in seen:
            continue
        seen.add((str(idx), str(case.check)))
        if len(out) >= limit:
            break
        place = f"{where(frame.loc[idx])}: " if idx is not None and not pd.isna(idx) and idx in frame.index else ""
        if getattr(case, "schema_context", "") == "DataFrameSchema":
            out.append(f"{place}failed: {case.check}")
            continue
        column = "" if case.column in (None, "") or pd.isna(case.column) else f"column {case.column}, "
        out.append(f"{place}{column}value {case.failure_case!r}: failed {case.check}")
    return out
