"""The desk application: `create_app(settings)` builds the FastAPI app `ocb serve` runs under uvicorn."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.services.context import WarehouseBusy
from ocb_pipelines.services.dagster_runs import unfinished_runs
from ocb_pipelines.web.decision_worker import QueuedDecisionWorker
from ocb_pipelines.web.routes import ROUTERS
from ocb_pipelines.web.security import Forbidden, NotSignedIn, is_api
from ocb_pipelines.web.settings import DeskSettings
from ocb_pipelines.web.templating import make_templates, render

STATIC_DIR = Path(__file__).parent / "static"
BUSY_REFRESH_SECONDS = 5
log = logging.getLogger("ocb.desk")


def create_app(settings: OcbSettings, desk: DeskSettings | None = None) -> FastAPI:
    """The desk for one configuration: pages, the JSON API under /api/v1, and the vendored static files."""
    desk = desk or DeskSettings.from_settings(settings)
    # No Swagger page: it loads its script from a CDN, which an air-gapped site lacks and the CSP refuses; the
    # schema itself is served (docs/review-desk.md).
    app = FastAPI(title="ocb review desk", docs_url=None, redoc_url=None, openapi_url="/api/v1/openapi.json",
                  lifespan=_lifespan)
    app.state.settings = settings
    app.state.desk = desk
    app.state.templates = make_templates()
    app.add_middleware(SessionMiddleware, secret_key=desk.secret_key, session_cookie="ocb_desk",
                       max_age=int(desk.session_hours * 3600), same_site="strict", https_only=desk.secure_cookie)
    app.add_middleware(_SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
    _add_error_pages(app)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While the desk runs, a thread applies the decisions queued while the warehouse was busy."""
    worker = QueuedDecisionWorker(app.state.settings)
    worker.start()
    app.state.decision_worker = worker
    try:
        yield
    finally:
        await run_in_threadpool(worker.stop)


class _SecurityHeaders:
    """Framed only by the desk itself (the statement preview), no sniffing, scripts only from the desk
    (htmx is vendored: no CDN)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers += [(b"x-frame-options", b"SAMEORIGIN"), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"same-origin"),
                            (b"content-security-policy",
                             b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                             b"frame-src 'self'; object-src 'self'; frame-ancestors 'self'")]
            await send(message)

        return await self.app(scope, receive, with_headers)


def _add_error_pages(app: FastAPI) -> None:
    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if is_api(request):
            return JSONResponse({"ok": False, "error": "not signed in: send Authorization: Bearer TOKEN"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={target}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if is_api(request):
            return JSONResponse({"ok": False, "error": exc.message}, status_code=403)
        return render(request, "error.html", {"title": "Not allowed", "message": exc.message}, status_code=403)

    @app.exception_handler(WarehouseBusy)
    async def busy(request: Request, exc: WarehouseBusy) -> Response:
        """Another process holds the warehouse (an import): answer at once with what is running, and refresh."""
        runs = unfinished_runs(request.app.state.settings)
        headers = {"Retry-After": str(BUSY_REFRESH_SECONDS)}
        if is_api(request):
            return JSONResponse({"ok": False, "busy": True, "error": str(exc), "running": runs},
                                status_code=503, headers=headers)
        return render(request, "busy.html", {"runs": runs, "refresh": BUSY_REFRESH_SECONDS, "reason": str(exc)},
                      status_code=503, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def bad_input(request: Request, exc: RequestValidationError) -> Response:
        """A missing or malformed parameter or body: 400 saying which and why, like every other refusal."""
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
        message = "bad request: " + "; ".join(problems)
        if is_api(request):
            return JSONResponse({"ok": False, "error": message}, status_code=400)
        return render(request, "error.html", {"title": "Refused", "message": message}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if is_api(request):
            return JSONResponse({"ok": False, "error": exc.detail}, status_code=exc.status_code)
        titles = {404: "Not found", 400: "Refused", 409: "Refused", 422: "Refused"}
        return render(request, "error.html", {"title": titles.get(exc.status_code, "Error"),
                                              "message": exc.detail}, status_code=exc.status_code)
