"""Every table of the warehouse, one module per domain, created and upgraded in one place: `ensure_schema`.

Each domain module holds `DDL` (idempotent CREATE ... IF NOT EXISTS statements) and `migrate(con, present)`,
the upgrades of a warehouse created by an older release (`present`: its (table, column) pairs before them).
Every connection runs `ensure_schema` (warehouse/connection.py), so no domain creates a table itself.
"""

from __future__ import annotations

import functools
from types import ModuleType

import duckdb

from ocb_pipelines.warehouse.schema import (
    adjustments,
    audit,
    charges,
    delivery,
    ingest,
    invoices,
    ledger,
    periods,
    pricing,
    review,
    statements,
)
from ocb_pipelines.warehouse.schema.columns import MONEY as MONEY
from ocb_pipelines.warehouse.schema.columns import money_from_text as money_from_text
from ocb_pipelines.warehouse.schema.columns import present_columns

# Upgrades run in this order: charges' view reads ingest's tables, review's table has charges' columns.
DOMAINS: tuple[ModuleType, ...] = (
    ingest, adjustments, invoices, pricing, charges, review, periods, statements, ledger, delivery, audit,
)


# What ensure_schema leaves in a warehouse: every table's and view's columns and types, the views' versions,
# the sequences and the indexes.
_FINGERPRINT_SQL = """
SELECT 'column', table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'main'
UNION ALL SELECT 'view', view_name, coalesce(comment, ''), '' FROM duckdb_views()
    WHERE schema_name = 'main' AND NOT internal
UNION ALL SELECT 'sequence', sequence_name, '', '' FROM duckdb_sequences() WHERE schema_name = 'main'
UNION ALL SELECT 'index', index_name, table_name, '' FROM duckdb_indexes() WHERE schema_name = 'main'
ORDER BY ALL
"""


def schema_fingerprint(con: duckdb.DuckDBPyConnection) -> tuple[tuple[str, str, str, str], ...]:
    return tuple(con.execute(_FINGERPRINT_SQL).fetchall())


@functools.cache
def release_fingerprint() -> tuple[tuple[str, str, str, str], ...]:
    """This release's schema, as a new warehouse gets it (worked out once per process, in memory)."""
    with duckdb.connect(":memory:") as con:
        _create_and_upgrade(con)
        return schema_fingerprint(con)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every domain's tables, or upgrade what an older release left, unless the warehouse has this
    release's schema already (one catalog query: every page of the review desk opens the warehouse, and creating
    and checking every table took 40 ms of it); then the data every connection keeps up (statements.upkeep)."""
    if schema_fingerprint(con) != release_fingerprint():
        _create_and_upgrade(con)  # statements' upgrade keeps its data up too
    else:
        statements.upkeep(con)


def _create_and_upgrade(con: duckdb.DuckDBPyConnection) -> None:
    """Create every domain's tables (a new file gets them all, in one transaction: a process killed meanwhile
    leaves no half schema), then upgrade what an older release left."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("".join(domain.DDL for domain in DOMAINS))
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    present = present_columns(con)
    for domain in DOMAINS:
        domain.migrate(con, present)


def ensure_domain(con: duckdb.DuckDBPyConnection, domain: ModuleType) -> None:
    """One domain's tables and upgrades, for a connection that may predate them (kept idempotent and cheap)."""
    con.execute(domain.DDL)
    domain.migrate(con, present_columns(con))
