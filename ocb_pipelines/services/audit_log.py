"""Who did what, when: the audit events (imports, decisions, sheets, period changes, runs), filtered and paged.

`ocb audit` and the desk read the log through `audit_events`; pages are counted from the newest event, and each
page lists its events oldest first, as the log is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ocb_pipelines.services.context import AppContext


@dataclass(frozen=True)
class AuditPage:
    """One page of matching events (oldest first), how many match in all, and where the page starts."""

    events: list[dict[str, Any]]
    total: int
    limit: int | None
    offset: int

    @property
    def has_older(self) -> bool:
        """More matching events lie before this page (the next page back: offset + limit)."""
        return self.offset + len(self.events) < self.total

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "total": self.total, "limit": self.limit, "offset": self.offset,
                "has_older": self.has_older}


def audit_events(ctx: AppContext, *, period: str | None = None, action: str | None = None, actor: str | None = None,
                 subject: str | None = None, run_id: str | None = None, limit: int | None = None,
                 offset: int = 0) -> AuditPage:
    """The events matching every filter given; `limit` newest of them after skipping the `offset` newest."""
    if (limit is not None and limit < 0) or offset < 0:
        raise ValueError(f"limit and offset are counts (not below 0): limit {limit}, offset {offset}")
    where, params = ["TRUE"], []
    for column, value in (("period", period), ("action", action), ("actor", actor), ("subject", subject),
                          ("run_id", run_id)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    condition = " AND ".join(where)
    page = " LIMIT ? OFFSET ?" if limit is not None else " OFFSET ?"
    paging = [limit, offset] if limit is not None else [offset]
    with ctx.connection() as con:
        (total,) = con.execute(f"SELECT count(*) FROM audit_events WHERE {condition}", params).fetchall()[0]
        rows = con.execute(
            f"SELECT event_id, occurred_at, actor, action, period, run_id, subject, details FROM audit_events "
            f"WHERE {condition} ORDER BY event_id DESC{page}", params + paging,
        ).fetchall()
    events = [
        {"event_id": e, "occurred_at": at.isoformat(sep=" "), "actor": who, "action": what, "period": p,
         "run_id": run, "subject": subj, "details": json.loads(details) if details else {}}
        for e, at, who, what, p, run, subj, details in reversed(rows)
    ]
    return AuditPage(events, total, limit, offset)


@dataclass(frozen=True)
class AuditChoices:
    """The values the log holds for each filter (newest month first), so a form offers only ones that match."""

    periods: list[str]
    actors: list[str]
    actions: list[str]

    def as_dict(self) -> dict[str, list[str]]:
        return {"periods": self.periods, "actors": self.actors, "actions": self.actions}


def audit_choices(ctx: AppContext) -> AuditChoices:
    """Every month, actor and action that occurs in the audit log."""
    with ctx.connection() as con:
        periods, actors, actions = con.execute(
            "SELECT list(DISTINCT period ORDER BY period DESC) FILTER (WHERE period IS NOT NULL), "
            "list(DISTINCT actor ORDER BY actor), list(DISTINCT action ORDER BY action) FROM audit_events"
        ).fetchall()[0]
    return AuditChoices(periods or [], actors or [], actions or [])
