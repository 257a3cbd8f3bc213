"""The desk's routes, one module per page (and the JSON API): each module has a `router`."""

from __future__ import annotations

from ocb_pipelines.web.routes import (
    api,
    audit,
    auth,
    charges,
    imports,
    journal,
    months,
    review,
    settings_page,
    statements,
    status,
)

ROUTERS = [auth.router, months.router, review.router, charges.router, imports.router, statements.router,
           journal.router, audit.router, settings_page.router, api.router,
           status.router]
