"""The rate, fee and account file readers: exact Decimals from spreadsheet CSVs, and every refusal naming the file,
line, column and value (pure Python: no warehouse, no Dagster)."""

from __future__ import annotations

import codecs
import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ocb_pipelines.pricing.files import (
    AccountLine,
    FeeLine,
    PricingFileError,
    RateLine,
    file_sha256,
    read_accounts,
    read_fees,
    read_rates,
)

RATES_HEADER = "source,service_name,unit,list_unit_price,billed_unit_price,valid_from,valid_to,tier_from,tier_to,group"
FEES_HEADER = "project_id,service_name,amount,frequency,valid_from,valid_to,source"
ACCOUNTS_HEADER = "account,pi_email,project_id,fund_org,group"


def _write(folder: Path, name: str, lines: list[str], *, bom: bool = False, crlf: bool = False) -> Path:
    path = folder / name
    text = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8"))
    return path


def _rates(tmp_path: Path, *lines: str, header: str = RATES_HEADER) -> Path:
    return _write(tmp_path, "rates.csv", [header, *lines])


def _refused(reader, path: Path) -> str:
    with pytest.raises(PricingFileError) as caught:
        reader(path)
    return str(caught.value)


# --- good files ------------------------------------------------------------------------------------------------

def test_good_rates_parse_to_exact_decimals(tmp_path):
    path = _rates(tmp_path,
                  "hpc,*,billing-hour,0.0125,0.0100,2026-01-01,2026-03-31,,,",
                  "hpc,*,billing-hour,0.0130,0.0105,2026-04-01,,,,",
                  "hpc,gpu,gpu-hour,2.50,1.75,2026-01-01,,0,1000,",
                  "hpc,gpu,gpu-hour,2.50,1.25,2026-01-01,,1000,,",
                  "hpc,gpu,gpu-hour,3.00,3.00,2026-01-01,,,,external",
                  "storage,project,TB-month,12.50,0,2026-01-01,,,,")
    rates = read_rates(path)
    assert rates == [
        RateLine(2, "hpc", "*", "billing-hour", Decimal("0.0125"), Decimal("0.0100"), date(2026, 1, 1),
                 date(2026, 3, 31)),
        RateLine(3, "hpc", "*", "billing-hour", Decimal("0.0130"), Decimal("0.0105"), date(2026, 4, 1), None),
        RateLine(4, "hpc", "gpu", "gpu-hour", Decimal("2.50"), Decimal("1.75"), date(2026, 1, 1), None,
                 Decimal(0), Decimal(1000)),
        RateLine(5, "hpc", "gpu", "gpu-hour", Decimal("2.50"), Decimal("1.25"), date(2026, 1, 1), None,
                 Decimal(1000), None),
        RateLine(6, "hpc", "gpu", "gpu-hour", Decimal("3.00"), Decimal("3.00"), date(2026, 1, 1), None,
                 group="external"),
        RateLine(7, "storage", "project", "TB-month", Decimal("12.50"), Decimal(0), date(2026, 1, 1), None),
    ]
    assert all(type(r.list_unit_price) is Decimal and type(r.tier_from) is Decimal for r in rates)
    assert str(rates[0].list_unit_price) == "0.0125" and str(rates[0].billed_unit_price) == "0.0100"  # as written


def test_a_spreadsheets_bom_crlf_spaces_case_and_blank_rows_are_accepted(tmp_path):
    """Excel's "CSV UTF-8": a BOM, CRLF, header in any case, padded cells, empty rows of commas, columns in any
    order and optional columns left out."""
    path = _write(tmp_path, "rates.csv", [
        " Valid_From , SOURCE,Service_Name,UNIT,List_Unit_Price,Billed_Unit_Price",
        "",
        " 2026-01-01 , HPC , cpu , cpu-hour , 0.05 , 0.04 ",
        ",,,,,",
        '2026-01-01,hpc,"gpu",gpu-hour,2.5,2.5',
    ], bom=True, crlf=True)
    assert read_rates(path) == [
        RateLine(3, "hpc", "cpu", "cpu-hour", Decimal("0.05"), Decimal("0.04"), date(2026, 1, 1), None),
        RateLine(5, "hpc", "gpu", "gpu-hour", Decimal("2.5"), Decimal("2.5"), date(2026, 1, 1), None),
    ]


