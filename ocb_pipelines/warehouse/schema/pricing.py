"""The pricing domain's tables: usage read from Slurm and storage reports, and what each month was priced with.

A usage file (sacct --parsable2, a storage usage report) is imported like a FOCUS file: an `imports` row per
month (its lineage: source, file, sha256) and its lines in `usage_rows` under that import's key. Pricing the
month turns those lines into FOCUS rows in `focus_rows` under the same import key and line numbers, so every
priced charge keeps the file, sha256 and line it came from.
"""

from __future__ import annotations

import duckdb

from ocb_pipelines.warehouse.schema.columns import MONEY, Column

# A usage line as read from its file (ingest/usage.py): usage_rows and late_usage_rows hold the same.
USAGE_LINE = f"""\
    usage_kind VARCHAR NOT NULL,
    account VARCHAR,
    user_name VARCHAR,
    job_id VARCHAR,
    job_name VARCHAR,
    partition VARCHAR,
    cluster VARCHAR,
    started_at TIMESTAMP,
    ended_at TIMESTAMP,
    elapsed_hours {MONEY},
    billing_units {MONEY},
    cpus {MONEY},
    gpus {MONEY},
    mem_gb {MONEY},
    usage_date DATE,
    terabytes {MONEY}"""

DDL = f"""
CREATE TABLE IF NOT EXISTS usage_rows (
    billing_month VARCHAR NOT NULL,
    import_key INTEGER NOT NULL,
    file_row_number BIGINT NOT NULL,
{USAGE_LINE}
);
-- A usage file for a closed or finalized month: its lines kept against that month (the latest version of each
-- file), the month priced again with them and the difference booked as adjustments in the next open month
-- (ingest/late_usage.py); a later late file of the month is priced with these lines too.
CREATE TABLE IF NOT EXISTS late_usage_rows (
    billing_month VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    file_format VARCHAR NOT NULL,
    focus_version VARCHAR NOT NULL,
    file_row_number BIGINT NOT NULL,
{USAGE_LINE},
    imported_at TIMESTAMP NOT NULL,
    imported_by VARCHAR NOT NULL,
    run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS pricing_runs (
    billing_month VARCHAR NOT NULL,
    inputs_sha256 VARCHAR NOT NULL,
    inputs JSON NOT NULL,
    priced_rows BIGINT NOT NULL,
    list_total {MONEY} NOT NULL,
    billed_total {MONEY} NOT NULL,
    subsidy_total {MONEY} NOT NULL,
    priced_at TIMESTAMP NOT NULL,
    priced_by VARCHAR NOT NULL,
    run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS subsidy_applications (
    billing_month VARCHAR NOT NULL,
    rule_id VARCHAR NOT NULL,
    rule_kind VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    pi_email VARCHAR,
    project_id VARCHAR,
    fund_org VARCHAR,
    amount {MONEY} NOT NULL,
    quantity {MONEY},
    detail VARCHAR NOT NULL
);
"""


def migrate(con: duckdb.DuckDBPyConnection, present: set[Column]) -> None:
    """Nothing to upgrade: a table added since (late_usage_rows) is created by the DDL's IF NOT EXISTS."""
