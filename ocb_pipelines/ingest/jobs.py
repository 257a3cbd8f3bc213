"""Jobs of the ingest domain."""

import dagster as dg

from ocb_pipelines.charges.assets import charges_validated
from ocb_pipelines.core.partitions import WAREHOUSE_RUN_TAGS
from ocb_pipelines.ingest.assets import focus_raw

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets(focus_raw, charges_validated),
    tags=WAREHOUSE_RUN_TAGS,
    description="Import the month's FOCUS files and rebuild its validated charges.",
)
