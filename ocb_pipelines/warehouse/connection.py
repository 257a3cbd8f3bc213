"""Opening the DuckDB file: the single-writer lock wait, the session settings, the schema on connect.

`connect` is the one way a connection is made: the `Warehouse` resource (warehouse/resource.py) in Dagster
and `AppContext.connection()` for the CLI and the desk both go through it, with the configured memory limit
and threads, so every caller sees the same settings.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from ocb_pipelines.warehouse.schema import ensure_schema

# The same connection config as dagster-duckdb's DuckDBResource: DuckDB refuses a second in-process
# connection to one file with a different config, so the CLI, tests and assets must all match it. The memory
# limit and threads are therefore not part of it: `configure` SETs them on every connection instead.
CONNECTION_CONFIG = {"custom_user_agent": "dagster"}
LOCK_RETRY_SECONDS = 60.0
LOCK_WAIT_ENV = "OCB_LOCK_WAIT_SECONDS"  # how long to wait for another process's write lock (default 60 s)
# This process's own `read_only` look (one query: the billing calendar when definitions load, as the desk does
# before each run it starts) makes DuckDB refuse a read-write connection until it closes; waited for even when
# the lock wait is 0, as it is no other process's lock.
IN_PROCESS_WAIT_SECONDS = 5.0


class WarehouseLockedError(RuntimeError):
    """Another process held the warehouse's write lock for the whole retry window; nothing was done."""


def lock_wait_seconds() -> float:
    """$OCB_LOCK_WAIT_SECONDS, else 60; a value that is not a number is refused with its name."""
    value = os.environ.get(LOCK_WAIT_ENV, "").strip()
    try:
        return max(0.0, float(value)) if value else LOCK_RETRY_SECONDS
    except ValueError:
        raise WarehouseLockedError(f"${LOCK_WAIT_ENV} must be a number of seconds, not {value!r}") from None


def open_connection(path: str | Path, retry_seconds: float | None = None,
                    config: Mapping[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting (with backoff) while another process holds DuckDB's single-writer lock;
    after `retry_seconds` ($OCB_LOCK_WAIT_SECONDS, default 60) a one-line WarehouseLockedError.

    `config` is added to CONNECTION_CONFIG (dagster-duckdb's `connection_config` does the same)."""
    retry_seconds = lock_wait_seconds() if retry_seconds is None else retry_seconds
    options = {**CONNECTION_CONFIG, **(config or {})}
    delay, started = 0.1, time.monotonic()
    while True:
        try:
            return duckdb.connect(str(path), read_only=False, config=dict(options))
        except duckdb.ConnectionException as exc:
            if "different configuration" not in str(exc):
                raise
            waited = time.monotonic() - started
            if waited >= max(retry_seconds, IN_PROCESS_WAIT_SECONDS):
                raise WarehouseLockedError(
                    f"the warehouse {path} is held open read-only by this process; waited {waited:.0f} s. "
                    f"Nothing was changed; try again.") from None
            time.sleep(0.02)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            waited = time.monotonic() - started
            if waited >= retry_seconds:
                held = re.search(r"Conflicting lock is held in (.+?)(?:\. See also|$)", str(exc))
                holder = f" ({held.group(1)})" if held else ""
                raise WarehouseLockedError(
                    f"the warehouse {path} is locked by another process{holder}; waited {waited:.0f} s. "
                    f"Nothing was changed; run the command again when that process has finished "
                    f"(${LOCK_WAIT_ENV} sets how long to wait)."
                ) from None
            time.sleep(min(delay, max(0.0, retry_seconds - waited)) or 0.01)
            delay = min(delay * 2, 5.0)


def configure(con: duckdb.DuckDBPyConnection, memory_limit: str = "", threads: int | None = None) -> None:
    """Session settings every connection needs: UTC time, optional memory and thread limits."""
    con.execute("SET TimeZone = 'UTC'")
    # Imports number rows by their insertion order: it must follow the file's order.
    con.execute("SET preserve_insertion_order = true")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")


@contextmanager
def connect(path: str | Path, memory_limit: str = "", threads: int | None = None, *,
            config: Mapping[str, Any] | None = None, lock_wait: float | None = None,
            ) -> Iterator[duckdb.DuckDBPyConnection]:
    """A configured connection to a warehouse file (created with every domain's tables if new); `lock_wait`
    overrides $OCB_LOCK_WAIT_SECONDS (the review desk's pages use 0: they answer at once, never wait)."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = open_connection(path, lock_wait, config=config)
    try:
        configure(con, memory_limit, threads)
        ensure_schema(con)
        yield con
    finally:
        con.close()


@contextmanager
def read_only(path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only look at an existing warehouse that never waits: duckdb.Error at once if another process
    writes it (or this process has it open read-write), FileNotFoundError if there is no file. For readers that
    have a safe answer without it (the first billing month when the definitions load)."""
    if not Path(path).is_file():
        raise FileNotFoundError(path)
    con = duckdb.connect(str(path), read_only=True, config=dict(CONNECTION_CONFIG))
    try:
        yield con
    finally:
        con.close()
