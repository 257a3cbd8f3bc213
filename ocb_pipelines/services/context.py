"""What every command and query of the application layer is given: the configuration, who acts, how to reach
the warehouse, and how to run a Dagster job.

The CLI, the Dagster definitions and the review desk each build one `AppContext` (`ocb_pipelines.app` for the
CLI and the desk) and call the same service functions with it. Nothing below this layer knows who is calling.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.warehouse.connection import WarehouseLockedError
from ocb_pipelines.warehouse.resource import Warehouse

WarehouseBusy = WarehouseLockedError  # for callers above services (the desk), which never import the warehouse


@dataclass(frozen=True)
class RunOutcome:
    """A finished Dagster run as a command reports it: its id, whether it succeeded, the root error in the
    user's words, and each materialised asset's metadata (plain values)."""

    run_id: str
    success: bool
    error: str = ""
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "success": self.success, "error": self.error, "metadata": self.metadata}


class JobRunner(Protocol):
    """Runs a job of the project for one month as a tagged Dagster run (services/dagster_runs.py)."""

    def __call__(self, job_name: str, month: str, actor: str, run_config: dict[str, Any] | None = None,
                 ) -> RunOutcome: ...


@dataclass(frozen=True)
class AppContext:
    """One caller's view of the application: settings, actor (desk user, OS user, `dagster/user`) and runner.

    `run_job` is None where no job may be launched (inside a Dagster run, a sensor): commands that change an
    asset's data then refuse rather than write behind Dagster's back."""

    settings: OcbSettings
    actor: str
    run_job: JobRunner | None = None
    trigger: str = "cli"
    lock_wait_seconds: float | None = None  # None: $OCB_LOCK_WAIT_SECONDS; the desk's pages: 0 (WarehouseBusy at once)

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The warehouse, opened the one way: the same `Warehouse` resource class as the Dagster runs, with the
        configured path, memory limit and threads (DuckDBResource.get_connection needs no Dagster context)."""
        with Warehouse.for_settings(self.settings, self.lock_wait_seconds).get_connection() as con:
            yield con

    def job(self, job_name: str, month: str, run_config: dict[str, Any] | None = None) -> RunOutcome:
        """Run `job_name` for `month` as this context's actor."""
        if self.run_job is None:
            raise RuntimeError(f"{job_name}: no job runner in this context ({self.trigger})")
        return self.run_job(job_name, month, self.actor, run_config)