def test_a_file_with_only_its_header_has_no_lines(tmp_path):
    assert read_rates(_rates(tmp_path)) == []
    assert read_fees(_write(tmp_path, "fees.csv", [FEES_HEADER], bom=True, crlf=True)) == []
    assert read_accounts(_write(tmp_path, "accounts.csv", ["account,pi_email,project_id,fund_org"])) == []


def test_good_fees_and_accounts(tmp_path):
    fees = _write(tmp_path, "fees.csv", [
        FEES_HEADER,
        "astro-survey,co-location,250.00,Monthly,2026-01-01,,",
        "astro-survey,support contract,1200,yearly,2025-07-01,2027-06-30,Support",  # sources are lower-case
        "genomics,setup,75.5,ONCE,2026-02-15,,",
    ])
    assert read_fees(fees) == [
        FeeLine(2, "astro-survey", "co-location", Decimal("250.00"), "monthly", date(2026, 1, 1), None, "fees"),
        FeeLine(3, "astro-survey", "support contract", Decimal("1200"), "yearly", date(2025, 7, 1),
                date(2027, 6, 30), "support"),
        FeeLine(4, "genomics", "setup", Decimal("75.5"), "once", date(2026, 2, 15), None, "fees"),
    ]
    accounts = _write(tmp_path, "accounts.csv", [
        ACCOUNTS_HEADER,
        "astro,ada.lovelace@example.edu,astro-survey,ASTR-100234,",
        "chem_lab,marie.curie@chem.example.edu,chem-1,CHEM-200001,external",
    ])
    assert read_accounts(accounts) == [
        AccountLine(2, "astro", "ada.lovelace@example.edu", "astro-survey", "ASTR-100234", ""),
        AccountLine(3, "chem_lab", "marie.curie@chem.example.edu", "chem-1", "CHEM-200001", "external"),
    ]


def test_line_numbers_count_the_header_blank_lines_and_quoted_line_breaks(tmp_path):
    path = _write(tmp_path, "fees.csv", [
        FEES_HEADER,
        "",
        'astro,"rack\nspace",10,monthly,2026-01-01,,',
        "astro,power,-5,monthly,2026-01-01,,",
    ])
    assert _refused(read_fees, path) == "fees.csv line 5, column amount: '-5' is negative"


def test_file_sha256_is_the_digest_of_the_bytes_on_disk(tmp_path):
    path = _rates(tmp_path, "hpc,*,cpu-hour,1,1,2026-01-01,,,,")
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


# --- refusals: one line at a time -------------------------------------------------------------------------------

GOOD_RATE = ["hpc", "*", "cpu-hour", "0.05", "0.04", "2026-01-01", "", "", "", ""]
RATE_COLUMN = {name: i for i, name in enumerate(RATES_HEADER.split(","))}


def _rate_with(**cells: str) -> str:
    line = list(GOOD_RATE)
    for column, value in cells.items():
        line[RATE_COLUMN[column]] = value
    return ",".join(f'"{c}"' if "," in c else c for c in line)


NOT_A_NUMBER = ("is not a plain decimal number (like 12.50 or 0.0125: no currency sign, thousands separator, "
                "decimal comma or exponent)")


@pytest.mark.parametrize("column,value,problem", [
    ("valid_from", "2026-13-01", "is not a date (YYYY-MM-DD)"),
    ("valid_from", "2026-02-30", "is not a date (YYYY-MM-DD)"),
    ("valid_from", "1/2/2026", "is not a date (YYYY-MM-DD)"),
    ("valid_from", "20260101", "is not a date (YYYY-MM-DD)"),
    ("valid_to", "2026-01-01T00:00", "is not a date (YYYY-MM-DD)"),
    ("valid_from", "", "is empty: a value is required"),
    ("list_unit_price", "1e3", NOT_A_NUMBER),
    ("list_unit_price", "$12", NOT_A_NUMBER),
    ("list_unit_price", "12,5", NOT_A_NUMBER),
    ("list_unit_price", "1,000", NOT_A_NUMBER),
    ("list_unit_price", "NaN", NOT_A_NUMBER),
    ("list_unit_price", "Infinity", NOT_A_NUMBER),
    ("billed_unit_price", "-inf", NOT_A_NUMBER),
    ("tier_from", "five", NOT_A_NUMBER),
    ("billed_unit_price", "-0.01", "is negative"),
    ("list_unit_price", "0.0000000000001", "has 13 decimal places; the warehouse keeps 12"),
    ("billed_unit_price", "0.06", "is more than list_unit_price 0.05: the subsidy (list - billed) is never negative"),
    ("valid_to", "2025-12-31", "is before valid_from 2026-01-01 (valid_to is the last day, inclusive)"),
    ("tier_to", "0", "is not above tier_from 0 (tier_to is exclusive)"),
    ("unit", "", "is empty: a value is required"),
])
def test_a_bad_rate_cell_is_refused_naming_file_line_column_and_value(tmp_path, column, value, problem):
    path = _rates(tmp_path, _rate_with(valid_from="2025-01-01", valid_to="2025-12-31"), _rate_with(**{column: value}))
    assert _refused(read_rates, path) == f"rates.csv line 3, column {column}: {value!r} {problem}"


