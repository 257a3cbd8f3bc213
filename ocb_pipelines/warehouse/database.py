"""The DuckDB warehouse: table definitions, connection set-up, the period guard and the audit log.

Plain functions over a DuckDB connection (no Dagster), so the CLI, the assets and the tests share them.
Every table that holds money uses DECIMAL(38, 12); no amount is ever a float.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from ocb_pipelines.charges.identity import row_hash_sql
from ocb_pipelines.core.money import exact_text
from ocb_pipelines.ingest.focus import FOCUS_COLUMNS

MONEY = "DECIMAL(38, 12)"

_FOCUS_RAW_COLUMNS = ",\n    ".join(f'"{c}" VARCHAR' for c in FOCUS_COLUMNS)

_CHARGE_COLUMNS = """    charge_id VARCHAR NOT NULL,
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
    pricing_quantity DECIMAL(38, 12),
    billing_currency VARCHAR NOT NULL,
    list_cost DECIMAL(38, 12),
    contracted_cost DECIMAL(38, 12),
    billed_cost DECIMAL(38, 12) NOT NULL,
    effective_cost DECIMAL(38, 12) NOT NULL,
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
    line + "\n" for line in _CHARGE_COLUMNS.splitlines() if line.split()[0] not in DESCRIPTIVE_COLUMNS
)


# focus_raw is a view too: each row stores its month, its import's key and its row number; the import's lineage
# (source, file name, sha256, FOCUS version, expected period, when, which run) is stored once per import.
# Repeating those strings on every row cost a tenth of the import's time.


def _focus_raw_view() -> str:
    focus = ", ".join(f'r."{c}"' for c in FOCUS_COLUMNS)
    return (
        "CREATE VIEW IF NOT EXISTS focus_raw AS SELECT r.billing_month, i.source, i.file_name, i.file_sha256, "
        "r.file_row_number, i.focus_version, i.expected_period, i.imported_at, i.run_id, i.import_id, "
        f"{focus}, r.x_columns FROM focus_rows r JOIN imports i ON i.import_key = r.import_key"
    )


# Bumped whenever the view's definition changes: an existing warehouse's view is replaced once, not on every connect.
CHARGES_VALIDATED_VIEW_VERSION = "ocb charges_validated v2: row_hash and lineage from the raw row"


def _charges_validated_view() -> str:
    """The view: charge_id, row_hash, then the columns in the order of charges_approved."""
    names = [line.split()[0] for line in _CHARGE_COLUMNS.splitlines() if line.strip()]
    names[1:1] = ["row_hash"]
    names += ["review_reasons", "needs_review", "validated_at", "run_id"]
    from_raw = {**DESCRIPTIVE_COLUMNS, "row_hash": RAW_ROW_HASH}
    select = ", ".join(f"{from_raw[n]} AS {n}" if n in from_raw else f"v.{n}" for n in names)
    # Joined to the tables, not to the focus_raw view: EXPORT DATABASE (the backup) restores views in name order.
    return f"CREATE OR REPLACE VIEW charges_validated AS SELECT {select} FROM validated_lines v {RAW_ROW_JOIN}"


DDL = f"""
CREATE TABLE IF NOT EXISTS billing_periods (
    period VARCHAR PRIMARY KEY,
    status VARCHAR NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'finalized')),
    opened_at TIMESTAMP NOT NULL,
    opened_by VARCHAR NOT NULL,
    closed_at TIMESTAMP, closed_by VARCHAR,
    finalized_at TIMESTAMP, finalized_by VARCHAR,
    reopened_at TIMESTAMP, reopened_by VARCHAR, reopen_reason VARCHAR,
    notes VARCHAR
);
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
    {_FOCUS_RAW_COLUMNS},
    x_columns JSON
);
CREATE TABLE IF NOT EXISTS validated_lines (
{_VALIDATED_LINE_COLUMNS}    import_id VARCHAR,
    review_reasons VARCHAR[] NOT NULL,
    needs_review BOOLEAN NOT NULL,
    validated_at TIMESTAMP NOT NULL,
    run_id VARCHAR
);
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
    run_id VARCHAR
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
{_CHARGE_COLUMNS}    review_reasons VARCHAR[] NOT NULL,
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


class PeriodLockedError(RuntimeError):
    """A write to a closed or finalized billing month was refused."""


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def current_actor() -> str:
    """Who is acting: $OCB_ACTOR, else the OS user. Never empty."""
    actor = os.environ.get("OCB_ACTOR", "").strip()
    if actor:
        return actor
    try:
        return getpass.getuser() or "unknown"
    except Exception:
        return f"uid:{os.getuid()}"


def configure(con: duckdb.DuckDBPyConnection, memory_limit: str = "", threads: int | None = None) -> None:
    """Session settings every connection needs: UTC time, optional memory and thread limits."""
    con.execute("SET TimeZone = 'UTC'")
    # Imports number rows by their insertion order: it must follow the file's order.
    con.execute("SET preserve_insertion_order = true")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")


# Columns dropped since a warehouse may have been created: (table, column). The raw Tags stay in focus_raw
# (reachable through each charge's lineage); copying them into every charge table only cost write time.
# row_hash is worked out from the raw row when read, and validated_lines takes the import's lineage from it.
DROPPED_COLUMNS = (
    ("charges_validated", "tags"), ("charges_approved", "tags"), ("charges_approved", "row_hash"),
    ("validated_lines", "row_hash"), ("validated_lines", "file_sha256"), ("validated_lines", "focus_version"),
    ("validated_lines", "expected_period"),
)  # fmt: skip


# Columns added since a warehouse may have been created: (table, column, type), appended as the DDL has them last.
# imports.filled_columns: the required columns a file lacked, filled from its source's configuration
# (ingest/legacy_layout.py); NULL when the file had them all.
ADDED_COLUMNS = (("imports", "filled_columns", "JSON"),)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)
    present = set(con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
    ).fetchall())
    for table, column, kind in ADDED_COLUMNS:
        if (table, column) not in present:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    for table, column in DROPPED_COLUMNS:
        if (table, column) in present:
            con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    kinds = dict(con.execute(
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name IN ('focus_raw', 'charges_validated')"
    ).fetchall())
    if kinds.get("focus_raw") == "BASE TABLE":
        _focus_raw_table_to_view(con)
    con.execute(_focus_raw_view())
    if kinds.get("charges_validated") == "BASE TABLE":
        _charges_validated_table_to_view(con)
    comment = con.execute(
        "SELECT comment FROM duckdb_views() WHERE schema_name = 'main' AND view_name = 'charges_validated'"
    ).fetchall()
    if not comment or comment[0][0] != CHARGES_VALIDATED_VIEW_VERSION:
        con.execute(_charges_validated_view())
        con.execute(f"COMMENT ON VIEW charges_validated IS '{CHARGES_VALIDATED_VIEW_VERSION}'")


def _focus_raw_table_to_view(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse from before the view: each import's lineage moves to `imports`, its rows to `focus_rows`
    (extras as a JSON object), in one transaction."""
    lineage = "source, file_name, file_sha256, focus_version, expected_period, import_id"
    focus = ", ".join(f'f."{c}"' for c in FOCUS_COLUMNS)
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
        con.execute(_focus_raw_view())


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
        con.execute(_charges_validated_view())


