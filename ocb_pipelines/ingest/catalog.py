"""The import catalog as history: every file imported into a month, newest first, with its lineage (sha256),
its rows and billed money, who imported it and the run that did (the desk's imports page)."""

from __future__ import annotations

from typing import Any

import duckdb

HISTORY_COLUMNS = ("source", "file_name", "billing_month", "row_count", "billed_total", "file_sha256",
                   "focus_version", "imported_at", "imported_by", "run_id")


def import_history(con: duckdb.DuckDBPyConnection, *, month: str | None = None, limit: int = 50,
                   offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """How many files are in the catalog (of `month`, when given), and `limit` of them from `offset`, newest
    import first. A file imported again replaces its entry, so each (source, file, month) is listed once."""
    where, params = ("WHERE billing_month = ?", [month]) if month else ("", [])
    (total,) = con.execute(f"SELECT count(*) FROM import_files {where}", params).fetchall()[0]
    cursor = con.execute(
        f"SELECT {', '.join(HISTORY_COLUMNS)} FROM import_files {where} "
        "ORDER BY imported_at DESC, source, file_name, billing_month LIMIT ? OFFSET ?", [*params, limit, offset])
    return total, [dict(zip(HISTORY_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
