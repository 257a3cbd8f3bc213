"""`/months/YYYY-MM/statements`: the month's statements (preview and download, PDF and CSV), rendering them,
sending the unsent ones, resending one PI's email on purpose with a note, and the delivery log.

The actions call the same services as `ocb generate`, `ocb send` and `ocb resend` (each a Dagster run tagged with
the signed-in user). Files are found by the statement's id among the month's recorded statements and served from
the statements folder under a fixed name (services.statements.statement_download): nothing in a request or a
billing file becomes a path.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from ocb_pipelines.services import deliveries, periods
from ocb_pipelines.services import statements as svc
from ocb_pipelines.services.context import AppContext
from ocb_pipelines.services.deliveries import DeliveryError
from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.services.downloads import DownloadUnavailable
from ocb_pipelines.web.page_helpers import done, path_month, pop_notice, refused, send_file
from ocb_pipelines.web.security import acting, desk_context, role
from ocb_pipelines.web.templating import render

router = APIRouter()
Viewer = Annotated[DeskUser, Depends(role("viewer"))]
Admin = Annotated[DeskUser, Depends(acting("admin"))]
STATE_WORDS = {"delivered": "sent", "uncertain": "uncertain", "failed": "failed", "not_sent": "not sent"}


def _status(ctx: AppContext, month: str) -> str:
    return next((p.status for p in periods.list_periods(ctx) if p.period == month), "open")


@router.get("/months/{month}/statements")
def statements_page(request: Request, user: Viewer, month: str) -> Response:
    """Each statement (PI, project, list price, subsidy, billed, email state) with its preview and files, the
    admin's actions the month's status allows, and every email attempt of the month."""
    key = path_month(month)
    ctx = desk_context(request, user)
    rows = svc.month_statements(ctx, key)
    states = {s["pi_email"]: s for s in deliveries.pi_states(ctx, key)} if rows else {}
    return render(request, "statements.html", {
        "title": f"Statements {key}", "month": key, "status": _status(ctx, key), "statements": rows,
        "states": states, "state_words": STATE_WORDS, "pis": sorted({r["pi_email"] for r in rows}),
        "deliveries": deliveries.list_deliveries(ctx, key), "notice": pop_notice(request),
        "billed_total": sum((r["billed_total"] for r in rows), start=0),
        "list_total": sum((r["list_total"] for r in rows), start=0),
        "discount_total": sum((r["discount_total"] for r in rows), start=0),
    })


def _statement(ctx: AppContext, month: str, statement_id: str) -> dict:
    found = next((s for s in svc.month_statements(ctx, month) if s["statement_key"] == statement_id), None)
    if found is None:
        raise HTTPException(404, f"no statement {statement_id!r} in {month}")
    return found


@router.get("/months/{month}/statements/{statement_id}")
def statement_preview(request: Request, user: Viewer, month: str, statement_id: str) -> Response:
    """One statement: its figures and fund shares, the PDF shown inline, and its files to download."""
    key = path_month(month)
    statement = _statement(desk_context(request, user), key, statement_id)
    return render(request, "statement.html", {"title": f"Statement {statement['pi_email']} {key}", "month": key,
                                              "s": statement})


def _file(request: Request, user: DeskUser, month: str, statement_id: str, fmt: str, inline: bool) -> Response:
    key = path_month(month)
    try:
        download = svc.statement_download(desk_context(request, user), key, statement_id, fmt)
    except DownloadUnavailable as exc:
        raise HTTPException(404, str(exc)) from None
    return send_file(download, inline=inline)


@router.get("/months/{month}/statements/{statement_id}/view/{fmt}")
def statement_view(request: Request, user: Viewer, month: str, statement_id: str, fmt: str) -> Response:
    """A statement's file shown in the browser (Content-Disposition: inline): the preview's PDF."""
    return _file(request, user, month, statement_id, fmt, inline=True)


@router.get("/months/{month}/statements/{statement_id}/download/{fmt}")
def statement_file(request: Request, user: Viewer, month: str, statement_id: str, fmt: str) -> Response:
    """A statement's file as a download, under its fixed name."""
    return _file(request, user, month, statement_id, fmt, inline=False)


@router.post("/months/{month}/statements/render")
def render_statements(request: Request, user: Admin, month: str) -> Response:
    """Render the closed month's statements (only what changed), as a run tagged with the user."""
    key = path_month(month)
    report = svc.render_statements(desk_context(request, user), key)
    if not report.ok:
        return refused(request, report.run.error or "rendering the statements failed", f"/months/{key}/statements")
    meta = report.metadata
    return done(request, f"/months/{key}/statements",
                f"{len(report.statements)} statement(s) of {key}: rendered {meta.get('rendered', 0)}, unchanged "
                f"{meta.get('unchanged', 0)}, removed {meta.get('removed', 0)}.")


def _sent(request: Request, month: str, report: deliveries.SendReport, what: str) -> Response:
    back = f"/months/{month}/statements"
    if not report.run.success:
        return refused(request, report.run.error or "the send failed", back)
    if not report.emails:
        return done(request, back, f"Nothing to send: every PI already has the email of {month}.")
    totals = report.totals
    left = ", ".join(f"{totals[k]} {STATE_WORDS[k]}" for k in ("uncertain", "failed", "not_sent") if totals[k])
    return done(request, back, f"{what}: {len(report.emails)} email(s) attempted, {totals['delivered']} delivered"
                               + (f"; not delivered: {left} (see the delivery log)" if left else "") + ".")


@router.post("/months/{month}/statements/send")
def send_unsent(request: Request, user: Admin, month: str) -> Response:
    """Email the statements not sent yet (and retry failed ones); a PI who has the email is not sent it again."""
    key = path_month(month)
    return _sent(request, key, deliveries.send_statements(desk_context(request, user), key), "Sent")


@router.post("/months/{month}/statements/resend")
def resend_one(request: Request, user: Admin, month: str, pi: Annotated[str, Form()] = "",
               note: Annotated[str, Form()] = "") -> Response:
    """Send one PI's email again on purpose; the note (why) is required and kept in the delivery log."""
    key = path_month(month)
    if not pi.strip():
        return refused(request, "choose the PI whose email is sent again", f"/months/{key}/statements",
                       status_code=400)
    try:
        report = deliveries.send_statements(desk_context(request, user), key, resend=[pi.strip()],
                                            reason=note.strip())
    except DeliveryError as exc:
        return refused(request, str(exc), f"/months/{key}/statements", status_code=400)
    return _sent(request, key, report, f"Resent to {pi.strip()}")
