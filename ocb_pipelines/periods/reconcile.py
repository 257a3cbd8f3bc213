"""The month's reconciliation: imported = approved + pending + rejected, to the cent, every raw row counted.

One query, used by the close (inside its transaction), finalize, statements, the journal export, `review list`
and the tests after every step of the demo and of the kill loops. Why one place: a month closed, rendered or
exported while some of its imported rows were never validated (an import killed before validation, or an
import racing a close) bills less than was imported, and every check that looks only at the validated charges
goes ahead on that smaller month.

    imported   the month's raw rows (focus_rows), BilledCost as DECIMAL: what the files put in the month
    approved   validated charges billed (unflagged, approved, corrected) in the review state
    pending    validated charges waiting for a decision (flagged, or a decision gone stale)
    rejected   validated charges a reviewer rejected

It holds when every raw row has its validated line (same import, same row number), no validated line is left
from an import that was since replaced, the import catalog's totals equal the raw rows, and the money and the
row counts add up exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import duckdb

from ocb_pipelines.core.checks import CheckOutcome
from ocb_pipelines.core.money import format_money
from ocb_pipelines.review.state import LINES_STATE_SQL
from ocb_pipelines.warehouse import database as wh


class MonthNotReconciledError(ValueError):
    """A month is not reconciled (rows not validated, or totals that do not add up); nothing was changed."""


@dataclass(frozen=True)
class Reconciliation:
    """The month's figures; `problems()` is empty when it reconciles."""

    month: str
    imported_rows: int
    imported_billed: Decimal
    recorded_billed: Decimal  # import_files.billed_total: what the imports reported
    unvalidated_rows: int  # raw rows with no validated line
    unvalidated_billed: Decimal
    outdated_lines: int  # validated lines whose import was replaced since
    approved_rows: int
    approved_billed: Decimal
    pending_rows: int
    pending_billed: Decimal
    rejected_rows: int
    rejected_billed: Decimal

    @property
    def accounted_billed(self) -> Decimal:
        return self.approved_billed + self.pending_billed + self.rejected_billed

    @property
    def accounted_rows(self) -> int:
        return self.approved_rows + self.pending_rows + self.rejected_rows

    @property
    def needs_validation(self) -> bool:
        """Raw rows and validated charges differ: the month must be validated again (`ocb ingest` does)."""
        return bool(self.unvalidated_rows or self.outdated_lines)

    def problems(self, symbol: str = "$") -> list[str]:
        found = []
        if self.unvalidated_rows:
            found.append(f"{self.unvalidated_rows:,} imported row(s) ({format_money(self.unvalidated_billed, symbol)}) "
                         "are not validated")
        if self.outdated_lines:
            found.append(f"{self.outdated_lines:,} validated charge(s) come from an import that a later one replaced")
        if self.recorded_billed != self.imported_billed:
            found.append(f"the import catalog says {format_money(self.recorded_billed, symbol)} but the raw rows "
                         f"hold {format_money(self.imported_billed, symbol)}")
        if self.accounted_billed != self.imported_billed or self.accounted_rows != self.imported_rows:
            found.append(f"imported {self.imported_rows:,} row(s) {format_money(self.imported_billed, symbol)} != "
                         f"approved + pending + rejected {self.accounted_rows:,} row(s) "
                         f"{format_money(self.accounted_billed, symbol)}")
        return found

    @property
    def balanced(self) -> bool:
        return not self.problems()

    def describe(self, symbol: str = "$") -> str:
        """One line: imported = approved + pending + rejected, with the figures."""
        sign = "=" if self.balanced else "!="
        return (f"imported {format_money(self.imported_billed, symbol)} ({self.imported_rows:,} rows) {sign} approved "
                f"{format_money(self.approved_billed, symbol)} + pending {format_money(self.pending_billed, symbol)} "
                f"+ rejected {format_money(self.rejected_billed, symbol)}")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "balanced": self.balanced, "needs_validation": self.needs_validation}


