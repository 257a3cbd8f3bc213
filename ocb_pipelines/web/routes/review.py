"""`/months/YYYY-MM/review`: the queue of every pending charge (filters, paging, sort by money), and deciding
charges from it (reviewer): the checked ones, or every pending charge matching the filter, with a note.

A decision goes through services.desk_decisions: recorded under the form's idempotency key (made when the page
was rendered, so a double submit decides once), applied at once when the warehouse is free, else queued; the
result page (`/months/YYYY-MM/review/decisions/KEY`) says which, and what was left pending by cause.
"""

from __future__ import annotations

import math
import uuid
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ocb_pipelines.core.review_reasons import reason_label
from ocb_pipelines.services import desk_decisions, review
from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.web.page_helpers import done, path_month, pop_notice
from ocb_pipelines.web.security import acting, desk_context, role
from ocb_pipelines.web.templating import render

router = APIRouter()
Viewer = Annotated[DeskUser, Depends(role("viewer"))]
Reviewer = Annotated[DeskUser, Depends(acting("reviewer"))]
PAGE_SIZE = 50
FILTERS = desk_decisions.FILTERS
QUEUED_REFRESH_SECONDS = 5


def _filters(values) -> dict[str, str]:
    """The queue's filters given (query or form), trimmed; empty ones left out."""
    return {k: str(values.get(k) or "").strip() for k in FILTERS if str(values.get(k) or "").strip()}


def _queue_url(month: str, filters: dict[str, str], sort: str = "desc", page: int = 1) -> str:
    params = {**filters, **({"sort": sort} if sort != "desc" else {}), **({"page": page} if page > 1 else {})}
    return f"/months/{month}/review" + (f"?{urlencode(params)}" if params else "")


def _check_reason(reason: str | None) -> None:
    codes = [r["code"] for r in review.list_review_reasons()]
    if reason and reason.split(":", 1)[0] not in codes:
        raise HTTPException(400, f"unknown review reason {reason!r}: one of {', '.join(codes)}")


@router.get("/months/{month}/review")
def review_page(request: Request, user: Viewer, month: str, sort: str = "desc", page: int = 1) -> Response:
    """One page of the month's pending charges, filtered and sorted, with the count and money of every page."""
    key = path_month(month)
    filters = _filters(request.query_params)
    _check_reason(filters.get("reason"))
    if sort not in review.SORT_ORDERS:
        raise HTTPException(400, f"unknown sort {sort!r}: use {' or '.join(review.SORT_ORDERS)}")
    page = max(page, 1)
    ctx = desk_context(request, user)
    queue = review.review_queue(ctx, key, order=sort, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
                                summary=False, row_hash=False, **filters)  # the page shows neither
    pages = max(1, math.ceil(queue.total / PAGE_SIZE))
    rows = [{**c, "reason_labels": [reason_label(r) for r in c["queue_reasons"] or []]} for c in queue.charges]
    return render(request, "review.html", {
        "title": f"Review {key}", "month": key, "queue": queue, "rows": rows, "filters": filters, "sort": sort,
        "page": page, "pages": pages, "first_row": (page - 1) * PAGE_SIZE + 1,
        "prev_url": _queue_url(key, filters, sort, page - 1) if page > 1 else None,
        "next_url": _queue_url(key, filters, sort, page + 1) if page < pages else None,
        "sort_urls": {s: _queue_url(key, filters, s) for s in review.SORT_ORDERS},
        "reasons": review.list_review_reasons(), "sources": queue.sources,
        "can_decide": user.can("reviewer"), "request_key": uuid.uuid4().hex,
        "queued": desk_decisions.queued_decisions(ctx, key), "notice": pop_notice(request),
    })  # fmt: skip


def _form_request(form, scope: str, filters: dict[str, str]) -> dict:
    """The form as a decision request's JSON (the API's shape): the checked charges, or the filter."""
    payload: dict = {"decision": form.get("decision"), "note": form.get("note") or ""}
    if scope == "selected":
        payload["ids"] = [str(i) for i in form.getlist("ids")]
        if not payload["ids"]:
            raise desk_decisions.RequestInvalid("check at least one charge, or decide everything matching the filter")
    elif scope == "filter":
        payload["filter"] = filters
    else:
        raise desk_decisions.RequestInvalid("say which charges: the checked ones, or everything matching the filter")
    fixes = {f: str(form.get(f) or "").strip() for f in ("pi_email", "project_id", "fund_org")}
    if any(fixes.values()):
        payload["corrections"] = {k: v for k, v in fixes.items() if v}
    return payload


@router.post("/months/{month}/review/decide")
async def decide(request: Request, user: Reviewer, month: str) -> Response:
    """Approve, reject or correct the checked charges or everything matching the filter, as the signed-in user;
    then the result page (or back to the queue, saying what is missing)."""
    key = path_month(month)
    form = await request.form()
    filters = _filters(form)
    sort = str(form.get("sort") or "desc")
    back = _queue_url(key, filters, sort if sort in review.SORT_ORDERS else "desc")
    try:
        wanted = desk_decisions.decision_request(_form_request(form, str(form.get("scope") or ""), filters))
        submitted = await run_in_threadpool(desk_decisions.submit_decision, desk_context(request, user), key,
                                            wanted, str(form.get("request_key") or ""))
    except desk_decisions.RequestInvalid as exc:
        return done(request, back, f"Nothing was decided: {exc}.")
    except desk_decisions.RequestConflict as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"/months/{key}/review/decisions/{quote(submitted.key, safe='')}", status_code=303)


@router.get("/months/{month}/review/decisions/{request_key}")
def decision_result(request: Request, user: Viewer, month: str, request_key: str) -> Response:
    """What a decision request did: queued (this page refreshes until it is applied), applied (recorded, held
    back by cause with their money, the rebuild run) or refused (why). Read from the desk's file alone."""
    key = path_month(month)
    found = desk_decisions.decision_status(desk_context(request, user), request_key)
    if found is None or found.stored.month != key:
        raise HTTPException(404, f"no decision request {request_key!r} for billing month {key}")
    asked = found.stored.request
    back = _queue_url(key, asked.get("filter") or {})
    waiting = found.state == "queued" or found.stored.rebuild_pending
    return render(request, "decision_result.html", {
        "title": f"Decision {found.state}", "month": key, "found": found, "asked": asked, "result": found.result,
        "back": back, "refresh": QUEUED_REFRESH_SECONDS if waiting else None,
        "past": review.PAST.get(asked.get("decision", ""), asked.get("decision", "")),
    })  # fmt: skip
