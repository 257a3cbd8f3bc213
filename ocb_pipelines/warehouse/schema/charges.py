"""The charges domain's tables: validated_lines and the charges_validated view over it and the raw rows.

CHARGE_COLUMNS are the columns a charge has in charges_validated and charges_approved (review's table).
"""

from __future__ import annotations

import duckdb

from ocb_pipelines.warehouse.identity import row_hash_sql
from ocb_pipelines.warehouse.schema.columns import MONEY, Column, drop_columns
from ocb_pipelines.warehouse.transaction import transaction

CHARGE_COLUMNS = f"""    charge_id VARCHAR NOT NULL,
    billing_month VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    file_row_number BIGINT NOT NULL,
    focus_version VARCHAR NOT NULL,
    expected_period VARCHAR,
    billing_account_id VARCHAR,
    sub_account_id VARCHAR,
    sub_account_name VARCHAR,
    provider VARCHAR,
    service_category VARCHAR,
    service_name VARCHAR,
    charge_category VARCHAR NOT NULL,
    charge_class VARCHAR,
    charge_description VARCHAR,
    resource_id VARCHAR,
    resource_name VARCHAR,
    resource_type VARCHAR,
    region VARCHAR,
    sku_id VARCHAR,
    pricing_unit VARCHAR,
    pricing_quantity {MONEY},
    billing_currency VARCHAR NOT NULL,
    list_cost {MONEY},
    contracted_cost {MONEY},
    billed_cost {MONEY} NOT NULL,
    effective_cost {MONEY} NOT NULL,
    billing_period_start TIMESTAMP NOT NULL,
    billing_period_end TIMESTAMP NOT NULL,
    charge_period_start TIMESTAMP NOT NULL,
    charge_period_end TIMESTAMP NOT NULL,
    pi_email VARCHAR,
    project_id VARCHAR,
    fund_org VARCHAR,
    cost_center VARCHAR,
    account_code VARCHAR,
    reference_1 VARCHAR,
    reference_2 VARCHAR,
""".rstrip("\n") + "\n"

# charges_validated is a view: what validation computed (validated_lines: ids, money, times, attribution, review
# reasons) joined back to its raw row through the import it was validated from, for the row's descriptive text
# (names, ids, region), its import's lineage and its row_hash. Writing those a second time for every line was
# a third of validation's time. A line whose raw row was replaced by a later import keeps its amounts and
# loses those columns (row_hash included) until it is validated again.
DESCRIPTIVE_COLUMNS = {
    "file_sha256": "r.file_sha256",
    "focus_version": "r.focus_version",
    "expected_period": "r.expected_period",
    "billing_account_id": 'r."BillingAccountId"',
    "sub_account_id": 'r."SubAccountId"',
    "sub_account_name": 'r."SubAccountName"',
    "provider": 'coalesce(r."ServiceProviderName", r."ProviderName")',
    "service_category": 'r."ServiceCategory"',
    "service_name": 'r."ServiceName"',
    "charge_class": 'r."ChargeClass"',
    "charge_description": 'r."ChargeDescription"',
    "resource_id": 'r."ResourceId"',
    "resource_name": 'r."ResourceName"',
    "resource_type": 'r."ResourceType"',
    "region": 'coalesce(r."RegionId", r."RegionName")',
    "sku_id": 'r."SkuId"',
    "pricing_unit": 'r."PricingUnit"',
}
# A validated line `v`'s raw row `r`, with its import's lineage: in the view and wherever a row_hash is worked out.
RAW_ROW_JOIN = (
    "LEFT JOIN (SELECT f.*, i.import_id, i.source, i.file_sha256, i.focus_version, i.expected_period "
    "FROM focus_rows f JOIN imports i ON i.import_key = f.import_key) r "
    "ON r.import_id = v.import_id AND r.file_row_number = v.file_row_number AND r.billing_month = v.billing_month"
)
# The row_hash of `r`, NULL when the line's raw row is gone (the md5 of missing values would look like a hash).
RAW_ROW_HASH = f"CASE WHEN r.import_id IS NOT NULL THEN {row_hash_sql('r.')} END"
_VALIDATED_LINE_COLUMNS = "".join(
    line + "\n" for line in CHARGE_COLUMNS.splitlines() if line.split()[0] not in DESCRIPTIVE_COLUMNS
).replace(
    # An md5's hex digits: DuckDB's string compression tried on them (every value distinct) took 0.4 CPU s of a
    # million-line validation, to save 8 bytes a line. A warehouse created before keeps its compression.
    "charge_id VARCHAR NOT NULL,", "charge_id VARCHAR NOT NULL USING COMPRESSION uncompressed,", 1)


