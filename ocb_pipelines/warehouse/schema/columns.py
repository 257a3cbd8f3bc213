"""What every domain's schema module shares: the money type and the column upgrades of older warehouses."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

MONEY = "DECIMAL(38, 12)"  # every amount: exact, never a float

Column = tuple[str, str]  # (table, column)


def present_columns(con: duckdb.DuckDBPyConnection) -> set[Column]:
    """Every (table, column) of the warehouse's main schema, views included."""
    return set(con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
    ).fetchall())


def add_columns(con: duckdb.DuckDBPyConnection, present: set[Column], added: Iterable[tuple[str, str, str]]) -> None:
    """Columns added since a warehouse may have been created: (table, column, type), appended last."""
    for table, column, kind in added:
        if (table, column) not in present:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            present.add((table, column))


def drop_columns(con: duckdb.DuckDBPyConnection, present: set[Column], dropped: Iterable[Column]) -> None:
    """Columns dropped since a warehouse may have been created."""
    for table, column in dropped:
        if (table, column) in present:
            con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
            present.discard((table, column))
