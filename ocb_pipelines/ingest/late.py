"""Late data for a closed or finalized month: kept against that month, its difference booked in the next open one.

Providers restate bills after a month closes (late usage, refunds, credits, corrected files). A closed month's
statements were sent and its journal booked, so the month itself never changes. Instead (as Waldur, ifxbilling and
iLab do, and as FOCUS 1.4 requires: corrections land in a later open period):

1. the late file's rows for month M are kept against M in `late_rows` (the latest version of each file);
2. per charge (the charge_id the row has, or would have, in M), what the provider bills now is compared with what
   was booked for M so far: M's own rows of that file, plus every adjustment for it already booked in other months;
3. each difference (a new row, a changed amount, a removed row, a late credit) becomes one FOCUS row of the next
   open month N, `ChargeClass = Correction`, amounts = the difference, with its origin in `adjustment_lines`.

N's import of them is ordinary (`imports.adjusts_month` = M): validation flags every line `late_for_closed_month`,
so each goes through review; statements show them apart and the journal names the origin month. A second
correction of M recomputes against everything booked so far, so original + adjustments = what the provider billed
last, to the cent. Runs inside the importer's transaction: all of it or nothing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

import duckdb

from ocb_pipelines.core.billing_month import BillingMonth
from ocb_pipelines.core.focus_columns import FOCUS_COLUMNS
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines.warehouse.identity import charge_id_sql, identity_hash_sql, identity_values_sql

LOCKED = ("closed", "finalized")
MONEY_COLUMNS = {"BilledCost": "billed", "ListCost": "listed", "EffectiveCost": "effective",
                 "ContractedCost": "contracted", "PricingQuantity": "quantity"}  # fmt: skip
BILLED = wh.money_from_text('"BilledCost"')


def quoted(column: str) -> str:
    return f'"{column}"'


# The origin of each adjustment line in its booked month: join a charge on (billing_month = booked_month, source,
# file_name, file_row_number).
ADJUSTMENT_JOIN = (
    "adjustment_lines a ON a.booked_month = {c}.billing_month AND a.source = {c}.source "
    "AND a.file_name = {c}.file_name AND a.file_row_number = {c}.file_row_number"
)


@dataclass(frozen=True)
class LateBooking:
    """What a late file for a closed month did: kept against `month`, `lines` adjustments booked in `booked_month`."""

    month: str
    status: str  # closed | finalized
    booked_month: str
    lines: int
    billed: Decimal

    def describe(self) -> str:
        if not self.lines:
            return (f"billing month {self.month} is {self.status}: kept against it as late data; it bills what "
                    f"was booked already, so no adjustment is needed")
        return (f"billing month {self.month} is {self.status}: kept against it as late data; {self.lines} "
                f"adjustment line(s), {self.billed} in all, booked in {self.booked_month} for review "
                f"(late_for_closed_month)")


def adjustment_file_name(file_name: str, origin_month: str) -> str:
    """The name the adjustments of a late file go under in the booked month (lineage names the file itself)."""
    return f"{file_name} (late for {origin_month})"


def is_locked(con: duckdb.DuckDBPyConnection, month: str) -> str | None:
    """'closed' or 'finalized' when the month takes late data only, else None."""
    status = wh.period_status(con, month)
    return status if status in LOCKED else None


def latest_late_sha(con: duckdb.DuckDBPyConnection, source: str, file_name: str, month: str) -> str | None:
    """The sha256 of the file's latest late version for the month, None if it never came late."""
    latest = con.execute(
        "SELECT file_sha256 FROM late_imports WHERE source = ? AND file_name = ? AND billing_month = ? "
        "ORDER BY late_key DESC LIMIT 1", [source, file_name, month]).fetchall()
    return latest[0][0] if latest else None


def adjusted_in(con: duckdb.DuckDBPyConnection, source: str, file_name: str, month: str) -> list[str]:
    """The months holding adjustments booked from this file's late versions for `month` (empty if it never came
    late). Such a file may not go into `month` itself again (after a reopen): its rows there would bill what
    those adjustments already bill."""
    rows = con.execute(
        "SELECT DISTINCT booked_month FROM adjustment_lines WHERE source = ? AND origin_file = ? "
        "AND origin_month = ? ORDER BY booked_month", [source, file_name, month]).fetchall()
    return [booked for (booked,) in rows]