def test_a_missing_column_is_refused_naming_it(tmp_path):
    path = _rates(tmp_path, "hpc,*,cpu-hour,0.05,0.04", header="source,service_name,unit,list_unit_price,"
                                                             "billed_unit_price")
    assert _refused(read_rates, path) == (
        "rates.csv line 1: missing column valid_from (required: source, service_name, unit, list_unit_price, "
        "billed_unit_price, valid_from; optional: valid_to, tier_from, tier_to, group)")
    accounts = _write(tmp_path, "accounts.csv", ["Account,PI_Email"])
    assert _refused(read_accounts, accounts).startswith("accounts.csv line 1: missing columns project_id, fund_org (")


@pytest.mark.parametrize("lines,message", [
    ([f"{RATES_HEADER},price"], "rates.csv line 1, column 11: 'price' is not a column of this file (columns: "
                                "source, service_name, unit, list_unit_price, billed_unit_price, valid_from, "
                                "valid_to, tier_from, tier_to, group)"),
    ([f"{RATES_HEADER},Unit"], "rates.csv line 1, column 11: 'Unit' is repeated"),
    ([RATES_HEADER, "hpc,*,cpu-hour,1,1,2026-01-01,,,,,oops"],
     "rates.csv line 2, column 11: 'oops' is under no column of the header line"),
    ([], "rates.csv: no header line (required: source, service_name, unit, list_unit_price, billed_unit_price, "
         "valid_from)"),
    ([RATES_HEADER, 'hpc,"*,cpu-hour'], "rates.csv line 2: not valid CSV (unexpected end of data)"),
])
def test_a_malformed_file_is_refused(tmp_path, lines, message):
    assert _refused(read_rates, _write(tmp_path, "rates.csv", lines) if lines else _empty(tmp_path)) == message


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "rates.csv"
    path.write_bytes(b"")
    return path


