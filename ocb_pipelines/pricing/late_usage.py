"""Late usage for a closed or finalized month: the month's pricing, with and without the late lines (no Dagster).

A Slurm or storage file for a closed month cannot be priced on its own: tiers are per project per month and the
subsidy rules per month, so its lines can change what the month's other lines cost. `MonthRepricing` prices the
whole month again inside the caller's transaction, which the caller (ingest/late_usage.py) rolls back, and hands
back what it would write: every priced FOCUS row by file, and the credit rules' use. The caller compares that
with what the month booked and books the difference per file in the next open month, as for any late file.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.ingest.late_usage import LateUsageNotPriced
from ocb_pipelines.pricing import engine
from ocb_pipelines.pricing import fees as fee_charges
from ocb_pipelines.pricing.files import PricingFileError
from ocb_pipelines.pricing.inputs import PricingRefused, load_inputs
from ocb_pipelines.pricing.runs import PRICED_VERSIONS, versions_sql

# Every FOCUS row pricing wrote for the month, with the file it stands under (a usage file, the fees, the rules).
PRICED_ROWS_SQL = f"""
    SELECT i.source, i.file_name, i.file_sha256, i.focus_version, f.* EXCLUDE (billing_month, import_key)
    FROM focus_rows f JOIN imports i ON i.import_key = f.import_key
    WHERE f.billing_month = ? AND i.focus_version IN ({versions_sql(PRICED_VERSIONS)})
"""
# What a month used of the credit rules: later months were priced counting on it (pricing/subsidies.py).
CREDIT_USE_SQL = """
    SELECT rule_id, source, pi_email, project_id, fund_org, amount, quantity, detail FROM subsidy_applications
    WHERE billing_month = ? AND rule_kind = 'credit'
"""


@dataclass(frozen=True)
class PricedMonth:
    """A month's priced rows (PRICED_ROWS_SQL) and its use of credit rules (CREDIT_USE_SQL), as Arrow tables."""

    rows: pyarrow.Table
    credits: pyarrow.Table


@dataclass(frozen=True)
class MonthRepricing:
    """Prices a month with the configured inputs, in the caller's transaction (for ingest/late_usage.py)."""

    settings: OcbSettings

    def priced(self, con: duckdb.DuckDBPyConnection, month: str) -> PricedMonth:
        """What the warehouse holds for the month now."""
        return PricedMonth(con.sql(PRICED_ROWS_SQL, params=[month]).to_arrow_table(),
                           con.sql(CREDIT_USE_SQL, params=[month]).to_arrow_table())

    def reprice(self, con: duckdb.DuckDBPyConnection, month: str, actor: str) -> PricedMonth:
        """Price the month again over whatever usage the transaction holds, and read back what that wrote. Only
        inside a transaction the caller rolls back: it replaces the month's priced rows."""
        con.execute("SET preserve_insertion_order = false")
        try:
            inputs = load_inputs(self.settings)
            engine.price_rows(con, self.settings, inputs, month, fee_charges.due_fees(inputs, month), None, actor)
            return self.priced(con, month)
        except (PricingRefused, PricingFileError) as exc:
            raise LateUsageNotPriced(str(exc)) from None
        finally:
            con.execute("SET preserve_insertion_order = true")
            for table in engine.TEMP_TABLES:
                con.execute(f"DROP TABLE IF EXISTS temp.{table}")
