"""Issue 18.12: money is kept exactly as DECIMAL(38, 12), so a value that would need more (more than 12 decimal
places, or more than 26 digits before the point) is refused by the gate, naming file, row, column and value;
a value that fits (trailing zeros, an exponent that brings it within 12 places) is kept to the last digit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ocb_pipelines.ingest.importer import ImportRefused, import_file
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import focus_row, write_focus

FITS = ["0.123456789012", "1.123456789012000000", "1.0000000000005E1", "-2.5E-11", "9999999999999999999E7"]


def test_amounts_that_fit_twelve_places_are_kept_exactly(tmp_path):
    rows = [focus_row(billed=v, ListCost=v, PricingQuantity=v) for v in FITS]
    path = write_focus(tmp_path / "aws_2025-01.csv", rows)
    with wh.connect(tmp_path / "w.duckdb") as con:
        import_file(con, path, months=["2025-01"], source="aws")
        stored = [r[0] for r in con.execute(
            f'SELECT CAST("BilledCost" AS {wh.MONEY}) FROM focus_rows ORDER BY file_row_number').fetchall()]
    assert stored == [Decimal(v) for v in FITS]


@pytest.mark.parametrize(("column", "value"), [
    ("BilledCost", "0.30000000000000004"),
    ("EffectiveCost", "-0.0000000000001"),
    ("ListCost", "1.5E-13"),
    ("ContractedCost", "99999999999999999999E9"),
    ("PricingQuantity", "0.0000000000000001"),
    ("BilledCost", ".0000000000001"),  # 14 characters: no leading zero, 13 places (was let through and rounded)
])
def test_a_value_that_would_be_rounded_is_refused_by_row_column_and_value(tmp_path, column, value):
    rows = [focus_row(), focus_row(**{column: value})]
    path = write_focus(tmp_path / "aws_2025-01.csv", rows)
    with pytest.raises(ImportRefused) as refused, wh.connect(tmp_path / "w.duckdb") as con:
        import_file(con, path, months=["2025-01"], source="aws")
    assert f"aws_2025-01.csv: row 2 (line 3), column {column}, value '{value}': needs more than 12 decimal places" in (
        str(refused.value))
    with wh.connect(tmp_path / "w.duckdb") as con:
        assert con.execute("SELECT count(*) FROM focus_rows").fetchall() == [(0,)]


def test_unit_prices_stay_as_written(tmp_path):
    """Unit prices are never cast to money: more places there are kept as text, not refused."""
    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row(ListUnitPrice="0.0000000000000123")])
    with wh.connect(tmp_path / "w.duckdb") as con:
        import_file(con, path, months=["2025-01"], source="aws")
        assert con.execute('SELECT "ListUnitPrice" FROM focus_rows').fetchall() == [("0.0000000000000123",)]
