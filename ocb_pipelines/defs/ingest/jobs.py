"""Jobs of the ingest domain."""

import dagster as dg

from ocb_pipelines.defs.charges.assets import charges_validated
from ocb_pipelines.defs.ingest.assets import focus_raw
from ocb_pipelines.defs.partitions import WAREHOUSE_RUN_TAGS
from ocb_pipelines.defs.pricing.assets import charges_priced

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets(focus_raw, charges_priced, charges_validated),
    tags=WAREHOUSE_RUN_TAGS,
    description=(
        "Import the month's files (FOCUS, Slurm sacct, storage reports), price its usage and fees, and rebuild "
        "its validated charges."
    ),
)
