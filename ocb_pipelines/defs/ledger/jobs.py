"""Jobs of the ledger domain."""

import dagster as dg

from ocb_pipelines.defs.ledger.assets import gl_journal
from ocb_pipelines.defs.partitions import WAREHOUSE_RUN_TAGS

journal_job = dg.define_asset_job(
    "journal_job",
    selection=dg.AssetSelection.assets(gl_journal),
    tags=WAREHOUSE_RUN_TAGS,
    description=(
        "Export the month's GL journal (Launchpad config: output_dir, optional). The month must be closed or "
        "finalized with nothing pending. Other layouts are exports: `ocb export-journal -f summary`."
    ),
)
