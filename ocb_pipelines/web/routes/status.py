"""`/status`: the runs that hold (or will hold) the warehouse, as a banner every page polls with htmx.

When the runs it showed have ended, the next poll answers `HX-Refresh`, so the page reloads with their result.
Without JavaScript nothing polls; a page that meets a busy warehouse then answers the busy page, which refreshes
itself (app.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ocb_pipelines.services.dagster_runs import unfinished_runs
from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.web.security import role, settings_of
from ocb_pipelines.web.templating import render

router = APIRouter()
POLL_SECONDS = 5


@router.get("/status")
def running_now(request: Request, user: Annotated[DeskUser, Depends(role("viewer"))], was_running: int = 0,
                ) -> Response:
    runs = unfinished_runs(settings_of(request))
    if was_running and not runs:
        return Response(status_code=200, headers={"HX-Refresh": "true"})
    return render(request, "_status.html", {"runs": runs, "poll": POLL_SECONDS})
