"""A usage file (Slurm sacct, a storage report) for a closed or finalized month: late usage, priced and adjusted.

A FOCUS file for a closed month carries its own amounts, so its difference from what the month booked is found
row by row (ingest/late.py). A usage file's lines have no amounts until the month is priced, and they can change
what the month's other lines cost (tiers are per project per month, subsidy rules per month). So the month is
priced again, twice, inside transactions that are rolled back (the pricer comes from the pricing layer, which
this one may not import):

1. without the file: it must give what the month booked. Otherwise today's rates or rules would change the month
   by themselves, and that change would be booked as if it were the file's (refused, naming the way on);
2. with the file's lines (and the latest lines of every earlier late usage file of the month) in place of the
   month's own lines of those files.

Each priced file whose rows differ (the late file, another usage file whose tier moved, the subsidy credits) then
goes through `late.book_late_rows`: kept against the month, the difference booked in the next open month for
review. The file's lines are kept in `late_usage_rows`, so the next late file of the month is priced with them.
A change to what the month used of a credit rule is refused: the months after it were priced counting on it.

Reopened, the month is priced from its own usage lines only: a file booked late refuses to go into it (one path
per file, as for FOCUS files), but a new usage file there is priced without the late lines, so its tiers can
differ from what their adjustments assumed (rare; re-pricing would have to take late_usage_rows in as well).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Protocol, TypeVar

import duckdb
import pyarrow

from ocb_pipelines.ingest import late
from ocb_pipelines.ingest.importer import FileImport
from ocb_pipelines.ingest.reading import ImportRefused
from ocb_pipelines.ingest.usage import USAGE_COLUMNS, ParsedUsage, drop_parsed, parse_usage
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines.warehouse.schema.ingest import IMPORTS_INSERT

LINE_COLUMNS = tuple(c for c in USAGE_COLUMNS if c != "import_key")
BILLED = wh.money_from_text('"BilledCost"')
LISTED = wh.money_from_text('coalesce("ListCost", "BilledCost")')
T = TypeVar("T")


class LateUsageNotPriced(ValueError):
    """The month cannot be priced with the file's lines (a job without a rate, a pricing file refused): the pricer
    says why in words."""


class PricedMonth(Protocol):
    rows: pyarrow.Table  # every priced FOCUS row of the month: source, file_name, file_sha256, focus_version, row
    credits: pyarrow.Table  # what the month used of the credit rules


class MonthPricer(Protocol):
    """pricing.late_usage.MonthRepricing: what a month booked, and the month priced again in this transaction."""

    def priced(self, con: duckdb.DuckDBPyConnection, month: str) -> PricedMonth: ...

    def reprice(self, con: duckdb.DuckDBPyConnection, month: str, actor: str) -> PricedMonth: ...


def late_usage_sha(con: duckdb.DuckDBPyConnection, source: str, file_name: str, month: str) -> str | None:
    """The sha256 of the file's latest late version for the month, None if it never came late."""
    found = con.execute("SELECT any_value(file_sha256) FROM late_usage_rows WHERE billing_month = ? AND source = ? "
                        "AND file_name = ?", [month, source, file_name]).fetchall()
    return found[0][0]


def keep_late_usage(con: duckdb.DuckDBPyConnection, path: Path, kind: str, month: str, source: str, sha: str,
                    pricer: MonthPricer, *, status: str, run_id: str | None, actor: str, max_errors: int,
                    timezone: str) -> FileImport:
    """Keep the file's lines for the locked `month`, price the month with them and book the differences (see the
    module); all of it in one transaction, or nothing."""
    parsed = parse_usage(con, path, kind, timezone, max_errors)
    try:
        (lines,) = con.execute(f"SELECT count(*) FROM {parsed.table} WHERE skip IS NULL AND billing_month = ?",
                               [month]).fetchall()[0]
        if not lines:
            raise ImportRefused(path.name, f"holds no usage line of {month} any more, and {month} is {status}: "
                                           "nothing was imported (late usage adds or corrects lines of a closed "
                                           "month; to take lines back, correct them in a file that still has them)")
        booked = pricer.priced(con, month)
        without = _rolled_back(con, lambda: pricer.reprice(con, month, actor))
        if _differs(con, booked.rows, without.rows) or _differs(con, booked.credits, without.credits):
            raise ImportRefused(path.name, (
                f"billing month {month} is {status}, and pricing it again with today's rates, fees, accounts and "
                "rules would change its charges even without this file, so its late usage cannot be told apart from "
                f"that change; nothing was imported. Put back what {month} was priced with (`ocb pricing months` "
                f"says what changed){' or reopen it and import the file there' if status == 'closed' else ''}"))

        def with_file() -> PricedMonth:
            _overlay(con, parsed, month, source, path.name, sha, kind)
            return pricer.reprice(con, month, actor)

        now = _rolled_back(con, with_file)
        if _differs(con, booked.credits, now.credits):
            way_on = f". Reopen {month}, import the file there and price the months after it again"
            raise ImportRefused(path.name, (
                f"its usage changes what billing month {month} ({status}) used of a credit rule, and the months "
                f"after it were priced counting on that; nothing was imported{way_on if status == 'closed' else ''}"))
        with wh.transaction(con):
            _keep_lines(con, parsed, month, source, path.name, sha, kind, run_id, actor)
            bookings = _book_changed_files(con, month, booked.rows, now.rows, path.name, parsed.file_format,
                                           run_id, actor)
            wh.record_audit(con, actor=actor, action="late_usage_import", period=month, run_id=run_id,
                            subject=path.name, details={"source": source, "sha256": sha, "lines": lines,
                                                        "month_status": status, "adjusted_files": sorted(bookings)})
        billed, listed = _file_totals(con, now.rows, source, path.name)
    except LateUsageNotPriced as exc:
        raise ImportRefused(path.name, f"billing month {month} is {status}, and it cannot be priced with this "
                                       f"file's usage, so nothing was imported: {exc}") from None
    finally:
        drop_parsed(con, parsed.table)
    return FileImport(path.name, source, month, "late", sha, kind, lines, billed, listed,
                      message=_describe(month, status, path.name, bookings),
                      booked_month=next((b.booked_month for b in bookings.values() if b.lines), ""))


