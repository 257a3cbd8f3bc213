"""Progress of long steps (files imported, statements rendered) for whoever is watching.

Business code calls `report(kind, **fields)` at the start and end of each long unit of work. Nothing
happens unless a listener is installed, which the CLI does around its in-process Dagster runs
(`with listening(callback): ...`) to draw a progress display on stderr. Runs launched from the UI or
by the daemon have no listener, so the cost there is one empty-list check per file or statement.

Events (fields):
- `import_file_start` (month, file, connection: the DuckDB connection doing the import, for
  `query_progress()`), `import_file_done` (month, file, rows, status, error);
- `render_start` (total: statements to render, unchanged: skipped as unchanged), `statement_rendered` (path).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Listener = Callable[[str, dict[str, Any]], None]

_listeners: list[Listener] = []
_lock = threading.Lock()


def report(kind: str, **fields: Any) -> None:
    """Tell every listener; a no-op when nobody listens."""
    if not _listeners:
        return
    for listener in list(_listeners):
        listener(kind, fields)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Install a listener for the duration of the block (process-wide: runs execute in this process)."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def track_query_progress(connection: Any) -> bool:
    """Ask DuckDB to track the running query's progress on `connection` (never printing it: that would go to
    stdout). False when it cannot: a display nicety must never fail an import."""
    import duckdb

    try:
        connection.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
    except duckdb.Error:
        return False
    return True


def query_percent(connection: Any) -> float:
    """The running query's progress in percent; -1 when there is no query or the connection is closing, 0 while
    DuckDB has no estimate yet."""
    import duckdb

    try:
        return connection.query_progress()
    except duckdb.Error:
        return -1
