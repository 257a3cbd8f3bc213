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
    SplitPart,
    allocate_split,
    cents_keeping_total,
    load_splits,
    read_splits,
    split_exactly,
    split_line_key,
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


PHYS_SIM = [("ENGR-500600", D("33.34")), ("PHYS-300400", D("33.33")), ("PHYS-300401", D("33.33"))]


def _by_fund(parts: list[SplitPart]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for part in parts:
        out[part.fund_org] = out.get(part.fund_org, D(0)) + part.cents
    return out


def test_allocate_split_shares_each_line_so_a_fund_gets_the_sum_of_its_line_parts():
    """phys-sim: 378.00 over four sources. Each line is split (what the journal books), so ENGR-500600 pays
    26.67 + 83.35 + 5.34 + 10.67 = 126.03, not the 126.02 of splitting 378.00 once."""
    money = [(split_line_key(source, None, None, None), None, D(amount))
             for source, amount in (("aws", "80.00"), ("fees", "250.00"), ("hpc", "16.00"), ("storage", "32.00"))]
    parts = allocate_split(money, PHYS_SIM)
    assert [(p.line[0], p.fund_org, p.cents) for p in parts if p.fund_org == "ENGR-500600"] == [
        ("aws", "ENGR-500600", D("26.67")), ("fees", "ENGR-500600", D("83.35")), ("hpc", "ENGR-500600", D("5.34")),
        ("storage", "ENGR-500600", D("10.67"))]
    assert _by_fund(parts) == {"ENGR-500600": D("126.03"), "PHYS-300400": D("126.00"), "PHYS-300401": D("125.97")}
    assert split_exactly(D("378.00"), [q for _, q in PHYS_SIM]) == [D("126.02"), D("125.99"), D("125.99")]
    assert all(p.shared for p in parts) and sum(p.exact for p in parts) == D("378.00")
    # the same money in another order or grouping gives the same parts
    halves = [(line, fund, amount / 2) for line, fund, amount in money for _ in range(2)]
    assert allocate_split(list(reversed(halves)), PHYS_SIM) == parts


def test_allocate_split_rounds_the_statement_once_and_keeps_a_corrected_fund():
    aws, hpc = split_line_key("aws", "54100", "NSF-1", None), split_line_key("hpc", None, None, "R-7")
    money = [(aws, None, D("10.004")), (hpc, None, D("0.005")), (aws, "ZZZ-999999", D("2.005")),
             (hpc, None, D("0.001"))]
    parts = allocate_split(money, PHYS_SIM)
    # 12.015 -> 12.02: 10.004 -> 10.00, 0.006 -> 0.01 and 2.005 -> 2.01 (largest remainders), then shared
    assert sum(p.cents for p in parts) == D("12.02")
    assert [(p.line, p.fund_org, p.cents, p.shared) for p in parts if not p.shared] == [
        (aws, "ZZZ-999999", D("2.01"), False)]
    assert [p.cents for p in parts if p.shared and p.line == hpc] == [D("0.01"), D("0.00"), D("0.00")]
    assert _by_fund(parts) == {"ENGR-500600": D("3.35"), "PHYS-300400": D("3.33"), "PHYS-300401": D("3.33"),
                               "ZZZ-999999": D("2.01")}


@settings(max_examples=200, deadline=None)
@given(amounts=st.lists(st.tuples(st.sampled_from("abc"), st.booleans(), st.integers(-10**7, 10**7)),
                        min_size=1, max_size=8))
def test_allocate_split_parts_add_up_to_the_statement_total_rounded(amounts):
    money = [(split_line_key(line, None, None, None), "ZZZ-999999" if fixed else None, D(mills).scaleb(-3))
             for line, fixed, mills in amounts]
    parts = allocate_split(money, PHYS_SIM)
    total = sum((amount for _, _, amount in money), D(0))
    assert sum(p.cents for p in parts) == total.quantize(D("0.01"))  # half-even, as a statement's total
    for line in {p.line for p in parts if p.shared}:  # each line's split parts: split_exactly of its cents
        shared = [p.cents for p in parts if p.shared and p.line == line]
        assert shared == split_exactly(sum(shared, D(0)), [q for _, q in PHYS_SIM])


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
    ("proj-a,ABC-111111,-5,2025-01-01", "column percent: '-5' is negative"),
    ("proj-a,ABC-111111,33.33333,2025-01-01", "column percent: '33.33333' has more than 4 decimals"),
    ("proj-a,ABC-111111,half,2025-01-01", "column percent: 'half' is not a plain decimal number"),
    ("proj-a,ABC-111111,NaN,2025-01-01", "column percent: 'NaN' is not a plain decimal number"),
    ("proj-a,ABC-111111,100,2025-13-01", "line 2, column valid_from: '2025-13-01' is not a date (YYYY-MM-DD)"),
    ("proj-a,ABC-111111,100,2025-1-1", "column valid_from: '2025-1-1' is not a date"),
    (",ABC-111111,100,2025-01-01", "line 2, column project_id: '' is empty"),
    ("proj-a,,100,2025-01-01", "line 2, column fund_org: '' is empty"),
    ("proj-a,ABC-111111,100", "line 2, column valid_from: '' is empty"),
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
    with pytest.raises(PricingFileError, match=r"extra\.csv line 1, column 5: 'note' is not a column"):
        read_splits(extra)
    missing = _write(tmp_path, "project_id,fund_org,percent\n", "missing.csv")
    with pytest.raises(PricingFileError, match=r"missing\.csv line 1: missing column valid_from"):
        read_splits(missing)
    with pytest.raises(PricingFileError, match="no header line"):
        read_splits(_write(tmp_path, "\n", "empty.csv"))
    with pytest.raises(PricingFileError, match="file not found"):
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
