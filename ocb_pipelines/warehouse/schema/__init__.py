"""Every table of the warehouse, one module per domain, created and upgraded in one place: `ensure_schema`.

Each domain module holds `DDL` (idempotent CREATE ... IF NOT EXISTS statements) and `migrate(con, present)`,
the upgrades of a warehouse created by an older release (`present`: its (table, column) pairs before them).
Every connection runs `ensure_schema` (warehouse/connection.py), so no domain creates a table itself.
"""

from __future__ import annotations

from types import ModuleType

import duckdb

from ocb_pipelines.warehouse.schema import audit, charges, delivery, ingest, ledger, periods, review, statements
from ocb_pipelines.warehouse.schema.columns import MONEY as MONEY
from ocb_pipelines.warehouse.schema.columns import money_from_text as money_from_text
from ocb_pipelines.warehouse.schema.columns import present_columns

# Upgrades run in this order: charges' view reads ingest's tables, review's table has charges' columns.
DOMAINS: tuple[ModuleType, ...] = (ingest, charges, review, periods, statements, ledger, delivery, audit)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
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
