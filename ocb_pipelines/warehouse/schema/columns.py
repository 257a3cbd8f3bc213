"""What every domain's schema module shares: the money type and the column upgrades of older warehouses."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

MONEY = "DECIMAL(38, 12)"  # every amount: exact, never a float
NARROW_MONEY = "DECIMAL(18, 12)"  # the same scale in 64 bits: amounts under a million


def money_from_text(text_sql: str) -> str:
    """SQL: a FOCUS amount's text as MONEY, exactly. DuckDB parses text into a 128-bit DECIMAL(38, 12) digit by
    digit in 128-bit arithmetic, 6-7 times slower than into the 64-bit DECIMAL(18, 12) when the text is long
    (`20.63856372480000`: 0.51 against 0.08 s for 800,000 values); widening that is exact. A value too large for
    it (a million or more) is parsed into MONEY directly. The gate has already refused any amount that would
    need rounding at 12 places, so both parse the same value."""
    return f"coalesce(CAST(TRY_CAST({text_sql} AS {NARROW_MONEY}) AS {MONEY}), CAST({text_sql} AS {MONEY}))"

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
