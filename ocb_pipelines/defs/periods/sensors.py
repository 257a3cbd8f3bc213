"""month_end_sensor: after a successful month-end import, close the month if it is ready and produce its outputs."""

import dagster as dg

from ocb_pipelines.defs.periods.jobs import month_end_import_job, month_end_outputs_and_send_job, month_end_outputs_job
from ocb_pipelines.defs.resources import OcbConfig, Warehouse
from ocb_pipelines.periods.month_end import SCHEDULE_ACTOR, decide_month_end
from ocb_pipelines.services.run_tags import run_tags


@dg.run_status_sensor(
    name="month_end_sensor",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[month_end_import_job],
    request_jobs=[month_end_outputs_job, month_end_outputs_and_send_job],
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "After month_end_import_job succeeds: if every file was imported and nothing is pending review, closes the "
        "month (actor `schedule`) and launches month_end_outputs_job (statements + GL journal), or "
        "month_end_outputs_and_send_job when schedule.send_emails is true. Otherwise it skips and says why (here, "
        "and as a month_end_stopped audit event)."
    ),
)
def month_end_sensor(context: dg.RunStatusSensorContext, ocb: OcbConfig, warehouse: Warehouse):
    run = context.dagster_run
    month = run.tags.get("dagster/partition")
    if not month:
        return dg.SkipReason(f"run {run.run_id} has no billing month")
    settings = ocb.settings()
    with warehouse.get_connection() as con:
        step = decide_month_end(con, month, run.run_id, settings.currency.symbol)
    context.log.info(f"month end {month}: {step.reason}")
    if not step.produce:
        return dg.SkipReason(f"month end {month} stopped: {step.reason}")
    job = month_end_outputs_and_send_job if settings.schedule.send_emails else month_end_outputs_job
    return dg.RunRequest(
        run_key=f"month_end_outputs:{month}:{run.run_id}",
        job_name=job.name,
        partition_key=month,
        tags={**run_tags("sensor", SCHEDULE_ACTOR), "ocb/import_run": run.run_id},
    )
