"""The billing months of a file, judged on its BillingPeriodStart before anything is imported.

A file's months come from its BillingPeriodStart values. A value that is not a FOCUS date/time (`4/1/25`, which
a timestamp cast reads as the year 4) or that is not a date at all (`2025-13-01`) gives no billing month, and a
month that is no billing month (`core.billing_month.BillingMonth.parse`) or that lies outside the billing
calendar (2020-01 to the running month, `calendar_problem`) is none either: the file is refused at inspection,
naming the file, row, column and value, as the FOCUS gate does, instead of a month that would stop the import
later with a traceback. The test runs on the file's distinct start values (a handful); only a
refused file is read again, row by row in DuckDB, to name its first bad rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import duckdb

from ocb_pipelines.core.billing_month import BillingMonth, BillingMonthError
from ocb_pipelines.ingest.focus import utc_timestamp_sql
from ocb_pipelines.ingest.schemas import DATETIME_PROBLEM, DATETIME_RE, NOT_A_REAL_DATE, GateFailure

COLUMN = "BillingPeriodStart"
# The billing calendar: from this month to the current one (UTC), as defs/partitions.billing_month (start_date;
# end_offset=1 adds the running month, which providers restate month to date). A row further out (2030-06 in a
# 2025-06 export) is a mistake in the export, never a
# month to bill: the whole file is refused, naming the row and value.
CALENDAR_START = "2020-01"


def calendar_end(today: datetime | None = None) -> str:
    """The last month of the billing calendar: the month of `today` (UTC), the one running."""
    return BillingMonth.of(today or datetime.now(UTC)).key


def calendar_problem(month: str, today: datetime | None = None) -> str | None:
    """Why a well-formed billing month is not one to bill (outside the calendar), or None."""
    end = calendar_end(today)
    if BillingMonth.parse(CALENDAR_START) <= BillingMonth.parse(month) <= BillingMonth.parse(end):
        return None
    return (f"falls in {month}, outside the billing calendar ({CALENDAR_START} to {end}, the running "
            "month); correct the date in the export")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _not_a_date(value: str) -> str:
    """SQL: the text is there but is not a FOCUS date/time that parses to a real instant."""
    return (f"({value} IS NOT NULL AND NOT coalesce(regexp_full_match({value}, {_literal(DATETIME_RE)}) "
            f"AND {utc_timestamp_sql(value)} IS NOT NULL, false))")


def months_sql(reader: str, start: str, month_of: Callable[[str], str]) -> str:
    """Per billing month of the file: (month, rows, whether some start of it is not a FOCUS date). `start` is
    the BillingPeriodStart column as text in `reader`; `month_of` the SQL of a text's month."""
    return (
        f"SELECT {month_of('start')} AS m, sum(n)::BIGINT, bool_or({_not_a_date('start')}) "
        f"FROM (SELECT nullif({start}, '') AS start, count(*) AS n FROM {reader} GROUP BY ALL) "
        "GROUP BY ALL ORDER BY m"
    )


def bad_start_failures(
    con: duckdb.DuckDBPyConnection,
    reader: str,
    start: str,
    month_of: Callable[[str], str],
    judged: list[tuple[str | None, int, bool]],
    limit: int = 20,
) -> list[GateFailure]:
    """The first rows whose BillingPeriodStart gives no billing month (empty when every month is good).
    `judged` is what `months_sql` returned."""
    problems: dict[str, str] = {}  # bad month -> why
    for month, _, not_a_date in judged:
        if month is None or not_a_date:
            continue
        try:
            BillingMonth.parse(month)
        except BillingMonthError as exc:
            problems[month] = str(exc)
            continue
        if outside := calendar_problem(month):
            problems[month] = outside
    if not problems and not any(bad for _, _, bad in judged):
        return []
    month = month_of("start")
    bad_months = "[" + ", ".join(_literal(m) for m in problems) + "]::VARCHAR[]"
    rows = con.execute(
        f"SELECT r, start, {_not_a_date('start')}, regexp_full_match(start, {_literal(DATETIME_RE)}), {month} FROM ("
        f"SELECT row_number() OVER () AS r, nullif({start}, '') AS start FROM {reader}) "
        f"WHERE {_not_a_date('start')} OR list_contains({bad_months}, {month}) ORDER BY r LIMIT {int(limit)}"
    ).fetchall()
    return [GateFailure(int(r), COLUMN, value,
                        (NOT_A_REAL_DATE if well_formed else DATETIME_PROBLEM) if not_a_date else problems[m])
            for r, value, not_a_date, well_formed, m in rows]


def earliest_imported_month(con: duckdb.DuckDBPyConnection) -> str | None:
    """The first month any file was imported into (None on a warehouse with no import yet)."""
    return con.execute("SELECT min(billing_month) FROM import_files").fetchone()[0]
