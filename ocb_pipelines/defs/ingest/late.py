"""Late data: after a late file for a closed month booked adjustments in an open month, validate that month.

The focus_raw run of the closed month keeps the file's rows against that month and books the difference as
adjustment lines of the next open month (ingest/late.py). Those lines still need that month's charges_validated
rebuilt, which a run of the closed month's partition cannot do: this asset sensor reads the month from the
materialisation's `adjustments_booked_in` metadata and launches `late_adjustments_job` for it. The review queue
then follows by itself (review_automation_sensor). `ocb ingest` runs the same job itself, daemon or not.
"""

import dagster as dg

from ocb_pipelines.defs.charges.assets import charges_validated
from ocb_pipelines.defs.ingest.assets import BOOKED_IN, focus_raw
from ocb_pipelines.defs.partitions import WAREHOUSE_RUN_TAGS
from ocb_pipelines.services.run_tags import run_tags

LATE_ACTOR = "late_data_sensor"

late_import_job = dg.define_asset_job(
    "late_import_job",
    selection=dg.AssetSelection.assets(focus_raw),
    tags=WAREHOUSE_RUN_TAGS,
    description=(
        "Import files into a closed or finalized month: their rows are kept against it as late data, the month "
        "itself does not change (so it is not validated again), and the difference is booked as adjustment lines "
        "in the next open month (late_data_sensor validates that month)."
    ),
)

late_adjustments_job = dg.define_asset_job(
    "late_adjustments_job",
    selection=dg.AssetSelection.assets(charges_validated),
    tags=WAREHOUSE_RUN_TAGS,
    description=(
        "Validate the open month that late data for a closed month was booked in (its adjustment lines, each "
        "flagged late_for_closed_month for review)."
    ),
)


@dg.asset_sensor(
    asset_key=dg.AssetKey("focus_raw"),
    job=late_adjustments_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "After an import kept late data against a closed month and booked adjustment lines in the next open "
        "month, validates that open month (late_adjustments_job). On by default; nothing to run by hand."
    ),
)
def late_data_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    materialization = asset_event.asset_materialization
    booked = materialization.metadata.get(BOOKED_IN) if materialization else None
    months = list(booked.value) if booked is not None else []
    if not months:
        return dg.SkipReason("the import booked no late data")
    return [dg.RunRequest(run_key=f"late:{asset_event.run_id}:{month}", partition_key=month,
                          tags=run_tags("sensor", LATE_ACTOR)) for month in months]
