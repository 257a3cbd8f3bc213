"""The JSON API for scripts, under /api/v1: the months, the queue, a charge, period actions, the journal export
and the statements (decisions: api_decisions.py).

Behind the same roles as the pages: `role(...)` for reads, `acting(...)` for actions. A script signs in with a
bearer token (`ocb users token NAME`, sent as `Authorization: Bearer TOKEN`) and needs no CSRF token; a browser
session calling the API sends its CSRF token as `X-CSRF-Token`. Money is exact text ("12.340000000000"), never
a JSON number. A failure is `{"ok": false, "error": "..."}` with its status: 400 bad input, 401 not signed in,
403 not allowed, 404 no such month or charge, 409 refused by the month's state, 503 warehouse busy.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ocb_pipelines.core.jsonable import to_jsonable
from ocb_pipelines.services import deliveries, journal, periods, review, statements
from ocb_pipelines.services.charge_detail import ChargeNotFoundError, charge_detail, charge_month
from ocb_pipelines.services.context import AppContext
from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.services.month_summary import known_months, month_summaries, month_summary
from ocb_pipelines.web.page_helpers import path_month
from ocb_pipelines.web.security import acting, desk_context, role

router = APIRouter(prefix="/api/v1", tags=["api"])
Viewer = Annotated[DeskUser, Depends(role("viewer"))]
Admin = Annotated[DeskUser, Depends(acting("admin"))]
DEFAULT_PAGE = 50
MAX_PAGE = 1000  # a page of the queue; a script walks every page with offset (a month can hold millions)


def answer(payload: dict[str, Any], status_code: int = 200) -> JSONResponse:
    """A success: `ok` true and the payload, money as exact text."""
    return JSONResponse(to_jsonable({"ok": True, **payload}), status_code=status_code)


def failure(status_code: int, error: str, **extra: Any) -> JSONResponse:
    """A failure with details beyond the one-line error (e.g. every culprit of a refused export)."""
    return JSONResponse(to_jsonable({"ok": False, "error": error, **extra}), status_code=status_code)


def known_month(ctx: AppContext, month: str) -> str:
    """The month's `YYYY-MM` key: 400 when it is not one, 404 when nothing was imported or opened for it."""
    key = path_month(month)
    if key not in known_months(ctx):
        raise HTTPException(404, f"billing month {key}: nothing imported and no period opened")
    return key


def _filter(value: str | None) -> str | None:
    """An empty filter (`?reason=`, as a form sends it) is no filter."""
    return value.strip() if value and value.strip() else None


# ------------------------------------------------------------------------------------------------
# Reads (viewer)
# ------------------------------------------------------------------------------------------------


@router.get("/months")
def api_months(request: Request, user: Viewer) -> JSONResponse:
    """Every month, newest first: status, files, sources, and rows and money imported, approved, pending and
    rejected (the close's reconciliation), list price, flagged money and the last import."""
    return answer({"months": [m.as_dict() for m in month_summaries(desk_context(request, user))]})


@router.get("/months/{month}")
def api_month(request: Request, user: Viewer, month: str) -> JSONResponse:
    """One month's summary, and its period record (who opened, closed, reopened or finalized it; its notes)."""
    ctx = desk_context(request, user)
    key = known_month(ctx, month)
    period = next((p for p in periods.list_periods(ctx) if p.period == key), None)
    return answer({**month_summary(ctx, key).as_dict(), "period": period.as_dict() if period else None})


@router.get("/months/{month}/queue")
def api_queue(request: Request, user: Viewer, month: str, reason: str | None = None, source: str | None = None,
              pi: str | None = None, project: str | None = None, service: str | None = None, text: str | None = None,
              status: str = "pending", sort: str = "desc", limit: int = DEFAULT_PAGE, offset: int = 0) -> JSONResponse:
    """One page of the month's charges of a review status (default: the pending queue), largest money first
    (`sort=asc`: smallest), with the same filters as the queue page; `total` and `billed_total` count every page,
    `next_offset` is where the next page starts (null on the last)."""
    ctx = desk_context(request, user)
    key = known_month(ctx, month)
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise HTTPException(400, f"limit must be 1 to {MAX_PAGE} and offset 0 or more (got limit={limit}, "
                                 f"offset={offset})")
    filters = {k: _filter(v) for k, v in (("reason", reason), ("source", source), ("pi", pi), ("project", project),
                                           ("service", service), ("text", text))}
    codes = [r["code"] for r in review.list_review_reasons()]
    if filters["reason"] is not None and filters["reason"].split(":", 1)[0] not in codes:
        raise HTTPException(400, f"unknown review reason {filters['reason']!r}: one of {', '.join(codes)}")
    try:
        queue = review.review_queue(ctx, key, status=status, order=sort, limit=limit, offset=offset,
                                    summary=False, **filters)  # the answer carries no month summary
    except ValueError as exc:  # an unknown status or sort order
        raise HTTPException(400, str(exc)) from None
    shown = queue.offset + len(queue.charges)
    return answer({"month": key, "status": queue.status, "total": queue.total, "billed_total": queue.billed_total,
                   "limit": limit, "offset": queue.offset, "next_offset": shown if shown < queue.total else None,
                   "charges": queue.charges})


