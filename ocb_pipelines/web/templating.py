"""The desk's Jinja2 templates: autoescaped (a tag value is always text), with the helpers every page uses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from ocb_pipelines.core.money import format_money
from ocb_pipelines.web.security import CSRF_FIELD, csrf_token, current_user, desk_of

TEMPLATES_DIR = Path(__file__).parent / "templates"


def _money(value: Any, symbol: str = "$") -> str:
    if value is None or value == "":
        return ""
    return format_money(Decimal(str(value)), symbol)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.autoescape = True  # every template, whatever its name: values from files are text, never HTML
    env.filters["money"] = _money
    env.globals["CSRF_FIELD"] = CSRF_FIELD
    return templates


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200,
           headers: dict[str, str] | None = None):
    """A page, with the signed-in user, the CSRF token and the Dagster UI's address in its context."""
    templates: Jinja2Templates = request.app.state.templates
    user = current_user(request) if "session" in request.scope else None
    base = {"user": user, "csrf": csrf_token(request) if "session" in request.scope else "",
            "dagster_url": desk_of(request).dagster_url,
            "currency": request.app.state.settings.currency.symbol}
    return templates.TemplateResponse(request, name, {**base, **(context or {})}, status_code=status_code,
                                      headers=headers)
