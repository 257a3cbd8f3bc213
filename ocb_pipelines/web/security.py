"""Who is asking, and may they: signed session cookies, bearer tokens, a trusted proxy header, roles and CSRF.

Every page and API route names the least role it needs with `viewer`, `reviewer` or `admin` (GET) or
`acting_viewer`... (`acting(role)`, POST): the acting form also checks the CSRF token. A request signed in by a
bearer token (scripts) carries no cookie, so it needs no CSRF token. A disabled user is refused at the next
request, whatever signed them in.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import Request

from ocb_pipelines.app import app_context
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.services import desk_users
from ocb_pipelines.services.context import AppContext
from ocb_pipelines.services.desk_users import DeskUser
from ocb_pipelines.web.settings import DeskSettings

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_USER = "user"
SESSION_CSRF = "csrf"


class NotSignedIn(Exception):
    """No valid session, token or proxy header: pages redirect to /login, the API answers 401."""


class Forbidden(Exception):
    """Signed in, but the role does not allow this (403), or the CSRF token is missing or wrong (403)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def settings_of(request: Request) -> OcbSettings:
    return request.app.state.settings


def desk_of(request: Request) -> DeskSettings:
    return request.app.state.desk


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def current_user(request: Request) -> DeskUser | None:
    """The user of this request: a bearer token, else the trusted proxy header (when configured), else the
    session cookie. Looked up on every request, so a disabled user is out at once."""
    cached = getattr(request.state, "user", None)
    if cached is not None:
        return cached
    settings, desk = settings_of(request), desk_of(request)
    user: DeskUser | None = None
    token = bearer_token(request)
    if token:
        user = desk_users.user_for_token(settings, token)
    elif desk.trusted_user_header and request.headers.get(desk.trusted_user_header):
        user = desk_users.get_user(settings, request.headers[desk.trusted_user_header].strip())
    elif "session" in request.scope and request.session.get(SESSION_USER):
        user = desk_users.get_user(settings, str(request.session[SESSION_USER]))
    if user is not None and user.disabled:
        user = None
    request.state.user = user
    return user


def csrf_token(request: Request) -> str:
    """This session's CSRF token (made on first use); every form carries it as a hidden field."""
    token = request.session.get(SESSION_CSRF)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


async def check_csrf(request: Request) -> None:
    """A cookie-authenticated POST must carry the session's token (form field or X-CSRF-Token header)."""
    if bearer_token(request):
        return
    expected = request.session.get(SESSION_CSRF, "") if "session" in request.scope else ""
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and "form" in request.headers.get("content-type", ""):
        sent = str((await request.form()).get(CSRF_FIELD, ""))
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        await request.close()  # a refused upload's files (spooled to disk by the form parser) are let go now
        raise Forbidden("this form has expired or did not come from the desk (CSRF token missing or wrong): "
                        "reload the page and try again")


def role(minimum: str) -> Callable[[Request], Any]:
    """A dependency: the signed-in user, if their role is at least `minimum` (viewer < reviewer < admin)."""

    def signed_in_as(request: Request) -> DeskUser:
        user = current_user(request)
        if user is None:
            raise NotSignedIn()
        if not user.can(minimum):
            raise Forbidden(f"{user.username} is a {user.role}: this needs the {minimum} role")
        return user

    return signed_in_as


def acting(minimum: str) -> Callable[[Request], Any]:
    """A dependency for a POST that changes something: the role check, then the CSRF check."""
    check_role = role(minimum)

    async def acting_as(request: Request) -> DeskUser:
        user = check_role(request)
        await check_csrf(request)
        return user

    return acting_as


def desk_context(request: Request, user: DeskUser) -> AppContext:
    """The application context of this request: the signed-in user acts (audit, run tags), and a warehouse held
    by another process raises WarehouseBusy at once rather than making the page wait."""
    return app_context(settings_of(request), actor=user.username, trigger="desk", lock_wait_seconds=0)
