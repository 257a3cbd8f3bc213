"""One billing month in full, for the desk's month page: its reconciliation, its period record, and its charges
by source, by review status and, for the pending ones, by reason.

The figures are the reconciliation the close checks (month_summary) and the review state's summary
(review.summary.summarize_review), so the page shows what a close would find. `approved` counts every charge
billed: unflagged ones, and flagged ones approved or corrected.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ocb_pipelines.core.review_reasons import reason_help, reason_label
from ocb_pipelines.ingest.invoice_check import InvoiceCheck, invoice_checks
from ocb_pipelines.periods.lifecycle import Period, get_period
from ocb_pipelines.review.summary import ReviewSummary, summarize_review
from ocb_pipelines.services.context import AppContext
from ocb_pipelines.services.month_summary import MonthSummary, month_summary

BILLED_STATUSES = ("unflagged", "approved", "corrected")  # what the reconciliation counts as approved
GROUPS = {"approved": BILLED_STATUSES, "pending": ("pending",), "rejected": ("rejected",)}


@dataclass(frozen=True)
class MonthOverview:
    """A month's summary (figures, status, files), its period record (None before one is opened), and its review
    summary."""

    summary: MonthSummary
    period: Period | None
    review: ReviewSummary
    invoices: tuple[InvoiceCheck, ...] = ()  # each InvoiceDetail invoice against our charges of its InvoiceId

    @property
    def invoice_differences(self) -> list[InvoiceCheck]:
        """The invoices our charges do not match to the cent (or that have no invoice)."""
        return [c for c in self.invoices if not c.matches]

    @property
    def known(self) -> bool:
        """Something was imported for the month or its period was opened."""
        return self.period is not None or self.summary.files > 0

    def by_status(self) -> list[dict[str, Any]]:
        """Rows and money of each review status, in the registry's order (zeros included)."""
        return [{"status": s, "rows": self.review.rows(s), "billed": self.review.billed(s)}
                for s in ("unflagged", "approved", "corrected", "pending", "rejected")]

    def by_source(self) -> list[dict[str, Any]]:
        """Per source: rows and money imported (validated), approved, pending and rejected."""
        out = []
        for row in self.review.by_source:
            entry: dict[str, Any] = {"source": row["source"]}
            for group, statuses in GROUPS.items():
                entry[f"{group}_rows"] = sum(row[f"{s}_rows"] for s in statuses)
                entry[f"{group}_billed"] = sum((Decimal(row[f"{s}_billed"]) for s in statuses), Decimal(0))
            entry["imported_rows"] = sum(entry[f"{g}_rows"] for g in GROUPS)
            entry["imported_billed"] = sum((entry[f"{g}_billed"] for g in GROUPS), Decimal(0))
            out.append(entry)
        return out

    def pending_by_reason(self) -> list[dict[str, Any]]:
        """Each reason of the pending charges: code, words, help, rows and money (a charge with two reasons
        counts under both)."""
        return [{**r, "label": reason_label(r["reason"]), "help": reason_help(r["reason"])}
                for r in self.review.pending_by_reason]


def month_overview(ctx: AppContext, month: str) -> MonthOverview:
    """The month's overview (`known` is False for a month nothing was imported or opened for)."""
    summary = month_summary(ctx, month)
    with ctx.connection() as con:
        return MonthOverview(summary, get_period(con, month), summarize_review(con, month),
                             tuple(invoice_checks(con, month)))
