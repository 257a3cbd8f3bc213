"""The `Warehouse` resource: dagster-duckdb's DuckDBResource with this project's way of opening the file.

`get_connection` goes through `connection.connect`: our lock wait ($OCB_LOCK_WAIT_SECONDS, one clear line when
it runs out, where DuckDBResource's own backoff waits ~100 s and cannot be tuned), the configured memory limit
and threads SET on every connection, and every domain's tables ensured. It works without a Dagster context, so
`AppContext.connection()` (CLI, desk) opens the warehouse through this same class, with the same settings.

Two ways to build it:
- `Warehouse.for_settings(settings)`: `database` holds the path, `memory_limit`/`threads` the settings;
- `Warehouse(config_path=...)` (the Dagster definitions, which must load without reading the configuration):
  `database` stays empty and the path and limits are read from that file on first use (`settings()`).
`connection_config` is passed to duckdb.connect on top of CONNECTION_CONFIG; the memory limit and threads are
not part of it because DuckDB refuses a second in-process connection to a file with a different config.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from ocb_pipelines.core.config import OcbSettings, load_config
from ocb_pipelines.warehouse.connection import connect


class Warehouse(DuckDBResource):
    """The DuckDB warehouse, opened the one way (see the module docstring)."""

    database: str = Field(default="", description="The warehouse file. Empty: database.path of the configuration file.")
    connection_config: dict[str, Any] = Field(
        default={}, description="Extra DuckDB connection options; leave empty.")
    config_path: str = Field(
        default="", description="The configuration file (config.yaml) that names the warehouse and its limits.")
    memory_limit: str = Field(
        default="", description="Memory DuckDB may use (4GB). Empty: database.memory_limit of the configuration file.")
    threads: int | None = Field(
        default=None, description="Threads DuckDB may use. Empty: database.threads of the configuration file.")
    lock_wait_seconds: float | None = Field(
        default=None,
        description="Seconds to wait for another process's write lock. Empty: $OCB_LOCK_WAIT_SECONDS, else 60.")
    _settings: OcbSettings | None = PrivateAttr(default=None)

    @classmethod
    def for_settings(cls, settings: OcbSettings, lock_wait_seconds: float | None = None) -> Warehouse:
        """The warehouse a loaded configuration names, with its memory limit and threads."""
        return cls(database=str(settings.warehouse_path), config_path=str(settings.config_path),
                   memory_limit=settings.database.memory_limit, threads=settings.database.threads,
                   lock_wait_seconds=lock_wait_seconds)

    def load_settings(self) -> OcbSettings:
        """Read config_path (ConfigError if it is missing or invalid); the Dagster subclass says it as a Failure."""
        return load_config(self.config_path)

    def settings(self) -> OcbSettings:
        if self._settings is None:
            self._settings = self.load_settings()
        return self._settings

    def target(self) -> tuple[str, str, int | None]:
        """(database, memory_limit, threads): the fields when `database` is set, else from config_path."""
        if self.database:
            return self.database, self.memory_limit, self.threads
        if not self.config_path:
            raise ValueError("the Warehouse resource needs `database` or `config_path`")
        settings = self.settings()
        return str(settings.warehouse_path), settings.database.memory_limit, settings.database.threads

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        database, memory_limit, threads = self.target()
        with connect(database, memory_limit, threads, config=self.connection_config,
                     lock_wait=self.lock_wait_seconds) as con:
            yield con
