"""`/settings`: the effective configuration (secrets masked), the sources, and a tester showing which charges of
a month a candidate review pattern would flag, before anyone edits the configuration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ocb_pipelines.core.billing_month import is_month_key
from ocb_pipelines.core.patterns import PatternError
from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.services.settings_view import effective_config, preview_flag_pattern
from ocb_pipelines.services.sources import list_sources
from ocb_pipelines.web.security import desk_context, role, settings_of
from ocb_pipelines.web.templating import render

router = APIRouter()
Viewer = Annotated[DeskUser, Depends(role("viewer"))]
SHOWN_CHARGES = 100


@router.get("/settings")
def settings_page(request: Request, user: Viewer, month: str = "", pattern: str | None = None) -> Response:
    """The page; with `month` and `pattern` (the tester's GET form) also what the pattern would flag. A month or
    pattern that cannot be tested is said on the page (400), next to the form."""
    ctx = desk_context(request, user)
    settings = settings_of(request)
    month = month.strip()
    preview, error = None, ""
    if pattern is not None:
        if not is_month_key(month):
            error = f"month {month!r} is not a billing month (YYYY-MM)"
        else:
            try:
                preview = preview_flag_pattern(ctx, month, pattern, limit=SHOWN_CHARGES)
            except PatternError as exc:
                error = str(exc)
    return render(request, "settings.html", {
        "title": "Settings", "config": effective_config(settings), "config_path": settings.config_path,
        "ignored": settings.ignored_keys, "sources": list_sources(ctx), "patterns": settings.review.flag_patterns,
        "month": month, "pattern": pattern or "", "preview": preview, "error": error,
    }, status_code=400 if error else 200)
