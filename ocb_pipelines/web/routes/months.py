"""`/`: every month at a glance. `/months/YYYY-MM`: one month (see month_page.py for its actions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.services.month_summary import month_summaries
from ocb_pipelines.web.security import desk_context, role
from ocb_pipelines.web.templating import render

router = APIRouter()
Viewer = Annotated[DeskUser, Depends(role("viewer"))]


@router.get("/")
def months_index(request: Request, user: Viewer) -> Response:
    """Each month: status, rows, billed, list price, flagged and pending money, and the last import."""
    months = month_summaries(desk_context(request, user))
    return render(request, "months.html", {"months": months, "title": "Months"})
