"""A PI's month: their projects with charges, money billed and billable, and review statuses (`ocb show`, the desk),
and on the desk's PI page their recent months as billed (statements.pi_history, as their statements print them).

Built on the review state (review/by_project.py sums it in DuckDB), so a corrected charge counts under the project
and PI the reviewer gave it, and billable money is exactly what reaches statements: pending and rejected are not.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from ocb_pipelines.review.by_project import counts_by_project
from ocb_pipelines.services.context import AppContext
from ocb_pipelines.statements.pi_history import STATEMENT_MONTHS, History, HistoryMonth, load_history

BILLABLE = ("unflagged", "approved", "corrected")  # what reaches statements; pending and rejected do not
NO_PROJECT = "(no project)"


@dataclass(frozen=True)
class PiView:
    """One PI's billing month: a row per project (charges, billed, billable, count per status) and the totals."""

    pi_email: str
    period: str
    projects: list[dict[str, Any]]
    currency: str

    @property
    def billed_total(self) -> Decimal:
        return sum((p["billed"] for p in self.projects), Decimal(0))

    @property
    def billable_total(self) -> Decimal:
        return sum((p["billable"] for p in self.projects), Decimal(0))

    @property
    def charges(self) -> int:
        return sum(p["charges"] for p in self.projects)

    def as_dict(self) -> dict[str, Any]:
        return {"pi_email": self.pi_email, "period": self.period, "projects": self.projects,
                "billed_total": self.billed_total, "billable_total": self.billable_total, "currency": self.currency}


def pi_projects(con: duckdb.DuckDBPyConnection, month: str, pi: str) -> list[dict[str, Any]]:
    """One PI's charges in a month, by project and review status (money exact), projects in name order."""
    projects: dict[str, dict] = defaultdict(
        lambda: {"charges": 0, "billed": Decimal(0), "billable": Decimal(0), "statuses": defaultdict(int)}
    )
    for project, status, count, billed in counts_by_project(con, month, pi=pi, no_project=NO_PROJECT):
        entry = projects[project]
        entry["charges"] += count
        entry["billed"] += billed
        if status in BILLABLE:
            entry["billable"] += billed
        entry["statuses"][status] += count
    return [{"project": p, "charges": e["charges"], "billed": e["billed"], "billable": e["billable"],
             "statuses": dict(e["statuses"])} for p, e in sorted(projects.items())]


def pi_view(ctx: AppContext, month: str, pi_email: str) -> PiView:
    """The PI's projects and totals for the month; no projects when the PI has no charges in it."""
    pi = pi_email.strip().lower()
    with ctx.connection() as con:
        projects = pi_projects(con, month, pi)
    return PiView(pi, month, projects, ctx.settings.currency.code)


@dataclass(frozen=True)
class PiPage:
    """The desk's page of a PI: the month as `pi_view` gives it, and the approved money of each of their projects
    over the month and the ones before it (statements.pi_history: `history.months` are those the warehouse has,
    `history.month_totals()` their sums over the PI's projects)."""

    view: PiView
    history: History

    @property
    def by_project(self) -> dict[str, list[HistoryMonth]]:
        """Project -> its months, oldest first (a gap: no charges that month, after some earlier in the window)."""
        return {project: rows for (_, project), rows in self.history.by_statement().items()}

    def as_dict(self) -> dict[str, Any]:
        """The month as `PiView.as_dict`, with the history: its months, each project's month and the sums."""
        h = self.history
        return {**self.view.as_dict(), "history": {
            "months": list(h.months),
            "rows": [{"month": r.month, "project": r.project_id, "list": r.list_total, "subsidy": r.subsidy_total,
                      "billed": r.billed_total, "lines": r.lines, "gap": r.gap} for r in h.rows],
            "month_totals": [{k: t[k] for k in ("month", "list", "subsidy", "billed", "lines")}
                             for t in h.month_totals()]}}


def pi_page(ctx: AppContext, month: str, pi_email: str, months: int = STATEMENT_MONTHS) -> PiPage:
    """A PI's month and their recent months: what a reviewer looks at before deciding their charges (is this month
    unlike the ones before?)."""
    pi = pi_email.strip().lower()
    with ctx.connection() as con:
        projects = pi_projects(con, month, pi)
        history = load_history(con, month, months, pi=pi)
    return PiPage(PiView(pi, month, projects, ctx.settings.currency.code), history)
