"""The billing month: every asset is partitioned by it (keys `YYYY-MM`).

The assets are declared with `billing_month`, the widest calendar; `definitions.build_definitions` rebinds them
to the configured warehouse's calendar (`billing_months`), which starts at its first billing month.
"""

import dagster as dg

from ocb_pipelines.ingest.billing_months import CALENDAR_START
from ocb_pipelines.services.dagster_runs import WAREHOUSE_POOL
from ocb_pipelines.services.run_tags import WAREHOUSE_RUN_TAGS

__all__ = ["WAREHOUSE_POOL", "WAREHOUSE_RUN_TAGS", "billing_month", "billing_months"]


def billing_months(first_month: str) -> dg.MonthlyPartitionsDefinition:
    """Months from `first_month` to the running one: end_offset=1 includes the running month, which providers
    restate month to date until it closes."""
    return dg.MonthlyPartitionsDefinition(start_date=first_month, fmt="%Y-%m", end_offset=1)


billing_month = billing_months(CALENDAR_START)
