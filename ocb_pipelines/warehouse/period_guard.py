"""The period guard every write passes: a closed or finalized billing month refuses changes."""

from __future__ import annotations

import duckdb

from ocb_pipelines.warehouse.audit import now_utc


class PeriodLockedError(RuntimeError):
    """A write to a closed or finalized billing month was refused."""


def period_status(con: duckdb.DuckDBPyConnection, period: str) -> str | None:
    """The month's status (open, closed, finalized), None when the month has no period row yet."""
    rows = con.execute("SELECT status FROM billing_periods WHERE period = ?", [period]).fetchall()
    return rows[0][0] if rows else None


def ensure_period_open(con: duckdb.DuckDBPyConnection, period: str, actor: str, *, action: str) -> None:
    """The guard every write passes: create the month as open if new, refuse closed or finalized months."""
    status = period_status(con, period)
    if status is None:
        con.execute(
            "INSERT INTO billing_periods (period, status, opened_at, opened_by) VALUES (?, 'open', ?, ?) "
            "ON CONFLICT DO NOTHING",
            [period, now_utc(), actor],
        )
        return
    if status == "closed":
        raise PeriodLockedError(
            f"billing month {period} is closed, so {action} is refused. Reopen it first with "
            f"`ocb periods reopen {period} --reason \"...\"`, or correct it in the next open month."
        )
    if status == "finalized":
        raise PeriodLockedError(
            f"billing month {period} is finalized and can never change, so {action} is refused. "
            f"Book late data or corrections in the next open month."
        )
