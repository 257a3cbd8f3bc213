"""The ingest domain's tables: imported files, their rows (every FOCUS column kept) and the focus_raw view.

focus_raw is a view: each row stores its month, its import's key and its row number; the import's lineage
(source, file name, sha256, FOCUS version, expected period, when, which run) is stored once per import.
Repeating those strings on every row cost a tenth of the import's time.
"""

from __future__ import annotations

import duckdb

from ocb_pipelines.core.focus_columns import FOCUS_1_4_ADDED, FOCUS_COLUMNS, FOCUS_COLUMNS_1_3
from ocb_pipelines.warehouse.schema.columns import MONEY, Column, add_columns
from ocb_pipelines.warehouse.transaction import transaction

# Every FOCUS column as text, as the file wrote it: focus_rows, and late_rows (schema/adjustments.py).
FOCUS_TEXT_COLUMNS = ",\n    ".join(f'"{c}" VARCHAR' for c in FOCUS_COLUMNS)

DDL = f"""
CREATE TABLE IF NOT EXISTS import_files (
    source VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    billing_month VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    file_path VARCHAR NOT NULL,
    file_format VARCHAR NOT NULL,
    focus_version VARCHAR NOT NULL,
    expected_period VARCHAR,
    row_count BIGINT NOT NULL,
    billed_total {MONEY} NOT NULL,
    list_total {MONEY} NOT NULL,
    imported_at TIMESTAMP NOT NULL,
    imported_by VARCHAR NOT NULL,
    run_id VARCHAR,
    PRIMARY KEY (source, file_name, billing_month)
);
CREATE TABLE IF NOT EXISTS file_catalog (
    file_path VARCHAR PRIMARY KEY,
    size_bytes BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    months VARCHAR[] NOT NULL,
    checked_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS imports (
    import_key INTEGER PRIMARY KEY,
    import_id VARCHAR NOT NULL,
    billing_month VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    focus_version VARCHAR NOT NULL,
    expected_period VARCHAR,
    imported_at TIMESTAMP NOT NULL,
    run_id VARCHAR,
    filled_columns JSON
);
CREATE TABLE IF NOT EXISTS focus_rows (
    billing_month VARCHAR NOT NULL,
    import_key INTEGER NOT NULL,
    file_row_number BIGINT NOT NULL,
    {FOCUS_TEXT_COLUMNS},
    x_columns JSON
);
"""

# Columns added since a warehouse may have been created: (table, column, type), appended as the DDL has them last.
# imports.filled_columns: the required columns a file lacked, filled from its source's configuration
# (ingest/legacy_layout.py); NULL when the file had them all.
# imports.adjusts_month: set on the import of adjustment lines booked for late data of that closed month
# (warehouse/schema/adjustments.py); NULL for every file imported as such.
# focus_rows: the FOCUS 1.4 columns (core/focus_columns.py), text as every FOCUS column.
# file_catalog.strictly_read: the inspection read every record with the strict reader (reading.strictly_read); NULL
# for an entry from before it did, whose file an import then reads strictly.
ADDED_COLUMNS = (("imports", "filled_columns", "JSON"), ("imports", "adjusts_month", "VARCHAR"),
                 *(("focus_rows", c, "VARCHAR") for c in FOCUS_1_4_ADDED), ("file_catalog", "strictly_read", "BOOLEAN"))
# Columns of the focus_raw view added since: a view without one of them is replaced.
VIEW_ADDED_COLUMNS = ("adjusts_month", *FOCUS_1_4_ADDED)
# The columns every import writes, by name: a column added later is not in every warehouse's same place.
IMPORTS_INSERT = (
    "INSERT INTO imports (import_key, import_id, billing_month, source, file_name, file_sha256, focus_version, "
    "expected_period, imported_at, run_id, filled_columns)"
)


def focus_raw_view() -> str:
    focus = ", ".join(f'r."{c}"' for c in FOCUS_COLUMNS)
    return (
        "CREATE OR REPLACE VIEW focus_raw AS SELECT r.billing_month, i.source, i.file_name, i.file_sha256, "
        "r.file_row_number, i.focus_version, i.expected_period, i.imported_at, i.run_id, i.import_id, "
        f"{focus}, r.x_columns, i.adjusts_month FROM focus_rows r JOIN imports i ON i.import_key = r.import_key"
    )


def migrate(con: duckdb.DuckDBPyConnection, present: set[Column]) -> None:
    """Added columns; a focus_raw table from before the view becomes imports + focus_rows; the view (replaced when
    it lacks a column added since)."""
    add_columns(con, present, ADDED_COLUMNS)
    kind = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = 'main' AND table_name = 'focus_raw'"
    ).fetchall()
    if kind and kind[0][0] == "BASE TABLE":
        _focus_raw_table_to_view(con)
    elif not kind or any(("focus_raw", c) not in present for c in VIEW_ADDED_COLUMNS):
        con.execute(focus_raw_view())


def _focus_raw_table_to_view(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse from before the view: each import's lineage moves to `imports`, its rows to `focus_rows`
    (extras as a JSON object), in one transaction."""
    lineage = "source, file_name, file_sha256, focus_version, expected_period, import_id"
    focus = ", ".join(f'f."{c}"' for c in FOCUS_COLUMNS_1_3)  # that table predates FOCUS 1.4
    with transaction(con):
        con.execute(
            f"INSERT INTO imports BY NAME SELECT CAST(row_number() OVER (ORDER BY imported_at, import_id) AS INTEGER) "
            f"AS import_key, * FROM (SELECT billing_month, {lineage}, min(imported_at) AS imported_at, "
            f"any_value(run_id) AS run_id FROM focus_raw GROUP BY ALL)"
        )
        con.execute(
            f"INSERT INTO focus_rows BY NAME SELECT f.billing_month, i.import_key, f.file_row_number, {focus}, "
            "CAST(to_json(f.x_columns) AS JSON) AS x_columns FROM focus_raw f JOIN imports i "
            "ON i.import_id = f.import_id AND i.billing_month = f.billing_month"
        )
        con.execute("DROP TABLE focus_raw")
        con.execute(focus_raw_view())
