"""The delivery domain's table: the delivery log, one row per attempt to send a PI's statements."""

from __future__ import annotations

import duckdb

from ocb_pipelines.warehouse.schema.columns import Column, add_columns

# The table as the first release created it; later columns are added by `migrate`, to new files as to old ones.
DDL = """
CREATE SEQUENCE IF NOT EXISTS delivery_log_seq;
CREATE TABLE IF NOT EXISTS delivery_log (
    delivery_id BIGINT PRIMARY KEY DEFAULT nextval('delivery_log_seq'),
    billing_month VARCHAR NOT NULL,
    pi_email VARCHAR NOT NULL,
    recipient VARCHAR NOT NULL,
    content_key VARCHAR NOT NULL,
    attempt INTEGER NOT NULL,
    message_id VARCHAR NOT NULL,
    subject VARCHAR NOT NULL,
    attachments JSON NOT NULL,
    statement_count INTEGER NOT NULL,
    transport VARCHAR NOT NULL CHECK (transport IN ('smtp', 'outbox')),
    status VARCHAR NOT NULL CHECK (status IN ('sending', 'sent', 'written', 'failed', 'unknown')),
    resend BOOLEAN NOT NULL,
    resend_reason VARCHAR,
    error VARCHAR,
    destination VARCHAR,
    requested_by VARCHAR NOT NULL,
    run_id VARCHAR,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
"""

# Added after the first release: who confirmed an uncertain attempt as delivered, when and why.
CONFIRMATION_COLUMNS = {"confirmed_by": "VARCHAR", "confirmed_at": "TIMESTAMP", "confirmed_reason": "VARCHAR"}


def migrate(con: duckdb.DuckDBPyConnection, present: set[Column]) -> None:
    """Add the confirmation columns to a log from before them."""
    add_columns(con, present, (("delivery_log", column, kind) for column, kind in CONFIRMATION_COLUMNS.items()))
