"""Pricing queries: which months the current pricing inputs would change (the sensor and `ocb pricing months`)."""

from __future__ import annotations

from typing import Any

import duckdb

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.pricing.engine import months_affected, pricing_inputs
from ocb_pipelines.services.context import AppContext

PRICING_ACTOR = "pricing_sensor"  # who re-priced a month after its inputs changed: the run's tags say so


def affected_months_of(con: duckdb.DuckDBPyConnection, settings: OcbSettings) -> tuple[str, list[dict[str, Any]]]:
    """The current inputs' digest and the months priced with other inputs (or due a pricing), with status."""
    digest, _inputs = pricing_inputs(settings)
    return digest, months_affected(con, settings)


def pricing_months(ctx: AppContext) -> dict[str, Any]:
    """What `ocb pricing months` prints: the inputs and every month a change to them affects."""
    digest, inputs = pricing_inputs(ctx.settings)
    with ctx.connection() as con:
        affected = months_affected(con, ctx.settings)
    return {"inputs_sha256": digest, "inputs": inputs, "affected": affected}


def reprice_open_months(ctx: AppContext) -> dict[str, Any]:
    """`ocb pricing months --reprice`: a pricing_job run (price, then validate) for every open month affected;
    closed and finalized months are listed, never re-priced."""
    report = pricing_months(ctx)
    runs = []
    for month in report["affected"]:
        if month["status"] == "open":
            outcome = ctx.job("pricing_job", month["month"])
            runs.append({"month": month["month"], "run_id": outcome.run_id, "success": outcome.success,
                         "error": outcome.error})
    return {**report, "runs": runs}
