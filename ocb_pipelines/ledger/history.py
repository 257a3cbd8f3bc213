"""The journal export history: every recorded export of a month (`journal_exports`), newest first.

Written by ledger/export.py (and by `ocb import-history` for OpenChargeback's exports); read here for the desk's
journal page and its downloads, which find an export by its id, never by a file name.
"""

from __future__ import annotations

from typing import Any

import duckdb

from ocb_pipelines.ledger.export import ensure_journal_schema

EXPORT_COLUMNS = ("export_id", "billing_month", "format", "status", "file_path", "file_sha256", "line_count",
                  "charge_count", "debit_total", "credit_total", "approved_total", "period_status", "exported_at",
                  "exported_by", "run_id")


def month_exports(con: duckdb.DuckDBPyConnection, month: str, export_id: int | None = None) -> list[dict[str, Any]]:
    """The month's exports, newest first (only `export_id` when given), each with its recorded file and totals."""
    ensure_journal_schema(con)
    only = " AND export_id = ?" if export_id is not None else ""
    rows = con.execute(
        f"SELECT {', '.join(EXPORT_COLUMNS)} FROM journal_exports WHERE billing_month = ?{only} "
        "ORDER BY export_id DESC",
        [month] + ([export_id] if export_id is not None else []),
    ).fetchall()
    return [dict(zip(EXPORT_COLUMNS, r, strict=True)) for r in rows]
