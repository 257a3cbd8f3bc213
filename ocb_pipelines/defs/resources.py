"""Dagster resources: the configuration file and the DuckDB warehouse it points at."""

from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from ocb_pipelines.core.config import ConfigError, OcbSettings, load_config, resolve_config_path
from ocb_pipelines.services.dagster_runs import tag_run_with_process
from ocb_pipelines.warehouse import resource as warehouse_resource


def _load(config_path: str) -> OcbSettings:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


class OcbConfig(dg.ConfigurableResource):
    """The configuration file this code location reads: folders, currency, tag rules, review, statements, email.
    `ocb ui` sets it (-c PATH, $OCB_CONFIG or ./config.yaml). To change a setting, edit the file and reload the
    code location; nothing here needs changing in the Launchpad."""

    config_path: str = Field(description="The configuration file (config.yaml) every run of this code location reads.")
    _settings: OcbSettings | None = PrivateAttr(default=None)

    def settings(self) -> OcbSettings:
        if self._settings is None:
            self._settings = _load(self.config_path)
        return self._settings


class Warehouse(warehouse_resource.Warehouse):
    """The DuckDB warehouse file that holds the billing data (database.path in the configuration file, with its
    memory limit and threads). Runs that write it go one at a time: the others wait in the run queue. Leave its
    fields as they are: they come from the configuration file."""

    # For developers: the warehouse package's resource (a dagster-duckdb DuckDBResource: our lock wait, memory
    # limit, threads, schema), plus what only a Dagster run needs: the run's tags, and a configuration error that
    # fails the run without retries. It takes the config path itself rather than nesting OcbConfig: nested
    # resources make Dagster 1.13 emit a deprecation warning at every run start.

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # With the in-process executor this is the run worker: tag the run with it, so that if it is killed
        # while holding the warehouse slot the stale_runs_sensor can tell and free the slot; and with who started
        # it and how (a run from the UI's asset page has no ocb/* tag yet: services/run_tags.py).
        run = context.run
        if context.instance is not None and run is not None:
            tag_run_with_process(context.instance, run)

    def load_settings(self) -> OcbSettings:
        return _load(self.config_path)


def build_resources(config_path: str | Path | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources bound to one configuration file (`-c`, the file the definitions load for, $OCB_CONFIG)."""
    path = str(resolve_config_path(config_path))
    return {"ocb": OcbConfig(config_path=path), "warehouse": Warehouse(config_path=path)}


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
