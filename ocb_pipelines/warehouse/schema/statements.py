"""The statements domain's tables: one row per statement (PI x project), its fund shares and its files; and
`pi_history`, each PI and project's last 12 months as of a billing month (the `pi_history` asset's slices)."""

from __future__ import annotations

import duckdb

from ocb_pipelines.warehouse.schema.columns import MONEY, Column

DDL = f"""
CREATE TABLE IF NOT EXISTS statements (
    billing_month VARCHAR NOT NULL,
    pi_email VARCHAR NOT NULL,
    project_id VARCHAR NOT NULL,
    statement_key VARCHAR NOT NULL,
    pdf_path VARCHAR NOT NULL,
    csv_path VARCHAR NOT NULL,
    content_sha256 VARCHAR NOT NULL,
    pdf_sha256 VARCHAR NOT NULL,
    csv_sha256 VARCHAR NOT NULL,
    line_count BIGINT NOT NULL,
    list_total {MONEY} NOT NULL,
    discount_total {MONEY} NOT NULL,
    billed_total {MONEY} NOT NULL,
    credits_total {MONEY} NOT NULL,
    discount_percent DECIMAL(9, 1) NOT NULL,
    currency VARCHAR NOT NULL,
    fund_orgs VARCHAR[] NOT NULL,
    references_1 VARCHAR[] NOT NULL,
    references_2 VARCHAR[] NOT NULL,
    generated_at TIMESTAMP NOT NULL,
    generated_by VARCHAR NOT NULL,
    run_id VARCHAR,
    PRIMARY KEY (billing_month, pi_email, project_id)
);
CREATE TABLE IF NOT EXISTS statement_fund_shares (
    billing_month VARCHAR NOT NULL,
    pi_email VARCHAR NOT NULL,
    project_id VARCHAR NOT NULL,
    fund_org VARCHAR NOT NULL,
    share_percent DECIMAL(9, 2) NOT NULL,
    list_total {MONEY} NOT NULL,
    billed_total {MONEY} NOT NULL,
    line_count BIGINT NOT NULL,
    PRIMARY KEY (billing_month, pi_email, project_id, fund_org)
);
CREATE TABLE IF NOT EXISTS statement_files (
    billing_month VARCHAR NOT NULL,
    pi_email VARCHAR NOT NULL,
    project_id VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    mime VARCHAR NOT NULL,
    PRIMARY KEY (billing_month, pi_email, project_id, format)
);
CREATE TABLE IF NOT EXISTS pi_history (
    billing_month VARCHAR NOT NULL,
    month VARCHAR NOT NULL,
    pi_email VARCHAR,
    project_id VARCHAR NOT NULL,
    billed_total {MONEY} NOT NULL,
    list_total {MONEY} NOT NULL,
    subsidy_total {MONEY} NOT NULL,
    line_count BIGINT NOT NULL,
    gap BOOLEAN NOT NULL,
    built_at TIMESTAMP NOT NULL,
    run_id VARCHAR
);
"""

# `statements` had a PDF and a CSV column pair before formats became writers; they are still filled for the
# readers of that time (import-history writes them) and copied once into `statement_files` by `migrate`.
LEGACY_FILE_COLUMNS = {"pdf": ("pdf_path", "pdf_sha256", "application/pdf"),
                       "csv": ("csv_path", "csv_sha256", "text/csv")}
_LEGACY_COPY = " UNION ALL ".join(
    f"SELECT billing_month, pi_email, project_id, '{name}', {path}, {sha}, '{mime}' FROM statements s "
    "WHERE s.{sha} <> '' AND NOT EXISTS (SELECT 1 FROM statement_files f WHERE f.billing_month = s.billing_month "
    "AND f.pi_email = s.pi_email AND f.project_id = s.project_id)".replace("{sha}", sha)
    for name, (path, sha, mime) in LEGACY_FILE_COLUMNS.items()
)


def migrate(con: duckdb.DuckDBPyConnection, present: set[Column]) -> None:
    """The tables need no upgrade; their legacy file columns are copied (`upkeep`)."""
    upkeep(con)


def upkeep(con: duckdb.DuckDBPyConnection) -> None:
    """On every connection: statements recorded with the legacy file columns only (before statement_files, or by
    the history import) get their PDF and CSV rows in statement_files (once: the copy skips statements that have
    files already)."""
    con.execute(f"INSERT INTO statement_files {_LEGACY_COPY}")
