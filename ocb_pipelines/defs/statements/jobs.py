"""Jobs of the statements step (the delivery jobs, which also select `statements`, are in defs/delivery)."""

import dagster as dg

from ocb_pipelines.defs.partitions import WAREHOUSE_RUN_TAGS
from ocb_pipelines.defs.statements.assets import statements

statements_job = dg.define_asset_job(
    "statements_job",
    selection=dg.AssetSelection.assets(statements),
    tags=WAREHOUSE_RUN_TAGS,
    description="Render the month's statements (closed month, nothing pending; only what changed).",
)
