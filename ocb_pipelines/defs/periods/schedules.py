"""The monthly month-end schedule: on `schedule.day_of_month` it imports the month just ended from the inbox.

Shipped STOPPED: turn it on in the UI (Automation) and keep `dagster-daemon run -w workspace.yaml` running.
What follows the import (close, statements, journal, email) is month_end_sensor's part.
"""

import dagster as dg

from ocb_pipelines.core.config import ScheduleSettings, load_schedule_settings
from ocb_pipelines.defs.periods.jobs import month_end_import_job
from ocb_pipelines.defs.resources import Warehouse
from ocb_pipelines.periods.month_end import SCHEDULE_ACTOR, cron_for, month_just_ended
from ocb_pipelines.services.run_tags import run_tags
from ocb_pipelines.warehouse.database import period_status

MONTH_END_TAGS = run_tags("schedule", SCHEDULE_ACTOR)


def build_month_end_schedule(settings: ScheduleSettings) -> dg.ScheduleDefinition:
    """The schedule for the configured day, hour and time zone.

    Not build_schedule_from_partitioned_job: billing_month includes the running month (end_offset=1), so that
    helper would request the month that has just begun instead of the one that ended.
    """

    @dg.schedule(
        name="month_end_schedule",
        cron_schedule=cron_for(settings.day_of_month, settings.hour),
        execution_timezone=settings.timezone,
        job=month_end_import_job,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=(
            f"Day {settings.day_of_month} of each month, {settings.hour:02d}:00 {settings.timezone}: import the inbox "
            "for the month just ended (month_end_import_job). month_end_sensor then closes the month if nothing is "
            "pending review and produces statements and the journal"
            + (" and emails the statements." if settings.send_emails else " (emails only with schedule.send_emails).")
        ),
    )
    def month_end_schedule(
        context: dg.ScheduleEvaluationContext, warehouse: Warehouse
    ) -> dg.RunRequest | dg.SkipReason:
        month = month_just_ended(context.scheduled_execution_time)
        with warehouse.get_connection() as con:
            status = period_status(con, month)
        if status in ("closed", "finalized"):  # closed by hand before the day: its import would be refused
            return dg.SkipReason(
                f"{month} is already {status}: nothing to import. Late data goes into the next open month, or "
                f"reopen {month} first (ocb periods reopen {month} --reason ...)."
            )
        return dg.RunRequest(
            run_key=f"month_end:{month}",
            partition_key=month,
            tags=MONTH_END_TAGS,
        )

    return month_end_schedule


@dg.definitions
def month_end_schedule_definitions() -> dg.Definitions:
    """The schedule as the configuration file sets it (read when the definitions load)."""
    return dg.Definitions(schedules=[build_month_end_schedule(load_schedule_settings())])