def test_text_that_is_not_utf8_and_a_missing_file_are_refused(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_bytes(f"{RATES_HEADER}\nhpc,*,cpu-hour,1,1,2026-01-01,,,,caf\xe9\n".encode("cp1252"))
    assert _refused(read_rates, path) == "rates.csv line 2: byte 0xe9 is not UTF-8 text: save the file as CSV UTF-8"
    missing = tmp_path / "nope.csv"
    assert _refused(read_rates, missing) == f"nope.csv: file not found ({missing})"
    assert _refused(file_sha256, missing) == f"nope.csv: file not found ({missing})"


# --- refusals: dates and tiers across lines ----------------------------------------------------------------------

@pytest.mark.parametrize("second,message", [
    ("hpc,*,cpu-hour,0.06,0.05,2026-03-31,,,,",
     "rates.csv line 3, column valid_from: '2026-03-31' overlaps line 2 (2026-01-01 to 2026-03-31) for source hpc, "
     "service *, unit cpu-hour, group (default): one rate per day"),
    ("hpc,*,cpu-hour,0.06,0.05,2026-04-02,,,,",
     "rates.csv line 3, column valid_from: '2026-04-02' leaves a gap after line 2 (2026-01-01 to 2026-03-31) for "
     "source hpc, service *, unit cpu-hour, group (default): it must start 2026-04-01"),
    ("HPC,*,CPU-hour,0.06,0.05,2026-02-01,2026-02-28,,,",  # names compared ignoring case
     "rates.csv line 3, column valid_from: '2026-02-01' overlaps line 2 (2026-01-01 to 2026-03-31) for source hpc, "
     "service *, unit CPU-hour, group (default): one rate per day"),
])
def test_dated_rates_that_overlap_or_leave_a_gap_are_refused_naming_both_lines(tmp_path, second, message):
    path = _rates(tmp_path, "hpc,*,cpu-hour,0.05,0.04,2026-01-01,2026-03-31,,,", second)
    assert _refused(read_rates, path) == message


def test_an_open_ended_rate_followed_by_another_is_an_overlap(tmp_path):
    path = _rates(tmp_path, "hpc,gpu,gpu-hour,2,2,2026-06-01,,,,", "hpc,gpu,gpu-hour,2,1,2026-01-01,,,,")
    assert _refused(read_rates, path) == (
        "rates.csv line 2, column valid_from: '2026-06-01' overlaps line 3 (2026-01-01 to (open)) for source hpc, "
        "service gpu, unit gpu-hour, group (default): one rate per day")


def test_other_groups_services_and_a_new_tier_set_are_not_overlaps(tmp_path):
    path = _rates(tmp_path,
                  "hpc,*,cpu-hour,0.05,0.04,2026-01-01,,,,",
                  "hpc,*,cpu-hour,0.05,0.05,2026-01-01,,,,external",
                  "hpc,gpu,cpu-hour,0.05,0.05,2026-01-01,,,,",
                  "hpc,*,gpu-hour,2,2,2026-01-01,2026-03-31,0,100,",
                  "hpc,*,gpu-hour,2,1,2026-01-01,2026-03-31,100,,",
                  "hpc,*,gpu-hour,2,2,2026-04-01,,0,50,",  # from April, other tiers: a new set from 0
                  "hpc,*,gpu-hour,2,1.5,2026-04-01,,50,,")
    assert len(read_rates(path)) == 7


@pytest.mark.parametrize("tiers,message", [
    (["hpc,*,gpu-hour,2,2,2026-01-01,,100,,"],
     "rates.csv line 2, column tier_from: '100' is the lowest tier for source hpc, service *, unit gpu-hour, group "
     "(default) from 2026-01-01: tiers must start at 0"),
    (["hpc,*,gpu-hour,2,2,2026-01-01,,0,100,", "hpc,*,gpu-hour,2,1,2026-01-01,,150,,"],
     "rates.csv line 3, column tier_from: '150' leaves a gap after line 2's tier (0 to 100) for source hpc, service "
     "*, unit gpu-hour, group (default) from 2026-01-01: it must be 100"),
    (["hpc,*,gpu-hour,2,2,2026-01-01,,0,100,", "hpc,*,gpu-hour,2,1,2026-01-01,,50,,"],
     "rates.csv line 3, column tier_from: '50' overlaps line 2's tier (0 to 100) for source hpc, service *, unit "
     "gpu-hour, group (default) from 2026-01-01"),
    (["hpc,*,gpu-hour,2,2,2026-01-01,,0,,", "hpc,*,gpu-hour,2,1,2026-01-01,,100,,"],
     "rates.csv line 3, column tier_from: '100' overlaps line 2's tier (0 to (no end)) for source hpc, service *, "
     "unit gpu-hour, group (default) from 2026-01-01"),
    (["hpc,*,gpu-hour,2,2,2026-01-01,,0,100,", "hpc,*,gpu-hour,2,1,2026-01-01,2026-03-31,100,,"],
     "rates.csv line 3, column valid_to: '2026-03-31' differs from line 2's (open) for source hpc, service *, unit "
     "gpu-hour, group (default) from 2026-01-01: tiers that start together end together"),
])
def test_tiers_that_do_not_start_at_zero_or_leave_a_gap_are_refused(tmp_path, tiers, message):
    assert _refused(read_rates, _rates(tmp_path, *tiers)) == message


def test_a_changed_tier_alone_is_refused_because_its_set_does_not_start_at_zero(tmp_path):
    """A tier set is the lines of a key starting on one day: changing one tier means restating the whole set."""
    path = _rates(tmp_path,
                  "hpc,*,gpu-hour,2,2,2026-01-01,2026-03-31,0,100,",
                  "hpc,*,gpu-hour,2,1,2026-01-01,2026-03-31,100,,",
                  "hpc,*,gpu-hour,2,0.5,2026-04-01,,100,,")
    assert "rates.csv line 4, column tier_from: '100' is the lowest tier" in _refused(read_rates, path)


# --- refusals: fees and accounts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("line,message", [
    ("astro,rack,10,weekly,2026-01-01,,",
     "fees.csv line 2, column frequency: 'weekly' is not one of monthly, quarterly, yearly, once"),
    ("astro,rack,-10,monthly,2026-01-01,,", "fees.csv line 2, column amount: '-10' is negative"),
    ("astro,rack,10 USD,monthly,2026-01-01,,", f"fees.csv line 2, column amount: '10 USD' {NOT_A_NUMBER}"),
    ("astro,rack,10,monthly,2026-01-31,2026-01-30,",
     "fees.csv line 2, column valid_to: '2026-01-30' is before valid_from 2026-01-31 (valid_to is the last day, "
     "inclusive)"),
    ("astro,rack,10,monthly,2026/01/01,,", "fees.csv line 2, column valid_from: '2026/01/01' is not a date "
                                           "(YYYY-MM-DD)"),
    (",rack,10,monthly,2026-01-01,,", "fees.csv line 2, column project_id: '' is empty: a value is required"),
])
def test_a_bad_fee_is_refused(tmp_path, line, message):
    assert _refused(read_fees, _write(tmp_path, "fees.csv", [FEES_HEADER, line])) == message


