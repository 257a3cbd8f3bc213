"""Pricing queries: which months the current pricing inputs would change (the sensor and `ocb pricing months`)."""

from __future__ import annotations

from typing import Any

import duckdb

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.pricing.engine import months_affected, pricing_inputs
from ocb_pipelines.pricing.shares import read_splits, splits_in_force
from ocb_pipelines.services.context import AppContext
from ocb_pipelines.statements.lines import load_statements
from ocb_pipelines.warehouse import database as wh

PRICING_ACTOR = "pricing_sensor"  # who re-priced a month after its inputs changed: the run's tags say so


def affected_months_of(con: duckdb.DuckDBPyConnection, settings: OcbSettings) -> tuple[str, list[dict[str, Any]]]:
    """The current inputs' digest and the months priced with other inputs (or due a pricing), with status."""
    digest, _inputs = pricing_inputs(settings)
    return digest, months_affected(con, settings)


def funding_changes(con: duckdb.DuckDBPyConnection, settings: OcbSettings) -> list[dict[str, Any]]:
    """Months whose statements would share their money between funds differently with the splits file as it is
    now ({"month", "status", "reason"}): the fund shares each statement recorded against those worked out again."""
    lines = read_splits(settings.funding.splits_file) if settings.funding.splits_file else []
    changed = []
    for (month,) in con.execute("SELECT DISTINCT billing_month FROM statements ORDER BY 1").fetchall():
        recorded: dict[tuple, dict[str, Any]] = {}
        for pi, project, fund, billed in con.execute(
                "SELECT pi_email, project_id, fund_org, billed_total FROM statement_fund_shares "
                "WHERE billing_month = ?", [month]).fetchall():
            recorded.setdefault((pi, project), {})[fund] = billed
        now = {(s.pi_email, s.project_id): {f.fund_org: f.billed_total for f in s.funds}
               for s in load_statements(con, month, splits=splits_in_force(lines, month))}
        differ = sorted(f"{pi}/{project}" for key in recorded.keys() | now.keys() if recorded.get(key) != now.get(key)
                        for pi, project in [key])
        if differ:
            changed.append({"month": month, "status": wh.period_status(con, month) or "open",
                            "reason": f"funding splits: the fund shares of {len(differ)} statement(s) "
                                      f"({', '.join(differ[:3])}{', ...' if len(differ) > 3 else ''}); "
                                      "`ocb generate` renders them again"})
    return changed


def pricing_months(ctx: AppContext) -> dict[str, Any]:
    """What `ocb pricing months` prints: the inputs and every month a change to them affects (pricing, and the
    fund shares of statements already made)."""
    digest, inputs = pricing_inputs(ctx.settings)
    with ctx.connection() as con:
        affected = months_affected(con, ctx.settings) + funding_changes(con, ctx.settings)
    return {"inputs_sha256": digest, "inputs": inputs, "affected": sorted(affected, key=lambda m: m["month"])}


def reprice_open_months(ctx: AppContext) -> dict[str, Any]:
    """`ocb pricing months --reprice`: a pricing_job run (price, then validate) for every open month affected;
    closed and finalized months are listed, never re-priced."""
    report = pricing_months(ctx)
    runs = []
    for month in report["affected"]:
        if month["status"] == "open" and not month["reason"].startswith("funding splits"):
            outcome = ctx.job("pricing_job", month["month"])
            runs.append({"month": month["month"], "run_id": outcome.run_id, "success": outcome.success,
                         "error": outcome.error})
    return {**report, "runs": runs}
