"""Split funding's pure rules: the splits file, the split in force for a month, exact shares in cents."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocb_pipelines.pricing.files import PricingFileError
from ocb_pipelines.pricing.shares import (
    cents_keeping_total,
    load_splits,
    read_splits,
    split_exactly,
    splits_in_force,
)

D = Decimal
THIRDS = [D("33.33"), D("33.33"), D("33.34")]


def _write(tmp_path, text: str, name: str = "splits.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_thirds_of_an_odd_cent_amount_give_the_leftover_cent_to_the_largest_remainder():
    # exact shares 33.333333, 33.333333, 33.343334: floors 33.33 + 33.33 + 33.34 = 100.00, one cent left, and
    # the largest remainder (0.3334 of a cent against 0.3333) is the third fund's
    assert split_exactly(D("100.01"), THIRDS) == [D("33.33"), D("33.33"), D("33.35")]
    assert split_exactly(D("0.01"), THIRDS) == [D("0.00"), D("0.00"), D("0.01")]
    assert split_exactly(D("-0.01"), THIRDS) == [D("0.00"), D("0.00"), D("-0.01")]  # a credit splits alike
    assert split_exactly(D("-100.01"), THIRDS) == [D("-33.33"), D("-33.33"), D("-33.35")]
    parts = split_exactly(D("12345.67"), THIRDS)
    assert parts == [D("4114.81"), D("4114.81"), D("4116.05")] and sum(parts) == D("12345.67")


def test_ties_go_in_the_splits_order_and_sub_cent_amounts_round_half_even_first():
    assert split_exactly(D("0.01"), [D(50), D(50)]) == [D("0.01"), D("0.00")]
    # 0.5, 1, 0.5 cents: floors 0, 1, 0 and the cent left goes to the first of the two tied remainders
    assert split_exactly(D("0.02"), [D(25), D(50), D(25)]) == [D("0.01"), D("0.01"), D("0.00")]
    # 0.75, 1.5, 0.75 cents: the two cents left go to the two largest remainders (0.75), not to the middle
    assert split_exactly(D("0.03"), [D(25), D(50), D(25)]) == [D("0.01"), D("0.01"), D("0.01")]
    assert split_exactly(D("10.005"), [D(50), D(50)]) == [D("5.00"), D("5.00")]  # 10.005 -> 10.00 (half even)
    assert split_exactly(D("0"), THIRDS) == [D("0.00")] * 3
    assert split_exactly(D("7.77"), [D(100)]) == [D("7.77")]


def test_split_exactly_refuses_percents_that_are_not_a_whole():
    with pytest.raises(ValueError, match="add up to 100"):
        split_exactly(D(1), [D(50), D("49.99")])
    with pytest.raises(ValueError, match="at least one"):
        split_exactly(D(1), [])


@settings(max_examples=200, deadline=None)
@given(cents=st.integers(-10**9, 10**9), cuts=st.lists(st.integers(1, 999_999), max_size=5, unique=True))
def test_parts_always_add_up_to_the_amount_and_credits_mirror_charges(cents, cuts):
    bounds = [0, *sorted(cuts), 1_000_000]  # percents with 4 decimals adding up to exactly 100
    percents = [D(b - a).scaleb(-4) for a, b in itertools.pairwise(bounds) if b > a]
    amount = D(cents).scaleb(-2)
    parts = split_exactly(amount, percents)
    assert sum(parts) == amount
    assert split_exactly(-amount, percents) == [-p for p in parts]
    assert all(abs(p - amount * q / 100) < D("0.01") for p, q in zip(parts, percents, strict=True))


def test_cents_keeping_total_rounds_each_and_keeps_the_sum():
    assert cents_keeping_total([D("100.004"), D("50.003"), D("12.505"), D("-0.004")]) == [
        D("100.00"), D("50.00"), D("12.51"), D("0.00")]
    assert sum(cents_keeping_total([D("0.333")] * 3)) == D("1.00")


def test_read_splits_takes_bom_crlf_any_header_case_and_blank_lines(tmp_path):
    path = _write(tmp_path, "\ufeffProject_ID,FUND_ORG,Percent,valid_from\r\n"
                            "proj-a,ABC-111111,33.33,2025-01-01\r\n\r\n"
                            "proj-a,DEF-222222,33.33,2025-01-01\r\n"
                            "proj-a,GHI-333333,33.34,2025-01-01\r\n"
                            " proj-b , XYZ-654321 ,100,2024-07-01\r\n")
    lines = read_splits(path)
    assert [(s.line, s.project_id, s.fund_org, s.percent, s.valid_from) for s in lines] == [
        (2, "proj-a", "ABC-111111", D("33.33"), date(2025, 1, 1)),
        (4, "proj-a", "DEF-222222", D("33.33"), date(2025, 1, 1)),
        (5, "proj-a", "GHI-333333", D("33.34"), date(2025, 1, 1)),
        (6, "proj-b", "XYZ-654321", D(100), date(2024, 7, 1)),
    ]
    assert all(isinstance(s.percent, Decimal) for s in lines)


def test_a_split_that_does_not_add_up_to_100_is_refused_naming_the_project_date_and_sum(tmp_path):
    path = _write(tmp_path, "project_id,fund_org,percent,valid_from\n"
                            "proj-a,ABC-111111,60,2025-01-01\n"
                            "proj-b,XYZ-654321,100,2025-01-01\n"
                            "proj-a,DEF-222222,39.99,2025-01-01\n")
    with pytest.raises(PricingFileError) as err:
        read_splits(path)
    message = str(err.value)
    assert "splits.csv" in message and "lines 2, 4" in message
    assert "project proj-a's split from 2025-01-01 adds up to 99.99%, not 100%" in message


@pytest.mark.parametrize(("line", "expected"), [
    ("proj-a,ABC-111111,0,2025-01-01", "line 2, column percent: '0' must be more than 0 and at most 100"),
    ("proj-a,ABC-111111,100.01,2025-01-01", "line 2, column percent: '100.01' must be more than 0"),
    ("proj-a,ABC-111111,-5,2025-01-01", "column percent: '-5' must be more than 0"),
    ("proj-a,ABC-111111,33.33333,2025-01-01", "column percent: '33.33333' has more than 4 decimals"),
    ("proj-a,ABC-111111,half,2025-01-01", "column percent: 'half' is not a number"),
    ("proj-a,ABC-111111,NaN,2025-01-01", "column percent: 'NaN' must be more than 0"),
    ("proj-a,ABC-111111,100,2025-13-01", "line 2, column valid_from: '2025-13-01' is not a date (YYYY-MM-DD)"),
    ("proj-a,ABC-111111,100,2025-1-1", "column valid_from: '2025-1-1' is not a date"),
    (",ABC-111111,100,2025-01-01", "line 2, column project_id: '' is empty"),
    ("proj-a,,100,2025-01-01", "line 2, column fund_org: '' is empty"),
    ("proj-a,ABC-111111,100", "line 2: 3 values for 4 columns"),
])
def test_bad_values_are_refused_naming_file_line_column_and_value(tmp_path, line, expected):
    path = _write(tmp_path, f"project_id,fund_org,percent,valid_from\n{line}\n")
    with pytest.raises(PricingFileError) as err:
        read_splits(path)
    assert str(err.value).startswith("splits.csv ") and expected in str(err.value)


def test_a_fund_twice_in_one_split_and_bad_headers_are_refused(tmp_path):
    twice = _write(tmp_path, "project_id,fund_org,percent,valid_from\n"
                             "proj-a,ABC-111111,50,2025-01-01\nproj-a,abc-111111,50,2025-01-01\n")
    with pytest.raises(PricingFileError, match=r"line 3, column fund_org: 'abc-111111' is already in project "
                                               r"proj-a's split from 2025-01-01 \(line 2\)"):
        read_splits(twice)
    extra = _write(tmp_path, "project_id,fund_org,percent,valid_from,note\n", "extra.csv")
    with pytest.raises(PricingFileError, match=r"extra\.csv line 1, column note: 'note' is not a column"):
        read_splits(extra)
    missing = _write(tmp_path, "project_id,fund_org,percent\n", "missing.csv")
    with pytest.raises(PricingFileError, match=r"missing\.csv line 1: the header lacks column\(s\) valid_from"):
        read_splits(missing)
    with pytest.raises(PricingFileError, match="empty"):
        read_splits(_write(tmp_path, "\n", "empty.csv"))
    with pytest.raises(PricingFileError, match="cannot be read"):
        read_splits(tmp_path / "absent.csv")


def test_the_split_in_force_is_the_latest_on_or_before_the_months_first_day(tmp_path):
    path = _write(tmp_path, "project_id,fund_org,percent,valid_from\n"
                            "proj-a,ABC-111111,100,2025-01-01\n"
                            "proj-a,ABC-111111,60,2025-02-15\n"
                            "proj-a,DEF-222222,40,2025-02-15\n"
                            "proj-b,XYZ-654321,100,2025-03-01\n")
    lines = read_splits(path)
    assert splits_in_force(lines, "2024-12") == {}
    assert splits_in_force(lines, "2025-01") == {"proj-a": [("ABC-111111", D(100))]}
    assert splits_in_force(lines, "2025-02") == {"proj-a": [("ABC-111111", D(100))]}  # 02-15 is after 02-01
    assert splits_in_force(lines, "2025-03") == {"proj-a": [("ABC-111111", D(60)), ("DEF-222222", D(40))],
                                                 "proj-b": [("XYZ-654321", D(100))]}
    assert splits_in_force(lines, date(2026, 7, 9)) == splits_in_force(lines, "2026-07")
    assert load_splits(None, "2025-03") == {}
    assert load_splits(path, "2025-03") == splits_in_force(lines, "2025-03")
