"""Late data for closed months, and the adjustment lines it books in the next open month.

A file whose rows belong to a closed or finalized month M is kept against M (`late_imports`, `late_rows`: the
same shape as `imports` and `focus_rows`), and M itself does not change. The difference per charge from what M
billed becomes FOCUS rows of the next open month N (an ordinary import there, `imports.adjusts_month` = M), and
each such row's origin is one `adjustment_lines` row: the month, file, row and charge it corrects.
"""

from __future__ import annotations

import duckdb

from ocb_pipelines.core.focus_columns import FOCUS_COLUMNS
from ocb_pipelines.warehouse.schema.columns import MONEY, Column
from ocb_pipelines.warehouse.schema.ingest import FOCUS_TEXT_COLUMNS

# Approved charges with the closed month each adjustment line corrects ('' for the month's own charges): the GL
# journal books adjustments on lines of their own that name it, and a split project's statement allocates them apart
# (pricing.shares.split_line_key), so both see the same lines.
APPROVED_WITH_ORIGIN = (
    "SELECT c.*, coalesce(a.origin_month, '') AS origin_month FROM charges_approved c LEFT JOIN adjustment_lines a "
    "ON a.booked_month = c.billing_month AND a.source = c.source AND a.file_name = c.file_name "
    "AND a.file_row_number = c.file_row_number"
)

DDL = f"""
CREATE TABLE IF NOT EXISTS late_imports (
    late_key INTEGER PRIMARY KEY,
    import_id VARCHAR NOT NULL,
    billing_month VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    file_format VARCHAR NOT NULL,
    focus_version VARCHAR NOT NULL,
    row_count BIGINT NOT NULL,
    billed_total {MONEY} NOT NULL,
    booked_month VARCHAR NOT NULL,
    adjustment_lines BIGINT NOT NULL,
    adjustment_billed {MONEY} NOT NULL,
    imported_at TIMESTAMP NOT NULL,
    imported_by VARCHAR NOT NULL,
    run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS late_rows (
    billing_month VARCHAR NOT NULL,
    late_key INTEGER NOT NULL,
    file_row_number BIGINT NOT NULL,
    {FOCUS_TEXT_COLUMNS},
    x_columns JSON
);
CREATE TABLE IF NOT EXISTS adjustment_lines (
    booked_month VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    file_row_number BIGINT NOT NULL,
    origin_month VARCHAR NOT NULL,
    origin_file VARCHAR NOT NULL,
    origin_row BIGINT NOT NULL,
    corrects_charge_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    billed_delta {MONEY} NOT NULL,
    list_delta {MONEY} NOT NULL,
    effective_delta {MONEY} NOT NULL,
    contracted_delta {MONEY},
    late_import_id VARCHAR NOT NULL,
    PRIMARY KEY (booked_month, source, file_name, file_row_number)
);
"""


def migrate(con: duckdb.DuckDBPyConnection, present: set[Column]) -> None:
    """late_rows keeps every FOCUS column focus_rows has: one added to the FOCUS columns since is added here too
    (rows are copied by name)."""
    for column in FOCUS_COLUMNS:
        if ("late_rows", column) not in present:
            con.execute(f'ALTER TABLE late_rows ADD COLUMN "{column}" VARCHAR')
            present.add(("late_rows", column))
