"""`/months/YYYY-MM/unbilled`: what of the month was imported and billed to no PI's project, by source and reason,
with the totals it reconciles with, each line linked to its charge; and the same lines as CSV.

Finance's question at month end ("what went unbilled, and why?"): services.unbilled.unbilled_report, the report
`ocb unbilled` prints and the `unbilled_report` asset writes. Reading it changes nothing, so any desk user may.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from ocb_pipelines.services import unbilled as svc
from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.web.page_helpers import path_month
from ocb_pipelines.web.security import desk_context, role
from ocb_pipelines.web.templating import render

router = APIRouter()
Viewer = Annotated[DeskUser, Depends(role("viewer"))]
SHOWN_LINES = 500  # more are in the CSV
REASON_HELP = {
    "rejected": "a reviewer rejected it (the note is theirs)",
    "ownerless": "no PI or no project: it reached no PI's project statement",
    "pending": "still in review",
    "zero_priced": "approved and billed 0 while its list price or quantity is above 0",
}


def _report(request: Request, user: DeskUser, month: str):
    try:
        return svc.unbilled_report(desk_context(request, user), path_month(month))
    except svc.UnbilledRefused as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/months/{month}/unbilled")
def unbilled_page(request: Request, user: Viewer, month: str) -> Response:
    """The totals (imported = approved + pending + rejected, and what reached a statement), the money by source
    and reason, and the first SHOWN_LINES lines."""
    report = _report(request, user, month)
    return render(request, "unbilled.html", {
        "title": f"Unbilled {report.month}", "month": report.month, "report": report, "totals": report.totals(),
        "problems": report.problems(), "lines": report.lines[:SHOWN_LINES],
        "more": max(0, len(report.lines) - SHOWN_LINES), "reason_help": REASON_HELP,
    })


@router.get("/months/{month}/unbilled.csv")
def unbilled_csv(request: Request, user: Viewer, month: str) -> Response:
    """Every line of the report as CSV (values from files never run as spreadsheet formulas)."""
    report = _report(request, user, month)
    try:
        text = report.csv_text()
    except svc.UnbilledRefused as exc:
        raise HTTPException(409, str(exc)) from None
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="unbilled_{report.month}.csv"', "Cache-Control": "no-store"})
