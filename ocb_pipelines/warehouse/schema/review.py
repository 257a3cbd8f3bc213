"""The review domain's tables: decisions (append-only), applied review sheets, and charges_approved."""

from __future__ import annotations

import duckdb

from ocb_pipelines.warehouse.schema.charges import CHARGE_COLUMNS
from ocb_pipelines.warehouse.schema.columns import MONEY, Column, add_columns, drop_columns

DDL = f"""
CREATE SEQUENCE IF NOT EXISTS review_decision_seq;
CREATE TABLE IF NOT EXISTS review_decisions (
    decision_id BIGINT PRIMARY KEY DEFAULT nextval('review_decision_seq'),
    billing_month VARCHAR NOT NULL,
    charge_id VARCHAR NOT NULL,
    row_hash VARCHAR NOT NULL,
    decision VARCHAR NOT NULL CHECK (decision IN ('approve', 'reject', 'correct')),
    note VARCHAR NOT NULL CHECK (length(trim(note)) > 0),
    actor VARCHAR NOT NULL CHECK (length(trim(actor)) > 0),
    decided_at TIMESTAMP NOT NULL,
    via VARCHAR NOT NULL,
    origin VARCHAR,
    pi_email VARCHAR,
    project_id VARCHAR,
    fund_org VARCHAR,
    billed_cost {MONEY},
    review_reasons VARCHAR[],
    run_id VARCHAR,
    import_id VARCHAR
);
CREATE TABLE IF NOT EXISTS review_sheets (
    file_sha256 VARCHAR PRIMARY KEY,
    file_name VARCHAR NOT NULL,
    billing_month VARCHAR NOT NULL,
    reviewer VARCHAR NOT NULL,
    decisions BIGINT NOT NULL,
    applied_at TIMESTAMP NOT NULL,
    run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS charges_approved (
{CHARGE_COLUMNS}    review_reasons VARCHAR[] NOT NULL,
    needs_review BOOLEAN NOT NULL,
    review_status VARCHAR NOT NULL,
    decision_id BIGINT,
    reviewed_by VARCHAR,
    reviewed_at TIMESTAMP,
    review_note VARCHAR,
    original_pi_email VARCHAR,
    original_project_id VARCHAR,
    original_fund_org VARCHAR,
    validated_at TIMESTAMP NOT NULL,
    approved_at TIMESTAMP NOT NULL,
    run_id VARCHAR
);
"""

# Dropped since a warehouse may have been created: the raw Tags stay in focus_raw (reachable through each
# charge's lineage), and row_hash is worked out from the raw row when read.
DROPPED_COLUMNS = (("charges_approved", "tags"), ("charges_approved", "row_hash"))
# Added since: the import a decided line was validated from when it was decided (its raw row then), so that the
# review state hashes a decided line's raw row again only when a later import replaced that row.
ADDED_COLUMNS = (("review_decisions", "import_id", "VARCHAR"),)


def migrate(con: duckdb.DuckDBPyConnection, present: set[Column]) -> None:
    """Drop the columns older warehouses still have; add those they lack."""
    drop_columns(con, present, DROPPED_COLUMNS)
    add_columns(con, present, ADDED_COLUMNS)
