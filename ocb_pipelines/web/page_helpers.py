"""What the month, statements and journal pages share: the month in the path, the notice an action leaves for
the page it redirects to, a refusal in the user's words, and a file sent under a fixed name."""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from ocb_pipelines.core.billing_month import BillingMonthError, month_key
from ocb_pipelines.services.downloads import Download
from ocb_pipelines.web.templating import render

SESSION_NOTICE = "notice"


def path_month(month: str) -> str:
    """The `YYYY-MM` key of the month in a page's path; 400 naming the value when it is not a billing month."""
    try:
        return month_key(month)
    except BillingMonthError as exc:
        raise HTTPException(400, str(exc)) from None


def done(request: Request, target: str, notice: str) -> Response:
    """After an action: 303 to `target`, which shows `notice` once (kept in the signed session, so no URL can
    make the desk show a made-up message)."""
    request.session[SESSION_NOTICE] = notice
    return RedirectResponse(target, status_code=303)


def pop_notice(request: Request) -> str:
    """The notice the last action left for this page ('' when none), shown once."""
    return str(request.session.pop(SESSION_NOTICE, "") or "")


def refused(request: Request, message: str, back: str, problems: list[str] | None = None,
            status_code: int = 409) -> Response:
    """An action the month's state refused: the reason as the services put it, every culprit, and a way back."""
    return render(request, "error.html", {"title": "Refused", "message": message, "problems": problems or [],
                                          "back": back}, status_code=status_code)


def send_file(download: Download, *, inline: bool = False) -> Response:
    """The file under its fixed, sanitised name: `inline` to show it in the browser (a PDF preview), else a
    download."""
    return FileResponse(download.path, media_type=download.media_type, filename=download.filename,
                        content_disposition_type="inline" if inline else "attachment",
                        headers={"Cache-Control": "no-store"})