def _rolled_back(con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
    """`work()` in a transaction that is always rolled back: what it read is all that is kept."""
    con.execute("BEGIN TRANSACTION")
    try:
        return work()
    finally:
        con.execute("ROLLBACK")


def _differs(con: duckdb.DuckDBPyConnection, left: pyarrow.Table, right: pyarrow.Table) -> bool:
    """Whether two tables of the same columns differ as multisets of rows (NULLs equal)."""
    con.register("late_usage_left", left)
    con.register("late_usage_right", right)
    try:
        return con.execute(
            "SELECT EXISTS (SELECT * FROM late_usage_left EXCEPT ALL SELECT * FROM late_usage_right) "
            "OR EXISTS (SELECT * FROM late_usage_right EXCEPT ALL SELECT * FROM late_usage_left)").fetchall()[0][0]
    finally:
        con.unregister("late_usage_left")
        con.unregister("late_usage_right")


def _overlay(con: duckdb.DuckDBPyConnection, parsed: ParsedUsage, month: str, source: str, file_name: str, sha: str,
             kind: str) -> None:
    """In the (rolled back) transaction: the month's usage with every late usage file's latest lines, and this
    file's, in place of the month's own lines of those files."""
    columns = ", ".join(LINE_COLUMNS)
    late_files = con.execute(
        "SELECT DISTINCT source, file_name, file_sha256, focus_version FROM late_usage_rows WHERE billing_month = ? "
        "AND NOT (source = ? AND file_name = ?) ORDER BY ALL", [month, source, file_name]).fetchall()
    for file_source, name, file_sha, version in [*late_files, (source, file_name, sha, kind)]:
        replaced = "SELECT import_key FROM imports WHERE billing_month = ? AND source = ? AND file_name = ?"
        for table in ("focus_rows", "usage_rows", "imports"):
            con.execute(f"DELETE FROM {table} WHERE import_key IN ({replaced})", [month, file_source, name])
        key = con.execute("SELECT coalesce(max(import_key), 0) + 1 FROM imports").fetchall()[0][0]
        con.execute(f"{IMPORTS_INSERT} VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, NULL)",
                    [key, uuid.uuid4().hex, month, file_source, name, file_sha, version, wh.now_utc()])
        if (file_source, name) == (source, file_name):
            lines = f"SELECT {columns} FROM {parsed.table} WHERE skip IS NULL AND billing_month = ?"
            params = [month]
        else:
            lines = (f"SELECT {columns} FROM late_usage_rows WHERE billing_month = ? AND source = ? "
                     "AND file_name = ?")
            params = [month, file_source, name]
        con.execute(f"INSERT INTO usage_rows BY NAME SELECT ? AS import_key, * FROM ({lines})", [key, *params])


def _keep_lines(con: duckdb.DuckDBPyConnection, parsed: ParsedUsage, month: str, source: str, file_name: str,
                sha: str, kind: str, run_id: str | None, actor: str) -> None:
    """This file's lines of the month in late_usage_rows, in place of its earlier late version's."""
    con.execute("DELETE FROM late_usage_rows WHERE billing_month = ? AND source = ? AND file_name = ?",
                [month, source, file_name])
    columns = ", ".join(LINE_COLUMNS)
    con.execute(
        f"INSERT INTO late_usage_rows BY NAME SELECT {columns}, ? AS source, ? AS file_name, ? AS file_sha256, "
        "? AS file_format, ? AS focus_version, ? AS imported_at, ? AS imported_by, ? AS run_id "
        f"FROM {parsed.table} WHERE skip IS NULL AND billing_month = ?",
        [source, file_name, sha, parsed.file_format, kind, wh.now_utc(), actor, run_id, month])


def _book_changed_files(con: duckdb.DuckDBPyConnection, month: str, booked: pyarrow.Table, now: pyarrow.Table,
                        late_file: str, late_format: str, run_id: str | None, actor: str
                        ) -> dict[str, late.LateBooking]:
    """Book, file by file, each priced file of the month whose rows now differ from what it booked (or that was
    adjusted before, so a difference taken back is booked back); file name -> its booking."""
    con.register("late_usage_booked", booked)
    con.register("late_usage_now", now)
    try:
        return _book_each(con, month, late_file, late_format, run_id, actor)
    finally:
        con.unregister("late_usage_booked")
        con.unregister("late_usage_now")


# Each priced file of the month: its sha256 and kind as priced now (the late file's own), else as booked (a file
# priced away), and whether any of its rows differ (a multiset difference either way, NULLs equal).
_FILES_SQL = """
    WITH now AS (SELECT * EXCLUDE (file_sha256, focus_version) FROM late_usage_now),
    booked AS (SELECT * EXCLUDE (file_sha256, focus_version) FROM late_usage_booked),
    changed AS (SELECT DISTINCT source, file_name FROM (
        (SELECT * FROM now EXCEPT ALL SELECT * FROM booked)
        UNION ALL (SELECT * FROM booked EXCEPT ALL SELECT * FROM now)))
    SELECT source, file_name, arg_min(file_sha256, now_first), arg_min(focus_version, now_first),
        (source, file_name) IN (SELECT (source, file_name) FROM changed)
    FROM (SELECT *, 0 AS now_first FROM late_usage_now UNION ALL BY NAME
          SELECT *, 1 AS now_first FROM late_usage_booked)
    GROUP BY ALL ORDER BY ALL
"""


def _book_each(con: duckdb.DuckDBPyConnection, month: str, late_file: str, late_format: str, run_id: str | None,
               actor: str) -> dict[str, late.LateBooking]:
    bookings: dict[str, late.LateBooking] = {}
    for source, name, sha, version, changed in con.execute(_FILES_SQL).fetchall():
        if not changed and not late.adjusted_in(con, source, name, month):
            continue
        staged_key = con.execute("SELECT coalesce(max(import_key), 0) + 1 FROM imports").fetchall()[0][0]
        con.execute("INSERT INTO focus_rows BY NAME SELECT ? AS billing_month, ? AS import_key, * EXCLUDE (source, "
                    "file_name, file_sha256, focus_version) FROM late_usage_now WHERE source = ? AND file_name = ?",
                    [month, staged_key, source, name])
        bookings[name] = late.book_late_rows(
            con, staged_key=staged_key, month=month, source=source, file_name=name, sha=sha,
            file_format=late_format if name == late_file else _file_format(con, source, name, month),
            focus_version=version, actor=actor, run_id=run_id)
    return bookings


def _file_format(con: duckdb.DuckDBPyConnection, source: str, file_name: str, month: str) -> str:
    found = con.execute("SELECT file_format FROM import_files WHERE source = ? AND file_name = ? AND billing_month = ?",
                        [source, file_name, month]).fetchall()
    return found[0][0] if found else "csv"


def _file_totals(con: duckdb.DuckDBPyConnection, now: pyarrow.Table, source: str, file_name: str
                 ) -> tuple[Decimal, Decimal]:
    """The file's billed and list money as the month priced with it."""
    con.register("late_usage_totals", now)
    try:
        return con.execute(
            f"SELECT coalesce(sum({BILLED}), 0), coalesce(sum({LISTED}), 0) FROM late_usage_totals "
            "WHERE source = ? AND file_name = ?", [source, file_name]).fetchall()[0]
    finally:
        con.unregister("late_usage_totals")


def _describe(month: str, status: str, file_name: str, bookings: dict[str, late.LateBooking]) -> str:
    """What the import did, for the CLI and the run's metadata."""
    lines = sum(b.lines for b in bookings.values())
    if not lines:
        return (f"billing month {month} is {status}: its usage is kept against it as late usage; priced with the "
                "month's other usage it bills what was booked already, so no adjustment is needed")
    billed = sum((b.billed for b in bookings.values()), Decimal(0))
    booked = next(b.booked_month for b in bookings.values() if b.lines)
    others = sorted(name for name, b in bookings.items() if b.lines and name != file_name)
    moved = f" (of them, other files the month's pricing moved: {', '.join(others)})" if others else ""
    return (f"billing month {month} is {status}: its usage is kept against it as late usage and the month priced "
            f"again with it; {lines} adjustment line(s), {billed.normalize():f} billed in all, booked in {booked} for "
            f"review (late_for_closed_month){moved}")
