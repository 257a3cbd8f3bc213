"""The billing calendar: the months a warehouse bills, from its first billing month to the running one.

The Dagster partitions, the inbox sensor and the import command all take it from here, so the UI shows only
real months (not every month since 2020). The first month is `imports.first_month` when configured; otherwise
the earliest month imported. A warehouse that cannot be read at that moment (no import yet, or another process
writing it) gives the widest calendar (ingest.billing_months.CALENDAR_START): the answer must never make a
month that a run is about to bill unknown to Dagster.
"""

from __future__ import annotations

import duckdb

from ocb_pipelines.core.billing_month import BillingMonth
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.ingest.billing_months import CALENDAR_START, calendar_end, earliest_imported_month
from ocb_pipelines.warehouse.connection import read_only


def first_billing_month(settings: OcbSettings, *, including: str | None = None) -> str:
    """The calendar's first month; `including` (a month a command is about to import) extends it back when the
    first month is not configured (a configured one is refused earlier, by `before_first_month`)."""
    if settings.imports.first_month:
        return settings.imports.first_month
    try:
        with read_only(settings.warehouse_path) as con:
            earliest = earliest_imported_month(con)
    except (duckdb.Error, OSError):
        earliest = None
    if earliest is None:
        return CALENDAR_START
    return min(earliest, including) if including else earliest


def billing_calendar(settings: OcbSettings) -> list[str]:
    """Every month of the calendar, oldest first (the running month last)."""
    month, end = BillingMonth.parse(first_billing_month(settings)), BillingMonth.parse(calendar_end())
    months = []
    while month <= end:
        months.append(month.key)
        month = month.next()
    return months


def before_first_month(settings: OcbSettings, month: str) -> str | None:
    """Why `month` may not be imported because it precedes the configured first month, or None."""
    first = settings.imports.first_month
    if first and BillingMonth.parse(month) < BillingMonth.parse(first):
        return (f"month {month} is before the first billing month {first} (imports.first_month in "
                f"{settings.config_path.name}); set an earlier first_month to bill it")
    return None
