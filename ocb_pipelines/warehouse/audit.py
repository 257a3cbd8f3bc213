"""The audit log: who acts (`current_actor`), when (`now_utc`), and `record_audit`, one row per action."""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import duckdb

from ocb_pipelines.core.money import exact_text


def now_utc() -> datetime:
    """The time stored in the warehouse: naive UTC (connections run with TimeZone = 'UTC')."""
    return datetime.now(UTC).replace(tzinfo=None)


def current_actor() -> str:
    """Who is acting: $OCB_ACTOR, else the OS user. Never empty."""
    actor = os.environ.get("OCB_ACTOR", "").strip()
    if actor:
        return actor
    try:
        return getpass.getuser() or "unknown"
    except Exception:
        return f"uid:{os.getuid()}"


def _json_value(value: Any) -> str:
    """Audit details hold amounts as exact plain text (no `0E-12`), anything else as its text."""
    return exact_text(value) if isinstance(value, Decimal) else str(value)


def record_audit(
    con: duckdb.DuckDBPyConnection,
    *,
    actor: str,
    action: str,
    period: str | None = None,
    run_id: str | None = None,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit event (in the caller's transaction, so it is kept exactly when the change is)."""
    if not actor:
        raise ValueError("an audit event needs an actor")
    con.execute(
        "INSERT INTO audit_events (occurred_at, actor, action, period, run_id, subject, details) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [now_utc(), actor, action, period, run_id, subject, json.dumps(details or {}, default=_json_value)],
    )
