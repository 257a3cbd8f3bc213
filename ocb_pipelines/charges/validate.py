"""Build the validated charges of one month from focus_raw (typed, attributed, flagged), gated."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import duckdb

from ocb_pipelines.charges.attribution import AttributionRules, validated_select_sql
from ocb_pipelines.charges.schemas import GATED_COLUMNS, describe_failures, validated_schema
from ocb_pipelines.core.gates import repeated_keys, validate_in_chunks
from ocb_pipelines.core.step_timer import timed_step
from ocb_pipelines.warehouse import database as wh


class ValidationGateError(ValueError):
    """charges_validated was refused by its schema; the previous state was kept."""


@dataclass
class ValidatedSummary:
    month: str
    rows: int = 0
    billed_total: Decimal = Decimal(0)
    list_total: Decimal = Decimal(0)
    flagged_rows: int = 0
    flagged_billed: Decimal = Decimal(0)
    by_source: list[dict] = field(default_factory=list)
    by_reason: list[dict] = field(default_factory=list)


def build_validated(
    con: duckdb.DuckDBPyConnection,
    month: str,
    rules: AttributionRules,
    *,
    run_id: str | None = None,
    actor: str | None = None,
) -> ValidatedSummary:
    """Replace the month's validated charges in one transaction; roll back if the gate fails."""
    actor = actor or wh.current_actor()
    status = wh.period_status(con, month)
    if status is None and not con.execute(
            "SELECT count(*) FROM focus_rows WHERE billing_month = ?", [month]).fetchall()[0][0]:
        return summarize_validated(con, month)  # nothing imported (e.g. its file was refused): no month is opened
    if status in ("closed", "finalized") and validated_is_current(con, month):
        return summarize_validated(con, month)  # nothing imported since: a re-run changes nothing, so allow it
    sql = validated_select_sql(rules)
    with wh.transaction(con):
        wh.ensure_period_open(con, month, actor, action="re-validating charges")
        with timed_step("validate: insert validated_lines"):
            con.execute("DELETE FROM validated_lines WHERE billing_month = ?", [month])
            con.execute(
                f"INSERT INTO validated_lines BY NAME {sql}",
                {"month": month, "validated_at": wh.now_utc(), "run_id": run_id},
            )
        with timed_step("validate: gate"):
            problems = gate_validated(con, month)
        if problems:
            details = "\n  - ".join(problems)
            raise ValidationGateError(
                f"validated charges for {month} failed their schema; nothing was changed:\n  - {details}"
            )
    return summarize_validated(con, month)


def validated_is_current(con: duckdb.DuckDBPyConnection, month: str) -> bool:
    """True when the month was validated after its last import (same rows, nothing newer)."""
    raw_rows, last_import = con.execute(
        "SELECT count(*), max(imported_at) FROM focus_raw WHERE billing_month = ?", [month]
    ).fetchall()[0]
    validated_rows, first_validation = con.execute(
        "SELECT count(*), min(validated_at) FROM validated_lines WHERE billing_month = ?", [month]
    ).fetchall()[0]
    if raw_rows != validated_rows:
        return False
    return raw_rows == 0 or (first_validation is not None and last_import <= first_validation)


def gate_validated(con: duckdb.DuckDBPyConnection, month: str, limit: int = 20) -> list[str]:
    columns = [c for c in GATED_COLUMNS if c != "review_count"] + ["len(review_reasons) AS review_count"]
    sql = f"SELECT {', '.join(columns)} FROM validated_lines WHERE billing_month = '{month}'"
    problems = validate_in_chunks(con, sql, validated_schema(month), describe_failures, limit=limit)
    repeated = repeated_keys(con, "validated_lines", "charge_id", month)
    if repeated:
        problems.append(f"charge_id repeated: {repeated}")
    return problems[:limit]


def summarize_validated(con: duckdb.DuckDBPyConnection, month: str) -> ValidatedSummary:
    rows, billed, listed, flagged, flagged_billed = con.execute(
        """SELECT count(*), coalesce(sum(billed_cost), 0), coalesce(sum(coalesce(list_cost, billed_cost)), 0),
                  count(*) FILTER (WHERE needs_review), coalesce(sum(billed_cost) FILTER (WHERE needs_review), 0)
           FROM validated_lines WHERE billing_month = ?""",
        [month],
    ).fetchall()[0]
    by_source = [
        {"source": s, "rows": n, "billed": b, "flagged_rows": f, "flagged_billed": fb}
        for s, n, b, f, fb in con.execute(
            """SELECT source, count(*), sum(billed_cost), count(*) FILTER (WHERE needs_review),
                      coalesce(sum(billed_cost) FILTER (WHERE needs_review), 0)
               FROM validated_lines WHERE billing_month = ? GROUP BY source ORDER BY source""",
            [month],
        ).fetchall()
    ]
    by_reason = [
        {"reason": r, "rows": n, "billed": b}
        for r, n, b in con.execute(
            """SELECT reason, count(*), sum(billed_cost) FROM (
                   SELECT unnest(review_reasons) AS reason, billed_cost FROM validated_lines
                   WHERE billing_month = ? AND needs_review)
               GROUP BY reason ORDER BY count(*) DESC, reason""",
            [month],
        ).fetchall()
    ]
    return ValidatedSummary(month, rows, billed, listed, flagged, flagged_billed, by_source, by_reason)
