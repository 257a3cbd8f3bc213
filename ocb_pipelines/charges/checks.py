"""The rules of charges_validated's check and of its refusal (no Dagster).

- `validation_coverage`: every raw row of the month has its validated charge and no validated charge is left
  from an import a later one replaced, so the validated billed total equals the imported one to the cent. It
  fails after an import killed between writing its rows and validating them, or racing a close; approving,
  closing and billing such a month would bill less than was imported.
- `revalidation_refused`: a closed or finalized month is never validated again. Its statements and journal were
  made from its flags and attribution; validating again under a changed configuration would change them behind
  the outputs' back. The message gives the way forward.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb

from ocb_pipelines.core.checks import CULPRITS_SHOWN, CheckOutcome
from ocb_pipelines.core.money import format_money
from ocb_pipelines.warehouse import database as wh

COVERAGE_SQL = f"""
WITH raw AS (
    SELECT i.import_id, i.source, i.file_name, f.file_row_number, {wh.money_from_text('f."BilledCost"')} AS billed
    FROM focus_rows f JOIN imports i ON i.import_key = f.import_key WHERE f.billing_month = $month
),
lines AS (SELECT import_id, source, file_row_number, billed_cost FROM validated_lines WHERE billing_month = $month),
unvalidated AS (SELECT * FROM raw ANTI JOIN lines USING (import_id, file_row_number)),
outdated AS (SELECT * FROM lines ANTI JOIN raw USING (import_id, file_row_number))
SELECT (SELECT count(*) FROM raw), (SELECT coalesce(sum(billed), 0) FROM raw),
       (SELECT count(*) FROM lines), (SELECT coalesce(sum(billed_cost), 0) FROM lines),
       (SELECT count(*) FROM unvalidated), (SELECT coalesce(sum(billed), 0) FROM unvalidated),
       (SELECT count(*) FROM outdated), (SELECT coalesce(sum(billed_cost), 0) FROM outdated)
"""

CULPRITS_SQL = f"""
SELECT 'not validated' AS problem, i.source, i.file_name AS file, f.file_row_number AS row,
       {wh.money_from_text('f."BilledCost"')} AS billed
FROM focus_rows f JOIN imports i ON i.import_key = f.import_key
WHERE f.billing_month = $month
  AND NOT EXISTS (SELECT 1 FROM validated_lines v WHERE v.billing_month = $month AND v.import_id = i.import_id
                  AND v.file_row_number = f.file_row_number)
UNION ALL
SELECT 'from a replaced import', v.source, NULL, v.file_row_number, v.billed_cost
FROM validated_lines v
WHERE v.billing_month = $month AND NOT EXISTS (
    SELECT 1 FROM focus_rows f JOIN imports i ON i.import_key = f.import_key
    WHERE f.billing_month = $month AND i.import_id = v.import_id AND f.file_row_number = v.file_row_number)
ORDER BY 1, 2, 3, 4
LIMIT {CULPRITS_SHOWN}
"""


def validation_coverage(con: duckdb.DuckDBPyConnection, month: str, symbol: str = "$") -> CheckOutcome:
    """Imported rows = validated charges, row for row and to the cent (see the module doc)."""
    (raw_rows, raw_billed, lines, lines_billed, unvalidated, unvalidated_billed, outdated,
     outdated_billed) = con.execute(COVERAGE_SQL, {"month": month}).fetchall()[0]
    raw_billed, lines_billed = Decimal(raw_billed), Decimal(lines_billed)
    figures = {"imported_rows": raw_rows, "imported_billed": raw_billed, "validated_rows": lines,
               "validated_billed": lines_billed, "unvalidated_rows": unvalidated, "outdated_rows": outdated}
    problems = []
    if unvalidated:
        problems.append(f"{unvalidated:,} imported row(s) ({format_money(unvalidated_billed, symbol)}) not validated")
    if outdated:
        problems.append(f"{outdated:,} validated charge(s) ({format_money(outdated_billed, symbol)}) from an import "
                        "a later one replaced")
    if raw_billed != lines_billed and not problems:
        problems.append(f"imported {format_money(raw_billed, symbol)} != validated "
                        f"{format_money(lines_billed, symbol)}")
    if not problems:
        return CheckOutcome(True, f"{month}: {raw_rows:,} imported row(s) {format_money(raw_billed, symbol)}, every "
                                  "one validated", figures)
    culprits = [dict(zip(("problem", "source", "file", "row", "billed"), r, strict=True))
                for r in con.execute(CULPRITS_SQL, {"month": month}).fetchall()]
    todo = (f"validate {month} again: `ocb ingest` of its files, or materialise charges_validated for {month}"
            if wh.period_status(con, month) in (None, "open") else
            f"{month} is {wh.period_status(con, month)}: reopen it (`ocb periods reopen {month} --reason ...`) and "
            "validate it again")
    return CheckOutcome(False, f"{month}: {'; '.join(problems)}. {todo}", figures, culprits,
                        culprit_count=unvalidated + outdated)


def revalidation_refused(con: duckdb.DuckDBPyConnection, month: str) -> str | None:
    """Why the month's charges may not be validated again (it is closed or finalized), with the way forward; None
    when it is open or not opened yet."""
    status = wh.period_status(con, month)
    if status == "closed":
        return (f"billing month {month} is closed, so validating its charges again is refused: its statements and "
                f"journal were made from its current flags and attribution, which a changed configuration would "
                f"change. To change the month, reopen it first (`ocb periods reopen {month} --reason \"...\"`), "
                f"validate and review it, then close it again; or book late data and corrections in the next open "
                f"month.")
    if status == "finalized":
        return (f"billing month {month} is finalized and can never change, so validating its charges again is "
                f"refused. Book late data and corrections in the next open month.")
    return None
