"""Rows inserted in one statement (insert_rows) keep every value exactly and their order; money_text writes
amounts on both sides of the 64-bit shortcut exactly."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ocb_pipelines.pricing.bulk import insert_rows
from ocb_pipelines.pricing.focus_out import money_text
from ocb_pipelines.warehouse import database as wh


def test_insert_rows_keeps_values_types_and_order(tmp_path: Path) -> None:
    rows = [[i, f"Lab-{i}", Decimal("-0.000000000001") * i, datetime(2026, 3, 31, 23, 59, 59), date(2026, 3, 1),
             '{"x_ocb_rule":"cap"}' if i % 2 else None] for i in range(3000)]
    rows[7][2] = Decimal("123456789012345678.123456789012")
    with wh.connect(tmp_path / "w.duckdb") as con:
        con.execute(f"CREATE TEMP TABLE t (n INTEGER, name VARCHAR, amount {wh.MONEY}, ended TIMESTAMP, day DATE, "
                    "extra JSON)")
        con.execute("SET preserve_insertion_order = false")  # as pricing inserts
        insert_rows(con, "t (n, name, amount, ended, day, extra)", rows)
        insert_rows(con, "t", [[1, "B", 2, None, None, None]], "c1, lower(c2), c3, c4, c5, c6")
        insert_rows(con, "t", [])
        stored = con.execute("SELECT * FROM t ORDER BY rowid").fetchall()
    assert [list(r) for r in stored[:-1]] == rows
    assert stored[-1] == (1, "b", Decimal(2), None, None, None)


def test_insert_rows_refuses_ragged_rows(tmp_path: Path) -> None:
    with wh.connect(tmp_path / "w.duckdb") as con, pytest.raises(ValueError, match="different lengths"):
        insert_rows(con, "t", [[1, 2], [1]])


@pytest.mark.parametrize(("amount", "text"), [
    ("0", "0"), ("10", "10"), ("-10.5", "-10.5"), ("999999.999999999999", "999999.999999999999"),
    ("-999999.999999999999", "-999999.999999999999"), ("1000000", "1000000"), ("-1000000.5", "-1000000.5"),
    ("0.000000000001", "0.000000000001"), ("123456789012345678.123456789012", "123456789012345678.123456789012"),
])
def test_money_text_exact_on_both_sides_of_a_million(tmp_path: Path, amount: str, text: str) -> None:
    with wh.connect(tmp_path / "w.duckdb") as con:
        (written,) = con.execute(f"SELECT {money_text('v')} FROM (SELECT CAST(? AS {wh.MONEY}) AS v)",
                                 [amount]).fetchall()[0]
    assert written == text
