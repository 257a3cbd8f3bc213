"""The billing month: every asset is partitioned by it (keys `YYYY-MM`)."""

import dagster as dg

# end_offset=1 includes the running month: providers restate month-to-date exports until it closes.
billing_month = dg.MonthlyPartitionsDefinition(start_date="2020-01", fmt="%Y-%m", end_offset=1)

# One writer at a time for the DuckDB file: steps share this pool (limit 1 in dagster.yaml) and
# runs carry this tag (limited to 1 by the run queue).
WAREHOUSE_POOL = "ocb_warehouse"
WAREHOUSE_RUN_TAGS = {"ocb/warehouse": "write"}
