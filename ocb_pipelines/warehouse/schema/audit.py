"""The audit log's table: one row per action, with its actor (warehouse/audit.py writes it)."""

from __future__ import annotations

import duckdb

from ocb_pipelines.warehouse.schema.columns import Column

DDL = """
CREATE SEQUENCE IF NOT EXISTS audit_event_seq;
CREATE TABLE IF NOT EXISTS audit_events (
    event_id BIGINT PRIMARY KEY DEFAULT nextval('audit_event_seq'),
    occurred_at TIMESTAMP NOT NULL,
    actor VARCHAR NOT NULL CHECK (length(actor) > 0),
    action VARCHAR NOT NULL,
    period VARCHAR,
    run_id VARCHAR,
    subject VARCHAR,
    details JSON
);
"""


def migrate(con: duckdb.DuckDBPyConnection, present: set[Column]) -> None:
    """Nothing to upgrade yet."""
