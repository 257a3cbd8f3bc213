"""Per billing month: imported, approved, pending and rejected money (exact to the cent) and rows, its status,
files and sources. The desk's front page and `ocb periods`-style listings read it.

The figures are the month's reconciliation (periods.reconcile), the same query the close runs in its transaction,
so what the summary shows is what a close would check: imported = approved + pending + rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb

from ocb_pipelines.ingest.invoice_check import NO_PROVISIONAL, Provisional, provisional_by_month
from ocb_pipelines.periods.lifecycle import list_periods
from ocb_pipelines.periods.reconcile import Reconciliation, reconcile
from ocb_pipelines.services.context import AppContext


@dataclass(frozen=True)
class MonthSummary:
    """One billing month at a glance. `status` is open, closed or finalized (open for a month never opened)."""

    period: str
    status: str
    files: int
    sources: list[str]
    figures: Reconciliation
    list_total: Decimal = Decimal(0)  # list price of the imported files (before any subsidy)
    flagged_rows: int = 0  # charges a review rule flagged (decided or not)
    flagged_billed: Decimal = Decimal(0)
    last_import: datetime | None = None
    provisional: Provisional = NO_PROVISIONAL  # FOCUS 1.4 rows still Open: the close waits for them

    def as_dict(self) -> dict[str, Any]:
        f = self.figures
        return {
            "period": self.period, "status": self.status, "files": self.files, "sources": self.sources,
            "imported": {"rows": f.imported_rows, "billed": f.imported_billed},
            "approved": {"rows": f.approved_rows, "billed": f.approved_billed},
            "pending": {"rows": f.pending_rows, "billed": f.pending_billed},
            "rejected": {"rows": f.rejected_rows, "billed": f.rejected_billed},
            "list_total": self.list_total, "flagged": {"rows": self.flagged_rows, "billed": self.flagged_billed},
            "last_import": self.last_import.isoformat() if self.last_import else None,
            "reconciled": f.balanced, "needs_validation": f.needs_validation, "problems": f.problems(),
            "provisional": self.provisional.as_dict(),
        }


def _imported_months(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, list[str], Decimal, datetime]]:
    """Month -> (files, sources, list price, last import) from the import catalog."""
    return {m: (n, list(s), lt, last) for m, n, s, lt, last in con.execute(
        "SELECT billing_month, count(*), list(DISTINCT source ORDER BY source), sum(list_total), max(imported_at) "
        "FROM import_files GROUP BY 1"
    ).fetchall()}


def _flagged(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, Decimal]]:
    """Month -> (rows, billed) of the charges a review rule flagged, decided or not."""
    return {m: (n, b) for m, n, b in con.execute(
        "SELECT billing_month, count(*), coalesce(sum(billed_cost), 0) FROM validated_lines WHERE needs_review "
        "GROUP BY 1"
    ).fetchall()}


def month_summaries(ctx: AppContext, months: list[str] | None = None) -> list[MonthSummary]:
    """Every month with a period or an import (or only `months`), newest first."""
    with ctx.connection() as con:
        statuses = {p.period: p.status for p in list_periods(con)}
        imported = _imported_months(con)
        flagged = _flagged(con)
        provisional = provisional_by_month(con)
        wanted = sorted(set(months) if months else set(statuses) | set(imported), reverse=True)
        nothing = (0, [], Decimal(0), None)
        return [
            MonthSummary(m, statuses.get(m, "open"), imported.get(m, nothing)[0], imported.get(m, nothing)[1],
                         reconcile(con, m), list_total=imported.get(m, nothing)[2] or Decimal(0),
                         flagged_rows=flagged.get(m, (0, 0))[0], flagged_billed=flagged.get(m, (0, Decimal(0)))[1],
                         last_import=imported.get(m, nothing)[3],
                         provisional=provisional.get(m, NO_PROVISIONAL))
            for m in wanted
        ]


def known_months(ctx: AppContext) -> list[str]:
    """Every month with a period or an import, newest first: any other month is unknown (the desk answers 404)."""
    with ctx.connection() as con:
        periods = {p.period for p in list_periods(con)}
        imported = {m for (m,) in con.execute("SELECT DISTINCT billing_month FROM import_files").fetchall()}
    return sorted(periods | imported, reverse=True)


def month_summary(ctx: AppContext, month: str) -> MonthSummary:
    """One month's summary (a month with nothing imported has every figure zero)."""
    return month_summaries(ctx, [month])[0]
