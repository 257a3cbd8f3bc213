"""One billing-month type: every `YYYY-MM` check in the project agrees with `BillingMonth.parse`."""

from datetime import UTC, date, datetime

import pytest

from ocb_pipelines.core.billing_month import BillingMonth, BillingMonthError, is_month_key, month_key


@pytest.mark.parametrize("text", ["2025-01", "2025-12", "1999-07", "2100-02", "0001-01"])
def test_a_yyyy_mm_key_parses_and_round_trips(text):
    month = BillingMonth.parse(text)
    assert month.key == str(month) == month_key(text) == text and is_month_key(text)


@pytest.mark.parametrize("text", ["2025-13", "2025-00", "2025-1", "25-01", "2025_01", "202501", " 2025-01",
                                  "2025-01 ", "2025-01-01", "0000-01", "", None, 202501, "２０２５-01"])
def test_anything_else_is_refused_naming_the_value(text):
    with pytest.raises(BillingMonthError, match="is not a billing month; write it as YYYY-MM") as caught:
        BillingMonth.parse(text)
    assert repr(text) in str(caught.value)
    assert not is_month_key(text)


def test_next_previous_and_days():
    dec = BillingMonth.parse("2024-12")
    assert dec.next().key == "2025-01" and dec.next().previous() == dec
    assert BillingMonth.parse("2025-03").previous().key == "2025-02"
    assert BillingMonth.parse("2024-02").last_day == date(2024, 2, 29)
    assert BillingMonth.parse("2025-02").last_day == date(2025, 2, 28)
    assert dec.first_day == date(2024, 12, 1) and dec.last_day == date(2024, 12, 31)
    assert BillingMonth.of(datetime(2025, 6, 30, 23, 59, tzinfo=UTC)).key == "2025-06"
    assert [m.key for m in BillingMonth.parse("2024-11").through(BillingMonth.parse("2025-02"))] == [
        "2024-11", "2024-12", "2025-01", "2025-02"]
    assert BillingMonth.parse("2025-02").through(BillingMonth.parse("2025-01")) == []
    assert BillingMonth.parse("2024-12") < BillingMonth.parse("2025-01")
    with pytest.raises(BillingMonthError):
        BillingMonth(2025, 13)


def test_every_month_check_agrees():
    """The validators that disagreed (periods' `\\d{4}`, ingest's `20\\d{2}`, review sheets', OpenChargeback
    history's, the generator's) now give the same answer for the same text."""
    from ocb_pipelines.ingest import focus
    from ocb_pipelines.periods import lifecycle
    from tools.sample_data.sql import _month_bounds

    for text in ["1999-07", "2025-01", "2100-02", "2025-13", "0000-01", "2025-1"]:
        expected = is_month_key(text)
        for check in (lifecycle.check_period_key, focus.month_key, _month_bounds):
            try:
                check(text)
                accepted = True
            except ValueError:
                accepted = False
            assert accepted == expected, (check, text)
