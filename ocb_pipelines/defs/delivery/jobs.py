"""Jobs of the delivery step: send, and render then send (delivery sits above statements, never the reverse)."""

import dagster as dg

from ocb_pipelines.defs.delivery.assets import statement_deliveries
from ocb_pipelines.defs.partitions import WAREHOUSE_RUN_TAGS
from ocb_pipelines.defs.statements.assets import statements
from ocb_pipelines.defs.statements.history import pi_history

send_job = dg.define_asset_job(
    "send_job",
    selection=dg.AssetSelection.assets(statement_deliveries),
    tags=WAREHOUSE_RUN_TAGS,
    description="Email the month's statements (what was not sent yet; Launchpad `resend` sends again on purpose).",
)

generate_and_send_job = dg.define_asset_job(
    "generate_and_send_job",
    selection=dg.AssetSelection.assets(pi_history, statements, statement_deliveries),
    tags=WAREHOUSE_RUN_TAGS,
    description="Render the month's statements, then email them.",
)
