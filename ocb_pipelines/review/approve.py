"""Build `charges_approved` for one month: the charges that may be billed, gated (no Dagster).

Unflagged rows, plus approved and corrected ones (a correction takes effect and keeps the imported
values in original_pi_email / original_project_id / original_fund_org), minus rejected and pending
ones. One transaction per month: delete the slice, insert by name, validate, or roll back.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb

from ocb_pipelines.charges.schemas import describe_failures
from ocb_pipelines.core.gates import repeated_keys, validate_in_chunks
from ocb_pipelines.review.schemas import BILLABLE_STATUSES, GATED_COLUMNS, approved_schema
from ocb_pipelines.review.state import STATE_SQL
from ocb_pipelines.review.summary import ReviewSummary, summarize_review
from ocb_pipelines.warehouse import database as wh


class ApprovalGateError(ValueError):
    """charges_approved was refused by its schema; the previous state was kept."""


_SPECIAL = {
    "pi_email": "CASE WHEN review_status = 'corrected' THEN coalesce(new_pi_email, pi_email) ELSE pi_email END",
    "project_id": "CASE WHEN review_status = 'corrected' THEN coalesce(new_project_id, project_id) ELSE project_id END",
    "fund_org": "CASE WHEN review_status = 'corrected' THEN coalesce(new_fund_org, fund_org) ELSE fund_org END",
    "original_pi_email": "CASE WHEN review_status = 'corrected' THEN pi_email END",
    "original_project_id": "CASE WHEN review_status = 'corrected' THEN project_id END",
    "original_fund_org": "CASE WHEN review_status = 'corrected' THEN fund_org END",
    "reviewed_by": "decided_by",
    "reviewed_at": "decided_at",
    "review_note": "decision_note",
    "approved_at": "$approved_at",
    "run_id": "$run_id",
}


def approved_select_sql(con: duckdb.DuckDBPyConnection) -> str:
    columns = [r[0] for r in con.execute("DESCRIBE charges_approved").fetchall()]
    exprs = ", ".join(f"{_SPECIAL.get(c, c)} AS {c}" for c in columns)
    statuses = ", ".join(f"'{s}'" for s in BILLABLE_STATUSES)
    return f"SELECT {exprs} FROM ({STATE_SQL}) WHERE review_status IN ({statuses})"


def build_approved(
    con: duckdb.DuckDBPyConnection,
    month: str,
    *,
    run_id: str | None = None,
) -> ReviewSummary:
    """Replace the month's approved charges in one transaction; roll back if the gate fails.

    Allowed while the month is open or closed (the result is determined by the validated charges and
    the decisions, which a closed month freezes); refused once it is finalized.
    """
    with wh.transaction(con):
        if wh.period_status(con, month) == "finalized":
            raise wh.PeriodLockedError(
                f"billing month {month} is finalized and can never change, so rebuilding its approved charges "
                f"is refused. Book corrections in the next open month."
            )
        outdated = validated_lines_replaced(con, month)
        if outdated:
            raise ApprovalGateError(
                f"{outdated:,} validated charge(s) of {month} come from an import that a later one replaced; "
                f"validate {month} again (`ocb ingest` or the charges_validated asset) before approving"
            )
        con.execute("DELETE FROM charges_approved WHERE billing_month = ?", [month])
        con.execute(f"INSERT INTO charges_approved BY NAME {approved_select_sql(con)}",
                    {"month": month, "approved_at": wh.now_utc(), "run_id": run_id})
        summary = summarize_review(con, month)
        problems = gate_approved(con, month, summary)
        if problems:
            listing = "\n  - ".join(problems)
            raise ApprovalGateError(
                f"approved charges for {month} failed their schema; nothing was changed:\n  - {listing}"
            )
    return summary


def validated_lines_replaced(con: duckdb.DuckDBPyConnection, month: str) -> int:
    """Validated lines whose import was since replaced (a corrected file): their raw rows, lineage and row_hash
    are gone until the month is validated again, so they cannot be approved."""
    return con.execute(
        "SELECT count(*) FROM validated_lines v ANTI JOIN imports i ON i.import_id = v.import_id "
        "WHERE v.billing_month = ?",
        [month],
    ).fetchall()[0][0]


def gate_approved(con: duckdb.DuckDBPyConnection, month: str, summary: ReviewSummary, limit: int = 20) -> list[str]:
    """Pandera over the month's slice (chunked), plus reconciliation to the cent with the validated charges."""
    sql = f"SELECT {', '.join(GATED_COLUMNS)} FROM charges_approved WHERE billing_month = '{month}'"
    problems = validate_in_chunks(con, sql, approved_schema(month), describe_failures, limit=limit)
    repeated = repeated_keys(con, "charges_approved", "charge_id", month)
    if repeated:
        problems.append(f"charge_id repeated: {repeated}")
    approved = con.execute(
        "SELECT coalesce(sum(billed_cost), 0) FROM charges_approved WHERE billing_month = ?", [month]
    ).fetchall()[0][0]
    validated = con.execute(
        "SELECT coalesce(sum(billed_cost), 0) FROM charges_validated WHERE billing_month = ?", [month]
    ).fetchall()[0][0]
    held = summary.billed("pending") + summary.billed("rejected")
    if Decimal(validated) != Decimal(approved) + held:
        problems.append(
            f"totals do not reconcile: validated {validated} != approved {approved} + pending and rejected {held}"
        )
    return problems[:limit]
