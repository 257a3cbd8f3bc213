"""The desk's routes, one module per page (and the JSON API): each module has a `router`."""

from __future__ import annotations

from ocb_pipelines.web.routes import (
    api,
    api_decisions,
    audit,
    auth,
    charges,
    imports,
    journal,
    month_page,
    months,
    pis,
    review,
    settings_page,
    statements,
    status,
    unbilled,
)

ROUTERS = [auth.router, months.router, month_page.router, review.router, charges.router, pis.router, imports.router,
           statements.router, journal.router, unbilled.router, audit.router, settings_page.router, api.router,
           api_decisions.router, status.router]
