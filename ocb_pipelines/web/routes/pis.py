"""`/months/YYYY-MM/pi?email=...`: one PI's month (projects, money, review statuses) beside their recent months as
billed, so a reviewer sees whether a month is unlike the ones before before deciding its charges."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.services.pi_view import pi_page
from ocb_pipelines.web.page_helpers import path_month
from ocb_pipelines.web.security import desk_context, role
from ocb_pipelines.web.templating import render

router = APIRouter()
Viewer = Annotated[DeskUser, Depends(role("viewer"))]
MAX_EMAIL_LENGTH = 320  # RFC 5321's longest address; a longer value is no PI


@router.get("/months/{month}/pi")
def pi_page_view(request: Request, user: Viewer, month: str, email: str = "") -> Response:
    """The PI's projects in the month and their last months of approved money. The email is a query parameter: a
    tag's value may hold any character, and it is only ever compared, never used as a path."""
    key = path_month(month)
    email = email.strip()
    if not email or len(email) > MAX_EMAIL_LENGTH:
        raise HTTPException(400, "give the PI's email: /months/YYYY-MM/pi?email=...")
    page = pi_page(desk_context(request, user), key, email)
    return render(request, "pi.html", {"title": f"PI {page.view.pi_email}", "month": key, "p": page})