def refusal_after_adjustments(month: str, booked: list[str]) -> str:
    """Why a file whose late versions were adjusted elsewhere is refused in its reopened month, and the way on."""
    return (f"its earlier versions for {month} came after {month} was closed and their differences were booked as "
            f"adjustments in {', '.join(booked)}; importing it into {month} itself would bill those differences "
            f"twice, so nothing was imported. Close {month} again and import the file: its difference from "
            f"everything booked so far is adjusted in the next open month")


def next_open_month(con: duckdb.DuckDBPyConnection, month: str) -> str:
    """The first month after `month` that is open, or not opened yet: where its adjustments are booked."""
    candidate = BillingMonth.parse(month).next()
    while wh.period_status(con, candidate.key) in LOCKED:
        candidate = candidate.next()
    return candidate.key


def book_late_rows(con: duckdb.DuckDBPyConnection, *, staged_key: int, month: str, source: str, file_name: str,
                   sha: str, file_format: str, focus_version: str, actor: str, run_id: str | None) -> LateBooking:
    """Move a gated import of a locked month's rows (staged in focus_rows under `staged_key`) to late_rows, and
    book its difference in the next open month. Call inside the import's transaction."""
    status = is_locked(con, month) or "closed"
    late_key = con.execute("SELECT coalesce(max(late_key), 0) + 1 FROM late_imports").fetchall()[0][0]
    import_id = uuid.uuid4().hex
    older = "SELECT late_key FROM late_imports WHERE billing_month = ? AND source = ? AND file_name = ?"
    con.execute(f"DELETE FROM late_rows WHERE late_key IN ({older})", [month, source, file_name])
    con.execute("INSERT INTO late_rows BY NAME SELECT * EXCLUDE (import_key), ? AS late_key FROM focus_rows "
                "WHERE import_key = ?", [late_key, staged_key])
    con.execute("DELETE FROM focus_rows WHERE import_key = ?", [staged_key])
    con.execute("DELETE FROM imports WHERE import_key = ?", [staged_key])
    rows, billed = con.execute(
        f"SELECT count(*), coalesce(sum({BILLED}), 0) FROM late_rows "
        "WHERE late_key = ?", [late_key]).fetchall()[0]
    booked = next_open_month(con, month)
    wh.ensure_period_open(con, booked, actor, action=f"booking late data of {month} from {file_name}")
    lines, adjusted = _book_adjustments(con, late_key=late_key, month=month, booked=booked, source=source,
                                        file_name=file_name, sha=sha, file_format=file_format,
                                        focus_version=focus_version, import_id=import_id, actor=actor, run_id=run_id)
    con.execute(
        "INSERT INTO late_imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [late_key, import_id, month, source, file_name, sha, file_format, focus_version, rows, billed, booked, lines,
         adjusted, wh.now_utc(), actor, run_id])
    wh.record_audit(con, actor=actor, action="late_import", period=month, run_id=run_id, subject=file_name, details={
        "source": source, "sha256": sha, "rows": rows, "billed_total": billed, "month_status": status,
        "booked_month": booked, "adjustment_lines": lines, "adjustment_billed": adjusted, "import_id": import_id})
    return LateBooking(month, status, booked, lines, Decimal(adjusted))


def _charges_sql(relation: str) -> str:
    """Each row of `relation` (source, billing_month, file_name, file_row_number, FOCUS text) with its charge_id
    as validation works it out: identical lines numbered by (file name, row) among all the month's lines."""
    amounts = ", ".join(f"{wh.money_from_text('r.' + quoted(c))} AS {alias}" for c, alias in MONEY_COLUMNS.items())
    return f"""
        SELECT r.*, {charge_id_sql(identity_hash_sql('r.'), 'r.occurrence')} AS charge_id, {amounts}
        FROM (SELECT *, row_number() OVER (PARTITION BY hash({identity_values_sql()})
                                           ORDER BY file_name, file_row_number) AS occurrence
              FROM {relation}) r"""


