"""Review as a service: the queue (filters and paging), the reasons, and deciding charges (approve, reject,
correct; single and bulk; by review sheet), for the CLI, the review desk and Dagster alike.

Decisions are appended by the review domain (review/decisions.py, review/bulk.py, review/sheets.py) with their
actor and audit events in one transaction, under the period guard. What they change in the assets (the
month's decision state in `review_decisions`, and `charges_approved`) is then rebuilt as a `review_job` run
tagged with the actor (`ctx.job`), so the Dagster UI shows who did what. `rebuild=False` records only (to
decide many batches and rebuild once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from ocb_pipelines.core import review_reasons
from ocb_pipelines.periods.reconcile import Reconciliation, reconcile
from ocb_pipelines.review import bulk
from ocb_pipelines.review import state as rs
from ocb_pipelines.review import summary as review_summary
from ocb_pipelines.review.decisions import (
    CORRECTABLE,
    Decision,
    DecisionError,
    origin_decisions,
    record_decisions,
    select_charge_ids,
)
from ocb_pipelines.review.sheets import SheetRefused, SheetResult, apply_sheet, export_sheet
from ocb_pipelines.services.context import AppContext, RunOutcome
from ocb_pipelines.warehouse import database as wh

__all__ = ["MAX_LISTED", "REVIEW_JOB", "STATUSES", "DecisionError", "SheetRefused"]
STATUSES = rs.STATUSES
SORT_ORDERS = rs.SORT_ORDERS
MAX_LISTED = bulk.MAX_LISTED  # a refusal or a report names at most this many charges, then a count
REVIEW_JOB = "review_job"  # review_decisions (the month's decision state) + charges_approved
PAST = {"approve": "approved", "reject": "rejected", "correct": "corrected"}
OUTDATED = "its imported row was replaced since the month was validated; the amount shown is the old one"
Refused = (DecisionError, wh.PeriodLockedError)  # a decision refused as a whole: nothing was recorded


# ------------------------------------------------------------------------------------------------
# Queries
# ------------------------------------------------------------------------------------------------


def list_review_reasons(ctx: AppContext | None = None) -> list[dict[str, str]]:
    """Every reason a charge can need review (the registry): code, level, label and help, for filters and help."""
    return [{"code": r.code, "level": r.level, "label": r.label, "help": r.help} for r in review_reasons.reasons()]


def describe_charge(state: dict[str, Any]) -> dict[str, Any]:
    """A charge of the review state as plain data (JSON-ready but for money): why it is stale, in words."""
    out = {k: state[k] for k in rs.STATE_COLUMNS if k != "decided_row_hash"}  # row_hash None: not worked out
    out["tags"] = state.get("tags")  # the raw Tags text as the file wrote it (a page shows it as text)
    out["decided_at"] = state["decided_at"].isoformat(sep=" ") if state["decided_at"] else None
    if state["stale"]:
        out["stale_explanation"] = rs.stale_explanation(state)
    elif not state["raw_row"]:  # the raw row is gone: a later import replaced it, not validated since
        out["stale"], out["stale_explanation"] = True, OUTDATED
    return out


@dataclass(frozen=True)
class ReviewQueue:
    """One page of a month's charges by review status, the count and money of every page, the month's sources,
    and (unless asked not to) its review summary and reconciliation (what the CLI list shows above the charges)."""

    month: str
    status: str  # a status of STATUSES, or `all`
    total: int
    billed_total: Decimal
    charges: list[dict[str, Any]]
    summary: review_summary.ReviewSummary | None
    reconciliation: Reconciliation | None
    limit: int | None = None
    offset: int = 0
    sources: list[str] = field(default_factory=list)


def review_queue(
    ctx: AppContext,
    month: str,
    *,
    status: str = "pending",
    ids: Sequence[str] = (),
    source: str | None = None,
    reason: str | None = None,
    pi: str | None = None,
    project: str | None = None,
    text: str | None = None,
    service: str | None = None,
    order: str = "desc",
    limit: int | None = None,
    offset: int = 0,
    summary: bool = True,
    row_hash: bool = True,
) -> ReviewQueue:
    """The month's charges of a review status (default: the queue), largest first (`order` asc: smallest
    first), filtered by reason, source, PI, project, service or free text, one page of `limit` from `offset`
    (the total counts every page).

    A page that shows neither can go without the month's summary and reconciliation (`summary=False`: each a
    pass over every line of the month, seconds at a million) and its charges' row_hash (`row_hash=False`: an md5
    of every column of each raw row; stale charges keep theirs)."""
    if status != "all" and status not in STATUSES:
        raise ValueError(f"unknown review status {status!r}: use one of {', '.join(STATUSES)} or all")
    if order not in SORT_ORDERS:
        raise ValueError(f"unknown sort order {order!r}: use {' or '.join(SORT_ORDERS)}")
    filters = {"ids": ids, "source": source, "reason": reason, "pi": pi, "project": project, "text": text,
               "service": service, "statuses": None if status == "all" else (status,)}
    with ctx.connection() as con:
        total, billed, page = rs.queue_page(con, month, limit=limit or None, offset=max(offset, 0), order=order,
                                            row_hash=row_hash, **filters)
        review = review_summary.summarize_review(con, month) if summary else None
        figures = reconcile(con, month) if summary else None
        sources = rs.month_sources(con, month)
    return ReviewQueue(month, status, total, billed, [describe_charge(s) for s in page], review, figures,
                       limit or None, max(offset, 0), sources)


def decisions_from(ctx: AppContext, month: str, origin: str) -> tuple[int, Decimal]:
    """How many decisions of the month came from `origin` (a desk request), and their billed money."""
    with ctx.connection() as con:
        return origin_decisions(con, month, origin)


def decision_state(ctx: AppContext, month: str) -> review_summary.DecisionState:
    """What the month's decisions amount to now (counts and money by decision, the decided set)."""
    with ctx.connection() as con:
        return review_summary.decision_state(con, month)


