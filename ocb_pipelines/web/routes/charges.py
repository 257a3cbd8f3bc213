"""`/charges/<id>?month=YYYY-MM`: one charge, down to the file's row it came from, and every decision on it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from ocb_pipelines.core.billing_month import is_month_key
from ocb_pipelines.services.charge_detail import ChargeNotFoundError, charge_detail, charge_month
from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.web.security import desk_context, role
from ocb_pipelines.web.templating import render

router = APIRouter()
Viewer = Annotated[DeskUser, Depends(role("viewer"))]


@router.get("/charges/{charge_id}")
def charge_page(request: Request, user: Viewer, charge_id: str, month: str | None = None) -> Response:
    """Every FOCUS column of the raw row, its tags as text, its lineage, reasons, decisions, and the Dagster
    run and asset partition it came from. Without `month` the charge's month is looked up."""
    ctx = desk_context(request, user)
    if month and not is_month_key(month):
        raise HTTPException(400, f"month {month!r} is not a billing month (YYYY-MM)")
    month = month or charge_month(ctx, charge_id)
    if month is None:
        raise HTTPException(404, f"charge {charge_id}: no such charge in any billing month")
    try:
        detail = charge_detail(ctx, month, charge_id)
    except ChargeNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    return render(request, "charge.html", {"title": f"Charge {charge_id}", "month": month, "d": detail})
