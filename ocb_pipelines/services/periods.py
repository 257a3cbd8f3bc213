"""Billing months as commands: list, open, close, reopen and finalize, for the CLI, the desk and Dagster alike.

Each change goes through periods/lifecycle.py inside one transaction with its audit record, with the period
guard and the reconciliation (imported = approved + pending + rejected, every raw row validated) checked in
that transaction. A close first rebuilds the month's approved charges as a Dagster run (review_job) tagged
with the actor, since that changes an asset's data; the status change itself is not asset data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ocb_pipelines.periods import lifecycle as lc
from ocb_pipelines.periods.reconcile import Reconciliation
from ocb_pipelines.review.decisions import pending_count
from ocb_pipelines.services.context import AppContext

PeriodTransitionError = lc.PeriodTransitionError
Period = lc.Period


@dataclass(frozen=True)
class ClosedPeriod:
    """A month just closed, with the reconciliation it was closed on (checked in the closing transaction)."""

    period: Period
    reconciliation: Reconciliation

    def as_dict(self) -> dict[str, Any]:
        return {**self.period.as_dict(), "reconciliation": self.reconciliation.as_dict()}


def list_periods(ctx: AppContext) -> list[Period]:
    """Every billing month, oldest first, with who changed it and when, and its notes."""
    with ctx.connection() as con:
        return lc.list_periods(con)


def open_period(ctx: AppContext, period: str, notes: str | None = None) -> Period:
    """Create a billing month as open (or add a note to an open one)."""
    with ctx.connection() as con:
        return lc.open_period(con, period, ctx.actor, notes)


def close_period(ctx: AppContext, period: str, notes: str | None = None, *,
                 provisional_reason: str | None = None, invoice_reason: str | None = None) -> ClosedPeriod:
    """open -> closed: the approved charges are rebuilt first, so statements and the journal see every import
    and decision made before the close; then the close checks the reconciliation, that nothing is pending, that
    no provisional row (FOCUS 1.4 BillingPeriodStatus Open) remains unless `provisional_reason` allows it, and
    that every imported invoice matches our charges unless `invoice_reason` allows the difference."""
    month = lc.check_period_key(period)
    rebuild_before_close(ctx, month)
    with ctx.connection() as con:
        closed, figures = lc.close_reconciled(con, month, ctx.actor, notes, ctx.settings.currency.symbol,
                                              provisional_reason=provisional_reason, invoice_reason=invoice_reason)
    return ClosedPeriod(closed, figures)


def rebuild_before_close(ctx: AppContext, month: str) -> None:
    """Run review_job (charges_approved) for an open month with nothing pending; otherwise the close itself says
    why it is refused. Without this, a month imported but never reviewed would close with no approved charges
    and get no statements."""
    if not ctx.settings.warehouse_path.exists():
        return
    with ctx.connection() as con:  # closed before the run: DuckDB has one writer
        current = lc.get_period(con, month)
        if current is None or current.status != "open" or pending_count(con, month)[0]:
            return
    run = ctx.job("review_job", month)
    if not run.success:
        raise PeriodTransitionError(f"{month} not closed: rebuilding its approved charges failed: {run.error}")


def reopen_period(ctx: AppContext, period: str, reason: str | None) -> Period:
    """closed -> open, with a mandatory reason (kept in the month, its notes and the audit)."""
    with ctx.connection() as con:
        return lc.reopen_period(con, period, ctx.actor, reason)


def finalize_period(ctx: AppContext, period: str, notes: str | None = None) -> Period:
    """closed -> finalized, when the month reconciles and its statements exist; it never changes again."""
    with ctx.connection() as con:
        return lc.finalize_period(con, period, ctx.actor, notes)