@pytest.mark.parametrize("lines,message", [
    (["astro,ada@example.edu,astro-survey,ASTR-1,", "chem,marie@example.edu,chem-1,CHEM-1,",
      "Astro,x@example.edu,p,F,"],
     "accounts.csv line 4, column account: 'Astro' repeats line 2 ('astro'): one line per account (compared "
     "ignoring case)"),
    (["astro,ada.example.edu,astro-survey,ASTR-1,"], "accounts.csv line 2, column pi_email: 'ada.example.edu' is not "
                                                    "an email address"),
    (["astro,ada@example,astro-survey,ASTR-1,"], "accounts.csv line 2, column pi_email: 'ada@example' is not an "
                                                "email address"),
    (["astro,ada@example.edu,,ASTR-1,"], "accounts.csv line 2, column project_id: '' is empty: a value is required"),
    (["astro,ada@example.edu,astro-survey,,"], "accounts.csv line 2, column fund_org: '' is empty: a value is "
                                               "required"),
    (["astro,,astro-survey,ASTR-1,"], "accounts.csv line 2, column pi_email: '' is empty: a value is required"),
])
def test_a_bad_account_is_refused(tmp_path, lines, message):
    assert _refused(read_accounts, _write(tmp_path, "accounts.csv", [ACCOUNTS_HEADER, *lines])) == message


# --- when a fee is billed ----------------------------------------------------------------------------------------

def _fee(frequency: str, valid_to: date | None = None) -> FeeLine:
    return FeeLine(2, "astro", "rack", Decimal("10.00"), frequency, date(2025, 11, 20), valid_to)


@pytest.mark.parametrize("frequency,valid_to,billed", [
    ("monthly", None, {"2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06",
                       "2026-07", "2026-08", "2026-09", "2026-10", "2026-11", "2026-12", "2027-01"}),
    ("monthly", date(2026, 2, 1), {"2025-11", "2025-12", "2026-01", "2026-02"}),
    ("quarterly", None, {"2025-11", "2026-02", "2026-05", "2026-08", "2026-11"}),
    ("quarterly", date(2026, 5, 31), {"2025-11", "2026-02", "2026-05"}),
    ("quarterly", date(2026, 4, 30), {"2025-11", "2026-02"}),
    ("yearly", None, {"2025-11", "2026-11"}),
    ("yearly", date(2026, 10, 31), {"2025-11"}),
    ("once", None, {"2025-11"}),
])
def test_bills_in_counts_months_from_valid_from_across_the_year_boundary(frequency, valid_to, billed):
    fee = _fee(frequency, valid_to)
    months = [f"{year}-{month:02d}" for year in (2025, 2026, 2027) for month in range(1, 13)]
    assert {month for month in months[:-11] if fee.bills_in(month)} == billed


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "2026-01-01", ""])
def test_bills_in_refuses_a_month_that_is_not_yyyy_mm(month):
    with pytest.raises(ValueError, match="is not YYYY-MM"):
        _fee("monthly").bills_in(month)
