"""Sign in and out. Login attempts are throttled per user name (ocb_pipelines.desk.users)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from ocb_pipelines.services import desk_users
from ocb_pipelines.services.desk_users import LoginThrottled
from ocb_pipelines.web.security import SESSION_CSRF, SESSION_USER, check_csrf, current_user, settings_of
from ocb_pipelines.web.templating import render

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never `//host` or a scheme): no open redirect after sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    if current_user(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", {"next": _safe_next(next), "error": ""})


@router.post("/login", dependencies=[Depends(check_csrf)])
def login(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()],
          next: Annotated[str, Form()] = "/") -> Response:
    try:
        user = desk_users.authenticate(settings_of(request), username.strip(), password)
    except LoginThrottled as exc:
        return render(request, "login.html", {"next": _safe_next(next), "error": str(exc), "username": username},
                      status_code=429)
    if user is None:
        return render(request, "login.html", {"next": _safe_next(next), "username": username,
                                              "error": "wrong user name or password"}, status_code=401)
    request.session.clear()  # a new session (and CSRF token) at sign-in
    request.session[SESSION_USER] = user.username
    request.session[SESSION_CSRF] = None
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
