"""Jobs of the statements step (the delivery jobs, which also select `statements`, are in defs/delivery)."""

import dagster as dg

from ocb_pipelines.defs.partitions import WAREHOUSE_RUN_TAGS
from ocb_pipelines.defs.statements.assets import statements
from ocb_pipelines.defs.statements.history import pi_history

statements_job = dg.define_asset_job(
    "statements_job",
    selection=dg.AssetSelection.assets(pi_history, statements),
    tags=WAREHOUSE_RUN_TAGS,
    description="The month's PI history, then its statements (closed month, nothing pending; only what changed).",
)