# Bumped whenever the view's definition changes: an existing warehouse's view is replaced once, not on every connect.
CHARGES_VALIDATED_VIEW_VERSION = "ocb charges_validated v2: row_hash and lineage from the raw row"


def charges_validated_view() -> str:
    """The view: charge_id, row_hash, then the columns in the order of charges_approved."""
    names = [line.split()[0] for line in CHARGE_COLUMNS.splitlines() if line.strip()]
    names[1:1] = ["row_hash"]
    names += ["review_reasons", "needs_review", "validated_at", "run_id"]
    from_raw = {**DESCRIPTIVE_COLUMNS, "row_hash": RAW_ROW_HASH}
    select = ", ".join(f"{from_raw[n]} AS {n}" if n in from_raw else f"v.{n}" for n in names)
    # Joined to the tables, not to the focus_raw view: EXPORT DATABASE (the backup) restores views in name order.
    return f"CREATE OR REPLACE VIEW charges_validated AS SELECT {select} FROM validated_lines v {RAW_ROW_JOIN}"


DDL = f"""
CREATE TABLE IF NOT EXISTS validated_lines (
{_VALIDATED_LINE_COLUMNS}    import_id VARCHAR,
    review_reasons VARCHAR[] NOT NULL,
    needs_review BOOLEAN NOT NULL,
    validated_at TIMESTAMP NOT NULL,
    run_id VARCHAR
);
"""

# Columns dropped since a warehouse may have been created: (table, column). The raw Tags stay in focus_raw
# (reachable through each charge's lineage); copying them into every charge table only cost write time.
# row_hash is worked out from the raw row when read, and validated_lines takes the import's lineage from it.
DROPPED_COLUMNS = (
    ("charges_validated", "tags"), ("validated_lines", "row_hash"), ("validated_lines", "file_sha256"),
    ("validated_lines", "focus_version"), ("validated_lines", "expected_period"),
)  # fmt: skip


def migrate(con: duckdb.DuckDBPyConnection, present: set[Column]) -> None:
    """Dropped columns; a charges_validated table from before the view moves to validated_lines; the view,
    replaced only when its version changed. Runs after ingest's: the view reads focus_rows and imports."""
    drop_columns(con, present, DROPPED_COLUMNS)
    kind = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_name = 'charges_validated'"
    ).fetchall()
    if kind and kind[0][0] == "BASE TABLE":
        _charges_validated_table_to_view(con)
    comment = con.execute(
        "SELECT comment FROM duckdb_views() WHERE schema_name = 'main' AND view_name = 'charges_validated'"
    ).fetchall()
    if not comment or comment[0][0] != CHARGES_VALIDATED_VIEW_VERSION:
        con.execute(charges_validated_view())
        con.execute(f"COMMENT ON VIEW charges_validated IS '{CHARGES_VALIDATED_VIEW_VERSION}'")


def _charges_validated_table_to_view(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse from before the view: its validated rows move to validated_lines, linked to their raw rows'
    import (in one transaction: an interrupted upgrade leaves the table as it was)."""
    match = " AND ".join(f"r.{c} = c.{c}" for c in ("billing_month", "source", "file_name", "file_sha256",
                                                     "file_row_number"))
    with transaction(con):
        con.execute(
            f"INSERT INTO validated_lines BY NAME SELECT c.* EXCLUDE ({', '.join([*DESCRIPTIVE_COLUMNS, 'row_hash'])}),"
            f" r.import_id FROM charges_validated c LEFT JOIN focus_raw r ON {match}"
        )
        con.execute("DROP TABLE charges_validated")
        con.execute(charges_validated_view())
