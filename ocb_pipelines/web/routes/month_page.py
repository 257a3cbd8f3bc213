"""`/months/YYYY-MM`: one month (totals by source and review status, pending by reason, whether it reconciles),
and its period actions for admins: close, reopen (with a reason) and finalize.

Each action is a plain form POST that calls services.periods as the signed-in user (the audit names them; the
close's rebuild runs as a Dagster run tagged with them), then answers 303 back to the month with a notice, or an
error page with the refusal as the services word it (a close refused while charges are pending says how many).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from ocb_pipelines.services import periods
from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.services.month_overview import month_overview
from ocb_pipelines.web.page_helpers import done, path_month, pop_notice, refused
from ocb_pipelines.web.security import acting, desk_context, role
from ocb_pipelines.web.templating import render

router = APIRouter()
Viewer = Annotated[DeskUser, Depends(role("viewer"))]
Admin = Annotated[DeskUser, Depends(acting("admin"))]
Note = Annotated[str, Form()]


@router.get("/months/{month}")
def month_page(request: Request, user: Viewer, month: str) -> Response:
    """The month's figures to the cent, its status and period record, pending money by reason (each a link to
    the queue filtered by it), and the actions its status allows."""
    key = path_month(month)
    overview = month_overview(desk_context(request, user), key)
    if not overview.known:
        raise HTTPException(404, f"billing month {key}: nothing imported and no period opened")
    figures = overview.summary.figures
    return render(request, "month.html", {
        "title": f"Billing month {key}", "month": key, "o": overview, "f": figures,
        "problems": figures.problems(request.app.state.settings.currency.symbol),
        "notice": pop_notice(request),
    })


def _act(request: Request, user: DeskUser, month: str, verb: str, call) -> Response:
    key = path_month(month)
    try:
        call(desk_context(request, user), key)
    except periods.PeriodTransitionError as exc:
        return refused(request, str(exc), f"/months/{key}")
    return done(request, f"/months/{key}", f"Billing month {key} {verb} by {user.username}.")


@router.post("/months/{month}/close")
def close_month(request: Request, user: Admin, month: str, note: Note = "", provisional_reason: Note = "",
                invoice_reason: Note = "") -> Response:
    """Close: the approved charges are rebuilt (a run tagged with the user), then the close checks in its
    transaction that the month reconciles, nothing is pending, no provisional row remains and every invoice
    matches our charges (unless the form gives a reason to close anyway, as `--allow-provisional` and
    `--allow-invoice-difference` with `--reason` do)."""
    return _act(request, user, month, "is closed",
                lambda ctx, key: periods.close_period(ctx, key, note.strip() or None,
                                                      provisional_reason=provisional_reason.strip() or None,
                                                      invoice_reason=invoice_reason.strip() or None))


@router.post("/months/{month}/reopen")
def reopen_month(request: Request, user: Admin, month: str, reason: Note = "") -> Response:
    """Reopen a closed month; the reason is required (the services refuse without one) and kept."""
    return _act(request, user, month, "is open again",
                lambda ctx, key: periods.reopen_period(ctx, key, reason.strip() or None))


@router.post("/months/{month}/finalize")
def finalize_month(request: Request, user: Admin, month: str, note: Note = "") -> Response:
    """Finalize a closed month whose statements exist: it never changes again."""
    return _act(request, user, month, "is finalized",
                lambda ctx, key: periods.finalize_period(ctx, key, note.strip() or None))
