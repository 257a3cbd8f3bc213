"""The billing month: every asset is partitioned by it (keys `YYYY-MM`)."""

import dagster as dg

from ocb_pipelines.services.dagster_runs import WAREHOUSE_POOL, WAREHOUSE_RUN_TAGS

__all__ = ["WAREHOUSE_POOL", "WAREHOUSE_RUN_TAGS", "billing_month"]

# end_offset=1 includes the running month: providers restate month-to-date exports until it closes.
billing_month = dg.MonthlyPartitionsDefinition(start_date="2020-01", fmt="%Y-%m", end_offset=1)
