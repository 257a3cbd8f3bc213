"""The invoices domain's table: the lines of FOCUS 1.4 InvoiceDetail files (ingest/invoices.py).

An InvoiceDetail file describes the provider's invoices, not charges: it is never billed. Its lines are kept per
billing month (the month of their BillingPeriodStart) with their file's lineage, so the month's billed total per
InvoiceId can be compared with the invoice (ingest/invoice_check.py). The file itself is listed in import_files
(focus_version `InvoiceDetail 1.4`, billed and list totals 0: it adds no charge to the month).
"""

from __future__ import annotations

import duckdb

from ocb_pipelines.warehouse.schema.columns import MONEY, Column

DDL = f"""
CREATE TABLE IF NOT EXISTS invoice_lines (
    billing_month VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    file_row_number BIGINT NOT NULL,
    import_id VARCHAR NOT NULL,
    invoice_id VARCHAR NOT NULL,
    invoice_issuer_name VARCHAR,
    invoice_detail_id VARCHAR,
    billing_account_id VARCHAR NOT NULL,
    charge_category VARCHAR,
    billed_cost {MONEY} NOT NULL,
    billing_currency VARCHAR NOT NULL,
    billing_period_start TIMESTAMP NOT NULL,
    billing_period_end TIMESTAMP NOT NULL,
    invoice_issue_status VARCHAR,
    payment_currency VARCHAR,
    columns JSON,
    imported_at TIMESTAMP NOT NULL,
    imported_by VARCHAR NOT NULL,
    run_id VARCHAR
);
"""


def migrate(con: duckdb.DuckDBPyConnection, present: set[Column]) -> None:
    """Nothing to upgrade yet: the table is new in this release."""
    del con, present
