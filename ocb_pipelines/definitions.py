"""The one Definitions object: assets, checks, jobs, sensors and resources of ocb_pipelines."""


from pathlib import Path

import dagster as dg

from ocb_pipelines.charges.assets import charges_validated
from ocb_pipelines.core.config import load_schedule_settings, resolve_config_path
from ocb_pipelines.core.resources import OcbConfig, Warehouse
from ocb_pipelines.core.sensors import stale_runs_sensor
from ocb_pipelines.delivery.assets import statement_deliveries
from ocb_pipelines.ingest.assets import focus_raw
from ocb_pipelines.ingest.jobs import ingest_job
from ocb_pipelines.ingest.sensors import focus_inbox_sensor
from ocb_pipelines.ledger.assets import gl_journal
from ocb_pipelines.ledger.jobs import journal_job
from ocb_pipelines.periods.jobs import month_end_import_job, month_end_outputs_and_send_job, month_end_outputs_job
from ocb_pipelines.periods.schedules import build_month_end_schedule
from ocb_pipelines.periods.sensors import month_end_sensor
from ocb_pipelines.review.assets import charges_approved, review_decisions
from ocb_pipelines.review.jobs import review_job
from ocb_pipelines.review.sensors import review_sheet_sensor
from ocb_pipelines.statements.assets import statements
from ocb_pipelines.statements.jobs import generate_and_send_job, send_job, statements_job

ASSETS = [focus_raw, charges_validated, review_decisions, charges_approved, gl_journal, statements,
          statement_deliveries]


def build_resources(config_path: str | Path | None = None) -> dict[str, dg.ConfigurableResource]:
    path = str(resolve_config_path(config_path))
    return {"ocb": OcbConfig(config_path=path), "warehouse": Warehouse(config_path=path)}


def build_definitions(config_path: str | Path | None = None) -> dg.Definitions:
    """Definitions bound to one configuration file (`-c`, $OCB_CONFIG, or ./config.yaml)."""
    return dg.Definitions(
        assets=ASSETS,
        jobs=[ingest_job, review_job, journal_job, statements_job, send_job, generate_and_send_job,
              month_end_import_job, month_end_outputs_job, month_end_outputs_and_send_job],
        schedules=[build_month_end_schedule(load_schedule_settings(config_path))],
        sensors=[focus_inbox_sensor, review_sheet_sensor, month_end_sensor, stale_runs_sensor],
        resources=build_resources(config_path),
        executor=dg.in_process_executor,
    )


defs = build_definitions()
