"""`/months/YYYY-MM/journal`: export the closed month's journal in each format (admin), download each export, and
the export history.

An export calls services.journal.export_journal_file as the signed-in user, like `ocb export-journal`: the GL
journal is a Dagster run of journal_job tagged with the user, the other layouts are written by the service. Files
are served by their export id from output.journal_dir under a fixed name (services.journal.export_download).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from ocb_pipelines.services import journal as svc
from ocb_pipelines.services import periods
from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.services.downloads import DownloadUnavailable
from ocb_pipelines.web.page_helpers import done, path_month, pop_notice, refused, send_file
from ocb_pipelines.web.security import acting, desk_context, role
from ocb_pipelines.web.templating import render

router = APIRouter()
Viewer = Annotated[DeskUser, Depends(role("viewer"))]
Admin = Annotated[DeskUser, Depends(acting("admin"))]
FORMAT_HELP = {
    "gl": "the balanced GL journal (debits = credits) from journal.template, for the ledger's import",
    "standard": "one line per approved charge",
    "summary": "one line per PI, project and fund",
    "openchargeback": "OpenChargeback's columns: one line per PI, project and service, with a resource count",
}


@router.get("/months/{month}/journal")
def journal_page(request: Request, user: Viewer, month: str) -> Response:
    """The formats to export (admin, closed or finalized month) and every export of the month, newest first."""
    key = path_month(month)
    ctx = desk_context(request, user)
    status = next((p.status for p in periods.list_periods(ctx) if p.period == key), "open")
    return render(request, "journal.html", {
        "title": f"Journal {key}", "month": key, "status": status, "exports": svc.export_history(ctx, key),
        "formats": [(f, FORMAT_HELP.get(f, "")) for f in svc.FORMATS], "notice": pop_notice(request),
    })


@router.post("/months/{month}/journal/export")
def export_journal(request: Request, user: Admin, month: str, format: Annotated[str, Form()] = svc.GL) -> Response:
    """Export the month's journal in `format`; a refusal lists every culprit (e.g. a fund the journal's rule
    refuses), and nothing is written then."""
    key = path_month(month)
    back = f"/months/{key}/journal"
    if format not in svc.FORMATS:
        return refused(request, f"unknown journal format {format!r}: one of {', '.join(svc.FORMATS)}", back,
                       status_code=400)
    try:
        export = svc.export_journal_file(desk_context(request, user), key, format)
    except svc.JournalExportRefused as exc:
        return refused(request, str(exc).strip().splitlines()[0], back, exc.problems)
    verb = "unchanged (identical to the last export)" if export.status == "unchanged" else "written"
    return done(request, back, f"{key} {format} journal {verb}: export {export.export_id}, {export.lines} line(s) "
                               f"from {export.charges} charge(s).")


@router.get("/months/{month}/journal/exports/{export_id}")
def journal_download(request: Request, user: Viewer, month: str, export_id: int) -> Response:
    """One export's file, found by its id, as a download under a fixed name."""
    key = path_month(month)
    try:
        download = svc.export_download(desk_context(request, user), key, export_id)
    except DownloadUnavailable as exc:
        raise HTTPException(404, str(exc)) from None
    return send_file(download)