def _book_adjustments(con: duckdb.DuckDBPyConnection, *, late_key: int, month: str, booked: str, source: str,
                      file_name: str, sha: str, file_format: str, focus_version: str, import_id: str, actor: str,
                      run_id: str | None) -> tuple[int, Decimal]:
    """Replace the file's adjustments for `month` in the booked month with late version minus what was booked so
    far (elsewhere); the number of lines and their billed total."""
    adjust_name = adjustment_file_name(file_name, month)
    previous = "SELECT import_key FROM imports WHERE billing_month = ? AND source = ? AND file_name = ?"
    con.execute(f"DELETE FROM focus_rows WHERE import_key IN ({previous})", [booked, source, adjust_name])
    con.execute(f"DELETE FROM imports WHERE import_key IN ({previous})", [booked, source, adjust_name])
    con.execute("DELETE FROM import_files WHERE billing_month = ? AND source = ? AND file_name = ?",
                [booked, source, adjust_name])
    con.execute("DELETE FROM adjustment_lines WHERE booked_month = ? AND source = ? AND file_name = ?",
                [booked, source, adjust_name])
    text = ", ".join(f'"{c}"' for c in FOCUS_COLUMNS)
    params = {"month": month, "source": source, "file": file_name, "late": late_key, "booked": booked}
    # Every line of month M as validation numbers them, with this file's rows replaced by its late version.
    _execute(con, f"""
        CREATE OR REPLACE TEMP TABLE late_now AS
        SELECT * FROM ({_charges_sql(f'''(
            SELECT source, billing_month, file_name, file_row_number, {text}, x_columns, false AS is_late
            FROM focus_raw WHERE billing_month = $month AND NOT (source = $source AND file_name = $file)
            UNION ALL
            SELECT $source AS source, billing_month, $file AS file_name, file_row_number, {text}, x_columns,
                   true AS is_late
            FROM late_rows WHERE late_key = $late)''')}) WHERE is_late""", params)
    # What was booked for M so far, per charge: M's own lines of the file and adjustments booked in other months.
    _execute(con, f"""
        CREATE OR REPLACE TEMP TABLE booked_so_far AS
        SELECT charge_id, 2 AS priority, file_row_number AS origin_row, billed, listed, effective, contracted,
               quantity, {text}, x_columns
        FROM ({_charges_sql('''(SELECT * FROM focus_raw WHERE billing_month = $month)''')})
        WHERE source = $source AND file_name = $file
        UNION ALL BY NAME
        SELECT a.corrects_charge_id AS charge_id, 3 AS priority, a.origin_row, a.billed_delta AS billed,
               a.list_delta AS listed, a.effective_delta AS effective, a.contracted_delta AS contracted,
               {wh.money_from_text('f."PricingQuantity"')} AS quantity, {', '.join(f'f."{c}"' for c in FOCUS_COLUMNS)},
               f.x_columns
        FROM adjustment_lines a
        JOIN imports i ON i.billing_month = a.booked_month AND i.source = a.source AND i.file_name = a.file_name
        JOIN focus_rows f ON f.import_key = i.import_key AND f.file_row_number = a.file_row_number
        WHERE a.origin_month = $month AND a.source = $source AND a.origin_file = $file AND a.booked_month <> $booked
        """, params)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE adjustment_draft AS
        WITH so_far AS (
            SELECT charge_id, sum(billed) AS billed, sum(coalesce(listed, billed)) AS listed,
                   sum(effective) AS effective, sum(contracted) AS contracted, sum(quantity) AS quantity
            FROM booked_so_far GROUP BY charge_id
        ),
        now AS (
            SELECT charge_id, billed, coalesce(listed, billed) AS listed, effective, contracted, quantity
            FROM late_now
        ),
        deltas AS (
            SELECT coalesce(n.charge_id, s.charge_id) AS charge_id,
                CASE WHEN s.charge_id IS NULL THEN 'new' WHEN n.charge_id IS NULL THEN 'removed' ELSE 'changed' END
                    AS kind,
                coalesce(n.billed, 0) - coalesce(s.billed, 0) AS billed_delta,
                coalesce(n.listed, 0) - coalesce(s.listed, 0) AS list_delta,
                coalesce(n.effective, 0) - coalesce(s.effective, 0) AS effective_delta,
                CASE WHEN n.contracted IS NOT NULL OR s.contracted IS NOT NULL
                     THEN coalesce(n.contracted, 0) - coalesce(s.contracted, 0) END AS contracted_delta,
                CASE WHEN n.quantity IS NOT NULL OR s.quantity IS NOT NULL
                     THEN coalesce(n.quantity, 0) - coalesce(s.quantity, 0) END AS quantity_delta
            FROM now n FULL OUTER JOIN so_far s ON s.charge_id = n.charge_id
        ),
        content AS (  -- the row an adjustment describes: the late row, else the file's row in M, else an adjustment
            SELECT charge_id, 1 AS priority, file_row_number AS origin_row, {text}, x_columns FROM late_now
            UNION ALL BY NAME
            SELECT charge_id, priority, origin_row, {text}, x_columns FROM booked_so_far
        )
        SELECT d.*, c.* EXCLUDE (charge_id, priority),
            row_number() OVER (ORDER BY c.origin_row, d.kind, d.charge_id) AS file_row_number
        FROM deltas d
        JOIN (SELECT * FROM content QUALIFY row_number() OVER (PARTITION BY charge_id ORDER BY priority, origin_row)
              = 1) c USING (charge_id)
        WHERE d.billed_delta <> 0 OR d.list_delta <> 0 OR d.effective_delta <> 0 OR coalesce(d.contracted_delta, 0) <> 0
        """)
    try:
        return _write_adjustments(con, month=month, booked=booked, source=source, file_name=file_name,
                                  adjust_name=adjust_name, sha=sha, file_format=file_format,
                                  focus_version=focus_version, import_id=import_id, actor=actor, run_id=run_id)
    finally:
        for table in ("late_now", "booked_so_far", "adjustment_draft"):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def _execute(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> None:
    """Run `sql` with the named parameters it uses (DuckDB refuses unused ones)."""
    con.execute(sql, {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)})


def _period_text(month: str) -> tuple[str, str]:
    """The booked month's BillingPeriodStart and End (exclusive), as FOCUS writes them."""
    first = BillingMonth.parse(month)
    return f"{first.key}-01T00:00:00Z", f"{first.next().key}-01T00:00:00Z"


