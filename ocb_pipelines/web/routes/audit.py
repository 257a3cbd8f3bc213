"""`/audit`: every audit event, newest first, filtered by month, actor and action (a GET form), paged on the
server."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from ocb_pipelines.core.billing_month import is_month_key
from ocb_pipelines.services.audit_log import audit_choices, audit_events
from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.web.security import desk_context, role
from ocb_pipelines.web.templating import render

router = APIRouter()
Viewer = Annotated[DeskUser, Depends(role("viewer"))]
PAGE_SIZE = 50


@router.get("/audit")
def audit_page(request: Request, user: Viewer, month: str = "", actor: str = "", action: str = "",
               page: int = 1) -> Response:
    """One page of PAGE_SIZE events matching every filter given; page 1 is the newest."""
    month, actor, action = month.strip(), actor.strip(), action.strip()
    if month and not is_month_key(month):
        raise HTTPException(400, f"month {month!r} is not a billing month (YYYY-MM)")
    if page < 1:
        raise HTTPException(400, f"page {page} does not exist: pages start at 1")
    ctx = desk_context(request, user)
    events = audit_events(ctx, period=month or None, actor=actor or None, action=action or None,
                          limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-events.total // PAGE_SIZE))
    filters = {"month": month, "actor": actor, "action": action}
    return render(request, "audit.html", {
        "title": "Audit log", "events": list(reversed(events.events)), "total": events.total, "page": page,
        "pages": pages, "filters": filters, "choices": audit_choices(ctx),
        "query": {k: v for k, v in filters.items() if v},
    })
