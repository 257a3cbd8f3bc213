"""Per billing month: imported, approved, pending and rejected money (exact to the cent) and rows, its status,
files and sources. The desk's front page and `ocb periods`-style listings read it.

The figures are the month's reconciliation (periods.reconcile), the same query the close runs in its transaction,
so what the summary shows is what a close would check: imported = approved + pending + rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

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

    def as_dict(self) -> dict[str, Any]:
        f = self.figures
        return {
            "period": self.period, "status": self.status, "files": self.files, "sources": self.sources,
            "imported": {"rows": f.imported_rows, "billed": f.imported_billed},
            "approved": {"rows": f.approved_rows, "billed": f.approved_billed},
            "pending": {"rows": f.pending_rows, "billed": f.pending_billed},
            "rejected": {"rows": f.rejected_rows, "billed": f.rejected_billed},
            "reconciled": f.balanced, "needs_validation": f.needs_validation, "problems": f.problems(),
        }


def _imported_months(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, list[str]]]:
    """Month -> (files, sources) from the import catalog."""
    return {m: (n, list(s)) for m, n, s in con.execute(
        "SELECT billing_month, count(*), list(DISTINCT source ORDER BY source) FROM import_files GROUP BY 1"
    ).fetchall()}


def month_summaries(ctx: AppContext, months: list[str] | None = None) -> list[MonthSummary]:
    """Every month with a period or an import (or only `months`), newest first."""
    with ctx.connection() as con:
        statuses = {p.period: p.status for p in list_periods(con)}
        imported = _imported_months(con)
        wanted = sorted(set(months) if months else set(statuses) | set(imported), reverse=True)
        return [
            MonthSummary(m, statuses.get(m, "open"), imported.get(m, (0, []))[0], imported.get(m, (0, []))[1],
                         reconcile(con, m))
            for m in wanted
        ]


def month_summary(ctx: AppContext, month: str) -> MonthSummary:
    """One month's summary (a month with nothing imported has every figure zero)."""
    return month_summaries(ctx, [month])[0]