def _write_adjustments(con: duckdb.DuckDBPyConnection, *, month: str, booked: str, source: str, file_name: str,
                       adjust_name: str, sha: str, file_format: str, focus_version: str, import_id: str, actor: str,
                       run_id: str | None) -> tuple[int, Decimal]:
    """The drafted adjustments as an import of the booked month: FOCUS rows, their catalog entry and origins."""
    lines, billed, listed = con.execute(
        "SELECT count(*), coalesce(sum(billed_delta), 0), coalesce(sum(list_delta), 0) FROM adjustment_draft"
    ).fetchall()[0]
    if not lines:
        return 0, Decimal(0)
    import_key = con.execute("SELECT coalesce(max(import_key), 0) + 1 FROM imports").fetchall()[0][0]
    now = wh.now_utc()
    con.execute(
        "INSERT INTO imports (import_key, import_id, billing_month, source, file_name, file_sha256, focus_version, "
        "expected_period, imported_at, run_id, filled_columns, adjusts_month) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL, ?)",
        [import_key, uuid.uuid4().hex, booked, source, adjust_name, sha, focus_version, now, run_id, month])
    start, end = _period_text(booked)
    replaced = {
        "BilledCost": "CAST(billed_delta AS VARCHAR)", "ListCost": "CAST(list_delta AS VARCHAR)",
        "EffectiveCost": "CAST(effective_delta AS VARCHAR)", "ContractedCost": "CAST(contracted_delta AS VARCHAR)",
        "PricingQuantity": "CAST(quantity_delta AS VARCHAR)", "ChargeClass": "'Correction'",
        "BillingPeriodStart": f"'{start}'", "BillingPeriodEnd": f"'{end}'",
    }  # fmt: skip
    columns = ", ".join(f"{replaced.get(c, quoted(c))} AS {quoted(c)}" for c in FOCUS_COLUMNS)
    con.execute(
        f"INSERT INTO focus_rows BY NAME SELECT ? AS billing_month, ? AS import_key, file_row_number, {columns}, "
        "x_columns FROM adjustment_draft", [booked, import_key])
    con.execute(
        "INSERT INTO import_files VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?)",
        [source, adjust_name, booked, sha, adjust_name, file_format, focus_version, lines, billed, listed, now, actor,
         run_id])
    con.execute(
        "INSERT INTO adjustment_lines SELECT ?, ?, ?, file_row_number, ?, ?, origin_row, charge_id, kind, "
        "billed_delta, list_delta, effective_delta, contracted_delta, ? FROM adjustment_draft",
        [booked, source, adjust_name, month, file_name, import_id])
    return lines, Decimal(billed)
