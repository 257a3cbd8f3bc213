"""Bring OpenChargeback's past months in (`ocb import-history`, later the desk): its billing.db, opened read-only,
becomes finalized months here with their charges, decisions, statements, email log and journal exports.

The months are written by history.openchargeback in the warehouse's own transactions with their audit records;
nothing of it changes an asset's data through Dagster (they arrive finalized), so no job runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from ocb_pipelines.history.openchargeback import HistoryResult, import_history
from ocb_pipelines.services.context import AppContext


def import_openchargeback_history(ctx: AppContext, database: str | Path, *, periods: Sequence[str] = (),
                                  zone: ZoneInfo | None = None) -> HistoryResult:
    """Import OpenChargeback's closed or finalized months (only `periods`, when given); HistoryError if the
    database cannot be read as OpenChargeback's."""
    with ctx.connection() as con:
        return import_history(con, ctx.settings, database, periods=tuple(periods), zone=zone or ZoneInfo("UTC"))
