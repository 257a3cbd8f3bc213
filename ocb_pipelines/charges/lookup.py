"""Finding a charge when only its id is known: a link to `/charges/<id>` without its month (a pasted id, an
audit event's subject) still opens the charge."""

from __future__ import annotations

import duckdb


def charge_months(con: duckdb.DuckDBPyConnection, charge_id: str) -> list[str]:
    """The billing months holding a validated charge with this id, newest first (ids embed the month's data, so
    normally one)."""
    return [m for (m,) in con.execute(
        "SELECT DISTINCT billing_month FROM validated_lines WHERE charge_id = ? ORDER BY billing_month DESC",
        [charge_id],
    ).fetchall()]