@router.get("/charges/{charge_id}")
def api_charge(request: Request, user: Viewer, charge_id: str, month: str | None = None) -> JSONResponse:
    """One charge (of `?month=`; without it, the charge's month is looked up): every FOCUS column, tags, lineage
    (file, sha256, row), reasons and decisions."""
    ctx = desk_context(request, user)
    key = known_month(ctx, month) if month else charge_month(ctx, charge_id)
    if key is None:
        raise HTTPException(404, f"charge {charge_id}: no such charge in any billing month")
    try:
        detail = charge_detail(ctx, key, charge_id)
    except ChargeNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    return answer({"month": key, **detail.as_dict()})


@router.get("/months/{month}/statements")
def api_statements(request: Request, user: Viewer, month: str) -> JSONResponse:
    """The month's statements (one per PI and project: money, fund shares, files) and its delivery log."""
    ctx = desk_context(request, user)
    key = known_month(ctx, month)
    return answer({"month": key, "statements": statements.month_statements(ctx, key),
                   "deliveries": deliveries.list_deliveries(ctx, key)})


# ------------------------------------------------------------------------------------------------
# Period actions and the journal (admin)
# ------------------------------------------------------------------------------------------------


class PeriodNotes(BaseModel):
    """An optional note kept with the month (appended, never lost)."""

    notes: str | None = None


class ReopenRequest(BaseModel):
    """Why the month is reopened (required, kept in the month and the audit)."""

    reason: str = ""


class JournalRequest(BaseModel):
    """The journal layout to export: gl (the balanced journal), standard, summary or openchargeback."""

    format: str = journal.GL


def _period_action(request: Request, user: DeskUser, month: str, act) -> JSONResponse:
    ctx = desk_context(request, user)
    key = known_month(ctx, month)
    try:
        return answer(act(ctx, key))
    except periods.PeriodTransitionError as exc:  # the month's state refuses it (pending charges, not closed...)
        raise HTTPException(409, str(exc)) from None


class CloseRequest(PeriodNotes):
    """A note, and the reasons to close with provisional rows (FOCUS 1.4 BillingPeriodStatus Open) left or with an
    imported invoice different from our charges, if any."""

    provisional_reason: str | None = None
    invoice_reason: str | None = None


@router.post("/months/{month}/close")
def api_close(request: Request, user: Admin, month: str, body: CloseRequest | None = None) -> JSONResponse:
    """Close the month (nothing pending; reconciled; no provisional row unless `provisional_reason` is given), after
    rebuilding its approved charges as a run tagged with the user. Answers the period and the reconciliation the
    close was checked on."""
    notes = body.notes if body else None
    reason = body.provisional_reason if body else None
    invoice_reason = body.invoice_reason if body else None
    return _period_action(request, user, month, lambda ctx, key: periods.close_period(
        ctx, key, notes, provisional_reason=reason, invoice_reason=invoice_reason).as_dict())


@router.post("/months/{month}/reopen")
def api_reopen(request: Request, user: Admin, month: str, body: ReopenRequest | None = None) -> JSONResponse:
    """Reopen a closed month, with a reason (400 without one)."""
    reason = (body.reason if body else "").strip()
    if not reason:
        raise HTTPException(400, 'reopening a month needs a reason: send {"reason": "why"}')
    return _period_action(request, user, month, lambda ctx, key: periods.reopen_period(ctx, key, reason).as_dict())


@router.post("/months/{month}/finalize")
def api_finalize(request: Request, user: Admin, month: str, body: PeriodNotes | None = None) -> JSONResponse:
    """Finalize a closed month whose statements exist; it never changes again."""
    notes = body.notes if body else None
    return _period_action(request, user, month,
                          lambda ctx, key: periods.finalize_period(ctx, key, notes).as_dict())


@router.post("/months/{month}/journal")
def api_journal(request: Request, user: Admin, month: str, body: JournalRequest | None = None) -> JSONResponse:
    """Export the closed month's journal to output.journal_dir (never overwriting; an export identical to the last
    is `unchanged`). Answers the file written, its sha256, lines, charges and totals, and the run (GL)."""
    fmt = body.format if body else journal.GL
    if fmt not in journal.FORMATS:
        raise HTTPException(400, f"unknown journal format {fmt!r}: one of {', '.join(journal.FORMATS)}")
    ctx = desk_context(request, user)
    key = known_month(ctx, month)
    try:
        export = journal.export_journal_file(ctx, key, fmt)
    except journal.JournalExportRefused as exc:
        return failure(409, str(exc).strip().splitlines()[0], problems=exc.problems)
    return answer({"period": key, "run_id": export.run_id, "currency": ctx.settings.currency.code,
                   **export.details()})
