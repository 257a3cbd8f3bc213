"""The composition root: an AppContext for the CLI and the review desk, wired to this project's Dagster jobs.

It is the one module that knows both the services and the Definitions; services only receive a job runner.
"""

from __future__ import annotations

from pathlib import Path

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.services.context import AppContext
from ocb_pipelines.services.dagster_runs import job_runner
from ocb_pipelines.warehouse.database import current_actor


def app_context(settings: OcbSettings, *, actor: str | None = None, trigger: str = "cli",
                lock_wait_seconds: float | None = None) -> AppContext:
    """The context a command or a desk request acts in: `actor` defaults to $OCB_ACTOR, else the OS user.
    `lock_wait_seconds` 0: a busy warehouse raises WarehouseBusy at once (the desk's pages never hang)."""
    return AppContext(settings=settings, actor=actor or current_actor(),
                      run_job=job_runner(settings, _definitions, trigger), trigger=trigger,
                      lock_wait_seconds=lock_wait_seconds)


def _definitions(config_path: Path, month: str):
    return build_definitions(config_path, including_month=month)