RECONCILE_SQL = f"""
WITH raw AS (
    SELECT f.import_key, f.file_row_number, {wh.money_from_text('f."BilledCost"')} AS billed
    FROM focus_rows f JOIN imports i ON i.import_key = f.import_key WHERE f.billing_month = $month
),
-- Each line's raw row by the integer key of its import (a line of a replaced import has none): a row's match
-- on two integers, not on a 32-character import id, for every line of the month.
lines AS (
    SELECT i.import_key, v.file_row_number FROM validated_lines v
    LEFT JOIN imports i ON i.import_id = v.import_id AND i.billing_month = v.billing_month
    WHERE v.billing_month = $month
),
-- Raw rows and lines matched in one pass: a raw row with no line is not validated, a line with no raw row
-- comes from an import replaced since.
matched AS (
    SELECT r.billed, r.import_key IS NOT NULL AS in_raw, l.file_row_number IS NOT NULL AS in_lines
    FROM raw r FULL JOIN lines l ON l.import_key = r.import_key AND l.file_row_number = r.file_row_number
),
unmatched AS (
    SELECT count(*) FILTER (WHERE NOT in_lines) AS unvalidated_rows,
        coalesce(sum(billed) FILTER (WHERE NOT in_lines), 0) AS unvalidated_billed,
        count(*) FILTER (WHERE NOT in_raw) AS outdated_lines
    FROM matched
),
states AS (
    SELECT count(*) FILTER (WHERE review_status IN ('unflagged', 'approved', 'corrected')) AS approved_rows,
        coalesce(sum(billed_cost) FILTER (WHERE review_status IN ('unflagged', 'approved', 'corrected')), 0)
            AS approved_billed,
        count(*) FILTER (WHERE review_status = 'pending') AS pending_rows,
        coalesce(sum(billed_cost) FILTER (WHERE review_status = 'pending'), 0) AS pending_billed,
        count(*) FILTER (WHERE review_status = 'rejected') AS rejected_rows,
        coalesce(sum(billed_cost) FILTER (WHERE review_status = 'rejected'), 0) AS rejected_billed
    FROM ({LINES_STATE_SQL})
)
SELECT
    (SELECT count(*) FROM raw), (SELECT coalesce(sum(billed), 0) FROM raw),
    (SELECT coalesce(sum(billed_total), 0) FROM import_files WHERE billing_month = $month),
    u.unvalidated_rows, u.unvalidated_billed, u.outdated_lines,
    s.approved_rows, s.approved_billed, s.pending_rows, s.pending_billed, s.rejected_rows, s.rejected_billed
FROM unmatched u, states s
"""


def reconcile(con: duckdb.DuckDBPyConnection, month: str) -> Reconciliation:
    """The month's reconciliation, read in one query (call it inside the transaction that relies on it)."""
    row = con.execute(RECONCILE_SQL, {"month": month}).fetchall()[0]
    return Reconciliation(month, *(Decimal(v) if isinstance(v, Decimal) else v for v in row))


def require_reconciled(con: duckdb.DuckDBPyConnection, month: str, action: str, symbol: str = "$") -> Reconciliation:
    """The reconciliation, or MonthNotReconciledError saying why `action` is refused and what to do."""
    figures = reconcile(con, month)
    problems = figures.problems(symbol)
    if problems:
        todo = (f"validate {month} again (`ocb ingest` of its files, or materialise charges_validated for {month})"
                if figures.needs_validation else f"look at `ocb review list -p {month} --status all`")
        raise MonthNotReconciledError(
            f"billing month {month} does not reconcile, so {action} is refused: {'; '.join(problems)}. {todo}"
        )
    return figures


def reconciliation_check(con: duckdb.DuckDBPyConnection, month: str, symbol: str = "$") -> CheckOutcome:
    """charges_approved's reconciliation check: imported = approved + pending + rejected to the cent (Decimal), every
    raw row validated, and the approved charges as materialised equal to what the review state approves (a
    decision recorded since the last rebuild leaves charges_approved behind until review_job runs)."""
    figures = reconcile(con, month)
    table_rows, table_billed = con.execute(
        "SELECT count(*), coalesce(sum(billed_cost), 0) FROM charges_approved WHERE billing_month = ?", [month]
    ).fetchall()[0]
    problems = figures.problems(symbol)
    if Decimal(table_billed) != figures.approved_billed or table_rows != figures.approved_rows:
        problems.append(f"charges_approved holds {table_rows:,} charge(s) {format_money(table_billed, symbol)} but "
                        f"the review state approves {figures.approved_rows:,} "
                        f"{format_money(figures.approved_billed, symbol)}; rebuild it (review_job for {month})")
    values = {"imported_rows": figures.imported_rows, "imported_billed": figures.imported_billed,
              "approved_billed": figures.approved_billed, "pending_billed": figures.pending_billed,
              "rejected_billed": figures.rejected_billed, "charges_approved_billed": Decimal(table_billed),
              "unvalidated_rows": figures.unvalidated_rows, "outdated_lines": figures.outdated_lines}
    if not problems:
        return CheckOutcome(True, f"{month}: {figures.describe(symbol)}", values)
    todo = (f"validate {month} again (`ocb ingest` of its files, or materialise charges_validated for {month})"
            if figures.needs_validation else f"look at `ocb review list -p {month} --status all`")
    return CheckOutcome(False, f"billing month {month} does not reconcile: {figures.describe(symbol)}: "
                               f"{'; '.join(problems)}. {todo}", values)
