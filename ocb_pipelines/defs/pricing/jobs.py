"""pricing_job: re-price a month after its rates, fees, accounts or subsidy rules changed, and re-validate it."""

import dagster as dg

from ocb_pipelines.defs.charges.assets import charges_validated
from ocb_pipelines.defs.partitions import WAREHOUSE_RUN_TAGS
from ocb_pipelines.defs.pricing.assets import charges_priced

pricing_job = dg.define_asset_job(
    "pricing_job",
    selection=dg.AssetSelection.assets(charges_priced, charges_validated),
    tags=WAREHOUSE_RUN_TAGS,
    description=(
        "Price the month again with the current rates, fees, accounts and subsidy rules, then validate it (the "
        "review queue follows). pricing_inputs_sensor launches it for each open month a change affects."
    ),
)
