"""The import catalog: what a file's content already is in a month (every importer's `unchanged` and `duplicate`
rules), and as history every file imported into a month, newest first, with its lineage (sha256), its rows and
billed money, who imported it and the run that did (the desk's imports page)."""

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


def already_imported(con: duckdb.DuckDBPyConnection, source: str, file_name: str, month: str, sha: str,
                     current_sha: str | None = None) -> tuple[str, str] | None:
    """(`unchanged`, why) when the month holds this content from this file already, (`duplicate`, why) when it
    holds it under another name (a renamed copy, skipped so rows are not doubled), else None: import it.
    `current_sha`: the content the file stands for when it is not the catalog's (a closed month's latest late
    version, ingest/late.py)."""
    if current_sha is None:
        previous = con.execute(
            "SELECT file_sha256 FROM import_files WHERE source = ? AND file_name = ? AND billing_month = ?",
            [source, file_name, month]).fetchall()
        current_sha = previous[0][0] if previous else None
    if current_sha == sha:
        return "unchanged", "identical to the file already imported"
    twin = con.execute(
        "SELECT file_name FROM import_files WHERE source = ? AND billing_month = ? AND file_sha256 = ? "
        "AND file_name <> ? ORDER BY file_name LIMIT 1", [source, month, sha, file_name]).fetchall()
    if twin:
        return "duplicate", f"same content as {twin[0][0]}, already imported; skipped"
    return None
