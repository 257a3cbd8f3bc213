"""The ledger domain's table: one row per journal export (file, sha256, totals, who, which run)."""

from __future__ import annotations

import duckdb

from ocb_pipelines.warehouse.schema.columns import MONEY, Column

DDL = f"""
CREATE SEQUENCE IF NOT EXISTS journal_export_seq;
CREATE TABLE IF NOT EXISTS journal_exports (
    export_id BIGINT PRIMARY KEY DEFAULT nextval('journal_export_seq'),
    billing_month VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    status VARCHAR NOT NULL CHECK (status IN ('written', 'unchanged')),
    file_path VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    line_count BIGINT NOT NULL,
    charge_count BIGINT NOT NULL,
    debit_total {MONEY},
    credit_total {MONEY},
    approved_total {MONEY} NOT NULL,
    approved_exact {MONEY} NOT NULL,
    template VARCHAR,
    template_sha256 VARCHAR,
    period_status VARCHAR NOT NULL,
    exported_at TIMESTAMP NOT NULL,
    exported_by VARCHAR NOT NULL,
    run_id VARCHAR
);
"""


def migrate(con: duckdb.DuckDBPyConnection, present: set[Column]) -> None:
    """Nothing to upgrade yet."""
