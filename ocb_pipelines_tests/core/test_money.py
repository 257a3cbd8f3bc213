"""Amounts leave the program as exact plain text: JSON output and the audit log never show `0E-12`."""

import json
from datetime import date, datetime
from decimal import Decimal

import pytest

from ocb_pipelines.core.jsonable import to_jsonable
from ocb_pipelines.core.money import exact_text
from ocb_pipelines.warehouse import database as wh


@pytest.mark.parametrize(
    ("amount", "text"),
    [(Decimal("0E-12"), "0.000000000000"), (Decimal("-0E-12"), "0.000000000000"),
     (Decimal("14.750000000000"), "14.750000000000"), (Decimal("3.5E-7"), "0.00000035"),
     (Decimal("-1E+3"), "-1000"), (None, "0")],
)
def test_exact_text_keeps_every_digit_and_never_writes_an_exponent(amount, text):
    assert exact_text(amount) == text
    if amount is not None:
        assert Decimal(exact_text(amount)) == amount


def test_json_output_and_audit_details_show_a_zero_amount_plainly(tmp_path):
    assert to_jsonable({"billed": [Decimal("0E-12")]}) == {"billed": ["0.000000000000"]}
    assert to_jsonable((datetime(2025, 1, 2, 3, 4, 5), date(2025, 1, 2))) == ["2025-01-02 03:04:05", "2025-01-02"]
    with wh.connect(tmp_path / "w.duckdb") as con:
        wh.record_audit(con, actor="ada", action="review_reject", period="2025-01", subject="c1",
                        details={"billed_cost": Decimal("0E-12"), "total": Decimal("12.500000000000")})
        [details] = con.execute("SELECT details FROM audit_events").fetchone()
    assert json.loads(details) == {"billed_cost": "0.000000000000", "total": "12.500000000000"}
