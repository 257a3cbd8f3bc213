"""Jobs of the unattended month end: the import of the month just ended, then its outputs."""

import dagster as dg

from ocb_pipelines.defs.charges.assets import charges_validated
from ocb_pipelines.defs.delivery.assets import statement_deliveries
from ocb_pipelines.defs.ingest.assets import focus_raw
from ocb_pipelines.defs.ledger.assets import gl_journal
from ocb_pipelines.defs.ledger.unbilled import unbilled_report
from ocb_pipelines.defs.partitions import WAREHOUSE_RUN_TAGS
from ocb_pipelines.defs.pricing.assets import charges_priced
from ocb_pipelines.defs.review.assets import charges_approved
from ocb_pipelines.defs.statements.assets import statements
from ocb_pipelines.defs.statements.history import pi_history

month_end_import_job = dg.define_asset_job(
    "month_end_import_job",
    selection=dg.AssetSelection.assets(focus_raw, charges_priced, charges_validated, charges_approved),
    tags=WAREHOUSE_RUN_TAGS,
    description=(
        "Month end, step 1 (the monthly schedule launches it): import the inbox's files for the month and rebuild "
        "its validated and approved charges. When it succeeds, month_end_sensor closes the month if nothing is "
        "pending review and launches month_end_outputs_job."
    ),
)

# charges_approved is rebuilt first: decisions made between the import and the close must be in the statements.
month_end_outputs_job = dg.define_asset_job(
    "month_end_outputs_job",
    selection=dg.AssetSelection.assets(charges_approved, pi_history, statements, gl_journal, unbilled_report),
    tags=WAREHOUSE_RUN_TAGS,
    description=("Month end, step 2 (closed month): approved charges, PI history, statements, the GL journal and "
                 "the unbilled report; no email."),
)

month_end_outputs_and_send_job = dg.define_asset_job(
    "month_end_outputs_and_send_job",
    selection=dg.AssetSelection.assets(charges_approved, pi_history, statements, statement_deliveries, gl_journal,
                                       unbilled_report),
    tags=WAREHOUSE_RUN_TAGS,
    description=(
        "Month end, step 2 with `schedule.send_emails: true`: approved charges, PI history, statements, the emails "
        "to the PIs, the GL journal and the unbilled report."
    ),
)
