"""pricing_inputs_sensor: a changed rate, fee, account file or subsidy rule re-prices every open month it affects."""

import dagster as dg

from ocb_pipelines.defs.pricing.jobs import pricing_job
from ocb_pipelines.defs.resources import OcbConfig, Warehouse
from ocb_pipelines.services.pricing import PRICING_ACTOR, affected_months_of
from ocb_pipelines.services.run_tags import run_tags


@dg.sensor(
    job=pricing_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Watches the pricing inputs (rates, fees and accounts files, subsidy rules). When they change, lists the "
        "months priced with other inputs: each open month gets a pricing_job run; a closed or finalized month is "
        "named in the skip reason and never re-priced (reopen it, or book the difference in an open month)."
    ),
)
def pricing_inputs_sensor(context: dg.SensorEvaluationContext, ocb: OcbConfig, warehouse: Warehouse):
    settings = ocb.settings()
    with warehouse.get_connection() as con:
        digest, affected = affected_months_of(con, settings)
    if context.cursor == digest and not affected:
        return dg.SkipReason("pricing inputs unchanged")
    requests = [
        dg.RunRequest(run_key=f"pricing:{m['month']}:{digest[:16]}", partition_key=m["month"],
                      tags=run_tags("sensor", PRICING_ACTOR))
        for m in affected if m["status"] == "open"
    ]
    locked = [f"{m['month']} ({m['status']})" for m in affected if m["status"] != "open"]
    note = f"not re-priced, closed: {', '.join(locked)}" if locked else ""
    if note:
        context.log.warning(f"pricing inputs changed; {note}")
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(note or "no month is affected"), cursor=digest)
    return dg.SensorResult(run_requests=requests, cursor=digest)