# ------------------------------------------------------------------------------------------------
# Commands
# ------------------------------------------------------------------------------------------------


def rebuild_approved(ctx: AppContext, month: str) -> RunOutcome:
    """Run review_job for the month as the context's actor: the decision state and the approved charges."""
    return ctx.job(REVIEW_JOB, month)


@dataclass
class DecisionOutcome:
    """What a decision command recorded, what it left pending by cause, the money of each, and the rebuild."""

    month: str
    decision: str
    actor: str
    strict: bool
    outcome: bulk.BulkOutcome
    billed_total: Decimal
    held_billed: Decimal
    rebuild: RunOutcome | None = None
    held_billed_by_cause: dict[str, Decimal] = field(default_factory=dict)

    @property
    def recorded(self) -> list[str]:
        return self.outcome.recorded

    @property
    def decided(self) -> bool:
        """Something was decided, or nothing had to be held back."""
        return bool(self.outcome.recorded) or not self.outcome.held

    @property
    def ok(self) -> bool:
        return self.decided and (self.rebuild is None or self.rebuild.success)

    def held_by_cause(self) -> list[dict[str, Any]]:
        """Each cause a charge was left pending for, with its count, billed money and every charge id."""
        return [{"cause": bulk.cause_text(c, len(v)), "count": len(v),
                 "billed": self.held_billed_by_cause.get(c, Decimal(0)), "charges": v}
                for c, v in self.outcome.held.items()]