# The same connection config as dagster-duckdb's DuckDBResource: DuckDB refuses a second in-process
# connection to one file with a different config, so the CLI, tests and assets must all match it.
CONNECTION_CONFIG = {"custom_user_agent": "dagster"}
LOCK_RETRY_SECONDS = 60.0
LOCK_WAIT_ENV = "OCB_LOCK_WAIT_SECONDS"  # how long to wait for another process's write lock (default 60 s)


class WarehouseLockedError(RuntimeError):
    """Another process held the warehouse's write lock for the whole retry window; nothing was done."""


def lock_wait_seconds() -> float:
    value = os.environ.get(LOCK_WAIT_ENV, "").strip()
    try:
        return max(0.0, float(value)) if value else LOCK_RETRY_SECONDS
    except ValueError:
        raise WarehouseLockedError(f"${LOCK_WAIT_ENV} must be a number of seconds, not {value!r}") from None


def open_connection(path: str | Path, retry_seconds: float | None = None) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting (with backoff) while another process holds DuckDB's single-writer lock;
    after `retry_seconds` ($OCB_LOCK_WAIT_SECONDS, default 60) a one-line WarehouseLockedError."""
    retry_seconds = lock_wait_seconds() if retry_seconds is None else retry_seconds
    delay, started = 0.1, time.monotonic()
    while True:
        try:
            return duckdb.connect(str(path), read_only=False, config=dict(CONNECTION_CONFIG))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            waited = time.monotonic() - started
            if waited >= retry_seconds:
                held = re.search(r"Conflicting lock is held in (.+?)(?:\. See also|$)", str(exc))
                holder = f" ({held.group(1)})" if held else ""
                raise WarehouseLockedError(
                    f"the warehouse {path} is locked by another process{holder}; waited {waited:.0f} s. "
                    f"Nothing was changed; run the command again when that process has finished "
                    f"(${LOCK_WAIT_ENV} sets how long to wait)."
                ) from None
            time.sleep(min(delay, max(0.0, retry_seconds - waited)) or 0.01)
            delay = min(delay * 2, 5.0)


@contextmanager
def connect(path: str | Path, memory_limit: str = "", threads: int | None = None,
            ) -> Iterator[duckdb.DuckDBPyConnection]:
    """A configured connection to a warehouse file (created with its schema if new)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = open_connection(path)
    try:
        configure(con, memory_limit, threads)
        ensure_schema(con)
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, or ROLLBACK on any exception: a failed step leaves the previous state."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def period_status(con: duckdb.DuckDBPyConnection, period: str) -> str | None:
    rows = con.execute("SELECT status FROM billing_periods WHERE period = ?", [period]).fetchall()
    return rows[0][0] if rows else None


def ensure_period_open(con: duckdb.DuckDBPyConnection, period: str, actor: str, *, action: str) -> None:
    """The guard every write passes: create the month as open if new, refuse closed or finalized months."""
    status = period_status(con, period)
    if status is None:
        con.execute(
            "INSERT INTO billing_periods (period, status, opened_at, opened_by) VALUES (?, 'open', ?, ?) "
            "ON CONFLICT DO NOTHING",
            [period, now_utc(), actor],
        )
        return
    if status == "closed":
        raise PeriodLockedError(
            f"billing month {period} is closed, so {action} is refused. Reopen it first with "
            f"`ocb periods reopen {period} --reason \"...\"`, or correct it in the next open month."
        )
    if status == "finalized":
        raise PeriodLockedError(
            f"billing month {period} is finalized and can never change, so {action} is refused. "
            f"Book late data or corrections in the next open month."
        )


def _json_value(value: Any) -> str:
    """Audit details hold amounts as exact plain text (no `0E-12`), anything else as its text."""
    return exact_text(value) if isinstance(value, Decimal) else str(value)


def record_audit(
    con: duckdb.DuckDBPyConnection,
    *,
    actor: str,
    action: str,
    period: str | None = None,
    run_id: str | None = None,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    if not actor:
        raise ValueError("an audit event needs an actor")
    con.execute(
        "INSERT INTO audit_events (occurred_at, actor, action, period, run_id, subject, details) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [now_utc(), actor, action, period, run_id, subject, json.dumps(details or {}, default=_json_value)],
    )
