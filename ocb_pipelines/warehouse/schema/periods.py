"""The periods domain's table: one row per billing month, the guard every write passes (period_guard.py)."""

from __future__ import annotations

import duckdb

from ocb_pipelines.warehouse.schema.columns import Column

DDL = """
CREATE TABLE IF NOT EXISTS billing_periods (
    period VARCHAR PRIMARY KEY,
    status VARCHAR NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'finalized')),
    opened_at TIMESTAMP NOT NULL,
    opened_by VARCHAR NOT NULL,
    closed_at TIMESTAMP, closed_by VARCHAR,
    finalized_at TIMESTAMP, finalized_by VARCHAR,
    reopened_at TIMESTAMP, reopened_by VARCHAR, reopen_reason VARCHAR,
    notes VARCHAR
);
"""


def migrate(con: duckdb.DuckDBPyConnection, present: set[Column]) -> None:
    """Nothing to upgrade yet."""
