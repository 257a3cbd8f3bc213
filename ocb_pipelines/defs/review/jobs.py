"""Jobs of the review domain."""

import dagster as dg

from ocb_pipelines.defs.partitions import WAREHOUSE_RUN_TAGS
from ocb_pipelines.defs.review.assets import charges_approved, review_decisions

review_job = dg.define_asset_job(
    "review_job",
    selection=dg.AssetSelection.assets(review_decisions, charges_approved),
    tags=WAREHOUSE_RUN_TAGS,
    description=(
        "Rebuild the month's review decision state and approved charges (run by every decision command, tagged "
        "with its actor); Launchpad decisions (audited as the UI's user) or review sheets are recorded first."
    ),
)