def decide_charges(
    ctx: AppContext,
    month: str,
    decision: str,
    note: str,
    *,
    ids: Sequence[str] = (),
    source: str | None = None,
    reason: str | None = None,
    pi: str | None = None,
    everything: bool = False,
    corrections: dict[str, str | None] | None = None,
    strict: bool = False,
    rebuild: bool = True,
    project: str | None = None,
    service: str | None = None,
    text: str | None = None,
    origin: str | None = None,
) -> DecisionOutcome:
    """Approve, reject or correct charges as the context's actor, then rebuild the month (review_job).

    Named charges (`ids`) are all decided or none (DecisionError). A bulk selection (the queue's filters:
    `source`, `reason`, `pi`, `project`, `service`, `text`; or `everything`) decides every pending charge it can
    and leaves the rest pending, by cause with their money; `strict`: all or nothing. A closed or finalized
    month refuses (PeriodLockedError, saying what to do). `origin` is kept with each decision (the desk's
    request key: `decisions_from` then tells whether that request was recorded)."""
    fixes = {k: v for k, v in (corrections or {}).items() if k in CORRECTABLE}
    patterns = ctx.settings.review.fund_org_patterns
    with ctx.connection() as con:
        chosen = select_charge_ids(con, month, ids=ids, source=source, reason=reason, pi=pi, everything=everything,
                                   project=project, service=service, text=text)
        decisions = [Decision(c, decision, note, **fixes) for c in chosen]
        if ids:
            recorded = record_decisions(con, month, decisions, actor=ctx.actor, via=ctx.trigger,
                                        fund_org_patterns=patterns, origin=origin)
            outcome = bulk.BulkOutcome(recorded, chosen, {})
        else:
            outcome = bulk.record_bulk(con, month, decisions, actor=ctx.actor, via=ctx.trigger, strict=strict,
                                       fund_org_patterns=patterns, origin=origin)
        billed = rs.billed_of(con, month, outcome.recorded)
        by_cause = {cause: rs.billed_of(con, month, held) for cause, held in outcome.held.items()}
    result = DecisionOutcome(month, decision, ctx.actor, strict, outcome, billed,
                             sum(by_cause.values(), Decimal(0)), held_billed_by_cause=by_cause)
    if rebuild and outcome.recorded:
        result.rebuild = rebuild_approved(ctx, month)
    return result


@dataclass(frozen=True)
class SheetExport:
    month: str
    path: Path
    charges: int


def export_review_sheet(
    ctx: AppContext,
    month: str,
    *,
    output: str | Path | None = None,
    source: str | None = None,
    reason: str | None = None,
    pi: str | None = None,
    reviewer: str = "",
) -> SheetExport:
    """Write the month's review queue as a CSV review sheet (default: <review_dir>/exports/review_<month>_<time>.csv)
    to be filled in and dropped into review_dir (the sheet sensor) or applied with `apply_review_sheet`."""
    path = Path(output) if output else (
        ctx.settings.review_dir / "exports" / f"review_{month}_{wh.now_utc():%Y%m%d_%H%M%S}.csv")
    with ctx.connection() as con:
        count = export_sheet(con, month, path, currency=ctx.settings.currency.code, source=source, reason=reason,
                             pi=pi, reviewer=reviewer)
    return SheetExport(month, path, count)


@dataclass
class SheetApplied:
    """A filled-in sheet applied (or found applied before, or empty), and the rebuild run as its reviewer."""

    result: SheetResult
    rebuild: RunOutcome | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.rebuild is None or self.rebuild.success


def apply_review_sheet(ctx: AppContext, sheet: str | Path, *, rebuild: bool = True,
                       signed_in: bool = False) -> SheetApplied:
    """Apply a filled-in review sheet: every decision or none (SheetRefused, one line per problem). Its reviewer
    is the actor of its decisions and of the rebuild. `signed_in` (the desk): the context's actor signed in, so
    they are the reviewer, and a sheet naming someone else is refused."""
    with ctx.connection() as con:
        result = apply_sheet(con, sheet, fund_org_patterns=ctx.settings.review.fund_org_patterns,
                             fallback_actor=ctx.actor, signed_in=ctx.actor if signed_in else None)
    applied = SheetApplied(result)
    if result.status == "applied" and rebuild:
        applied.rebuild = rebuild_approved(replace(ctx, actor=result.reviewer), result.period)
    return applied
