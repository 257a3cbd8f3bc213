"""Amounts parsed through the 64-bit decimal first are exactly what the 128-bit parse gives, large ones too."""

from decimal import Decimal

import duckdb
import pytest

from ocb_pipelines.warehouse.database import MONEY, money_from_text

TEXTS = ["0", "12.5", "-3", "20.63856372480000", "0.000000000001", "999999.999999999999", "1000000",
         "-12345678901234.123456789012", "12345678901234567890123456.5", "3.5E-7", "1.25e+8", ".5", None]


@pytest.mark.parametrize("text", TEXTS)
def test_the_same_exact_value_as_the_wide_parse(text):
    with duckdb.connect() as con:
        narrow, wide, kind = con.execute(
            f"SELECT {money_from_text('$t')}, CAST($t AS {MONEY}), typeof({money_from_text('$t')})", {"t": text}
        ).fetchall()[0]
    assert narrow == wide and kind == MONEY.replace(" ", "")
    assert narrow is None or narrow == Decimal(text)


def test_text_that_is_no_number_is_still_refused():
    with duckdb.connect() as con, pytest.raises(duckdb.ConversionException):
        con.execute(f"SELECT {money_from_text('$t')}", {"t": "12,50"}).fetchall()
