"""focus_raw import: formats, versions, quirks, idempotency, gates (real DuckDB files)."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from ocb_pipelines.ingest.focus import sha256_file
from ocb_pipelines.ingest.importer import ImportRefused, import_file, inspect_file
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import focus_row, write_focus


def _import(db: Path, path: Path, source: str = "aws", months=None, expected=None):
    with wh.connect(db) as con:
        months = months or inspect_file(path).months
        return import_file(con, path, months=months, source=source, expected_period=expected)


def _rows(db: Path, sql: str, params=None):
    with wh.connect(db) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2", "1.3"])
@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_every_version_and_format(tmp_path, version, fmt):
    suffix = {"csv": ".csv", "csv.gz": ".csv.gz", "parquet": ".parquet"}[fmt]
    path = write_focus(tmp_path / f"aws_2025-01{suffix}", [focus_row(billed="1.25"), focus_row(billed="2.50")],
                       version=version, extra=["x_ServiceCode"])
    db = tmp_path / "w.duckdb"
    [result] = _import(db, path)
    assert (result.status, result.rows, result.focus_version, result.billed_total) == ("imported", 2, version,
                                                                                       Decimal("3.75"))
    rows = _rows(db, "SELECT source, file_name, file_sha256, file_row_number, focus_version, Tags, x_columns "
                     "FROM focus_raw ORDER BY file_row_number")
    assert [r[3] for r in rows] == [1, 2]
    assert rows[0][:3] == ("aws", path.name, sha256_file(path))
    assert json.loads(rows[0][5])["pi_email"] == "ada.lovelace@example.edu"
    assert "x_ServiceCode" in rows[0][6]


def test_quirks_null_strings_bom_dates_and_case(tmp_path):
    rows = [
        focus_row(ResourceId="NULL", ChargePeriodStart="2025-01-03 00:00:00", ChargePeriodEnd="2025-01-03 01:00:00"),
        focus_row(ResourceId="", BillingPeriodStart="2025-01-01 00:00:00", ContractedCost="NULL"),
        focus_row(ChargePeriodStart="2025-01-03T00:00:00+00:00", ChargePeriodEnd="2025-01-03T01:00:00.5Z",
                  billed="35.2E-7"),
    ]
    path = write_focus(tmp_path / "aws_2025-01.csv", rows, version="1.0", header_case=str.lower, bom=True)
    db = tmp_path / "w.duckdb"
    [result] = _import(db, path)
    assert result.rows == 3
    raw = _rows(db, 'SELECT "ResourceId", "ContractedCost" FROM focus_raw ORDER BY file_row_number')
    assert raw[0][0] is None and raw[1] == (None, None)
    assert result.billed_total == Decimal("21.0000035200")


def test_same_file_twice_changes_nothing(tmp_path):
    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row(), focus_row(billed="3")])
    db = tmp_path / "w.duckdb"
    _import(db, path)
    before = _rows(db, "SELECT * FROM focus_raw ORDER BY file_row_number")
    [again] = _import(db, path)
    assert again.status == "unchanged"
    assert _rows(db, "SELECT * FROM focus_raw ORDER BY file_row_number") == before


def test_same_content_under_another_name_is_not_doubled(tmp_path):
    first = write_focus(tmp_path / "aws_2025-01.csv", [focus_row()])
    copy = tmp_path / "aws_2025-01 (1).csv"
    copy.write_bytes(first.read_bytes())
    db = tmp_path / "w.duckdb"
    _import(db, first)
    [dup] = _import(db, copy)
    assert dup.status == "duplicate" and "aws_2025-01.csv" in dup.message
    assert _rows(db, "SELECT count(*) FROM focus_raw") == [(1,)]


def test_corrected_file_replaces_exactly_its_own_rows(tmp_path):
    db = tmp_path / "w.duckdb"
    aws = write_focus(tmp_path / "aws_2025-01.csv", [focus_row(billed="1"), focus_row(billed="2")])
    other = write_focus(tmp_path / "aws_2025-01_part2.csv", [focus_row(billed="5")])
    azure = write_focus(tmp_path / "azure_2025-01.csv", [focus_row(billed="7")])
    _import(db, aws)
    _import(db, other)
    _import(db, azure, source="azure")
    write_focus(aws, [focus_row(billed="4")])  # corrected: one row now
    [res] = _import(db, aws)
    assert res.status == "imported" and res.rows == 1
    got = _rows(db, "SELECT source, file_name, sum(CAST(\"BilledCost\" AS DECIMAL(38,12))) FROM focus_raw "
                    "GROUP BY ALL ORDER BY ALL")
    assert got == [("aws", "aws_2025-01.csv", Decimal(4)), ("aws", "aws_2025-01_part2.csv", Decimal(5)),
                   ("azure", "azure_2025-01.csv", Decimal(7))]


def test_order_of_imports_does_not_matter(tmp_path):
    files = [write_focus(tmp_path / f"aws_2025-01_{i}.csv", [focus_row(billed=str(i))]) for i in range(1, 4)]
    totals = []
    for order in (files, list(reversed(files))):
        db = tmp_path / f"w{len(totals)}.duckdb"
        for f in order:
            _import(db, f)
        totals.append(_rows(db, "SELECT count(*), sum(CAST(\"BilledCost\" AS DECIMAL(38,12))) FROM focus_raw"))
    assert totals[0] == totals[1] == [(3, Decimal(6))]


def test_multi_month_file_lands_each_row_in_its_month(tmp_path):
    path = write_focus(tmp_path / "aws_2025-01.csv",
                       [focus_row("2025-01"), focus_row("2025-02"), focus_row("2025-02"), focus_row("2025-03")])
    facts = inspect_file(path)
    assert facts.months == ("2025-01", "2025-02", "2025-03") and facts.row_count == 4
    db = tmp_path / "w.duckdb"
    results = _import(db, path)
    assert {r.month: r.rows for r in results} == {"2025-01": 1, "2025-02": 2, "2025-03": 1}
    assert _rows(db, "SELECT billing_month, list(file_row_number ORDER BY file_row_number) FROM focus_raw "
                     "GROUP BY 1 ORDER BY 1") == [("2025-01", [1]), ("2025-02", [2, 3]), ("2025-03", [4])]
    assert _rows(db, "SELECT period, status FROM billing_periods ORDER BY 1") == [
        ("2025-01", "open"), ("2025-02", "open"), ("2025-03", "open")]


def test_corrected_file_without_a_month_removes_its_rows_there(tmp_path):
    db = tmp_path / "w.duckdb"
    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row("2025-01"), focus_row("2025-02")])
    _import(db, path)
    write_focus(path, [focus_row("2025-01", billed="9")])
    results = _import(db, path, months=["2025-01", "2025-02"])
    assert {r.month: r.status for r in results} == {"2025-01": "imported", "2025-02": "removed"}
    assert _rows(db, "SELECT billing_month, count(*) FROM focus_raw GROUP BY 1") == [("2025-01", 1)]


def test_gate_failure_names_culprits_and_keeps_previous_state(tmp_path):
    db = tmp_path / "w.duckdb"
    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row(billed="1"), focus_row(billed="2")])
    _import(db, path)
    before = _rows(db, "SELECT * FROM focus_raw ORDER BY file_row_number")
    bad = [focus_row(billed="3"), focus_row(billed="1,234.00"), focus_row(ChargeCategory="Refund"),
           focus_row(BillingCurrency="usd"), focus_row(ChargePeriodStart="5/1/25"),
           focus_row(BillingPeriodEnd="2024-12-01T00:00:00Z"), focus_row(BilledCost="")]
    write_focus(path, bad)
    with pytest.raises(ImportRefused) as err:
        _import(db, path, months=["2025-01"])
    text = str(err.value)
    assert "aws_2025-01.csv: row 2 (line 3), column BilledCost, value '1,234.00'" in text
    assert "row 3 (line 4), column ChargeCategory, value 'Refund'" in text
    assert "row 4 (line 5), column BillingCurrency, value 'usd'" in text
    assert "row 5 (line 6), column ChargePeriodStart, value '5/1/25'" in text
    assert "row 6 (line 7), column BillingPeriodStart" in text and "before BillingPeriodEnd" in text
    assert "row 7 (line 8), column BilledCost: a value is required" in text
    assert _rows(db, "SELECT * FROM focus_raw ORDER BY file_row_number") == before
    assert not [t for (t,) in _rows(db, "SELECT table_name FROM duckdb_tables()") if t.startswith("_stage")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("identity/LineItemId,bill/BillingPeriodStartDate,lineItem/UsageAccountId,lineItem/UnblendedCost\n1,2,3,4\n",
         "AWS Cost and Usage Report"),
        ("InvoiceSectionName,SubscriptionGuid,MeterCategory,MeterId,CostInBillingCurrency\na,b,c,d,1\n", "Azure EA"),
        ("BilledCost;BillingCurrency;ServiceName\n1;USD;x\n", "delimiter"),
    ],
)
def test_non_focus_files_refused_with_reason(tmp_path, content, message):
    path = tmp_path / "aws_2025-01.csv"
    path.write_text(content)
    with pytest.raises(ImportRefused, match=message):
        _import(tmp_path / "w.duckdb", path, months=["2025-01"])


def test_header_only_file_refused(tmp_path):
    path = write_focus(tmp_path / "aws_2025-01.csv", [])
    with pytest.raises(ImportRefused, match="no data rows"):
        _import(tmp_path / "w.duckdb", path, months=["2025-01"])


def test_import_into_closed_or_finalized_month_is_late_data_and_leaves_the_month(tmp_path):
    """A closed or finalized month keeps its rows; the file's go to late_rows, adjusted in the next open month
    (ingest/test_late.py has the adjustments)."""
    db = tmp_path / "w.duckdb"
    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row()])
    _import(db, path)
    for status, billed in (("closed", "99"), ("finalized", "98")):
        with wh.connect(db) as con:
            con.execute("UPDATE billing_periods SET status = ? WHERE period = '2025-01'", [status])
        write_focus(path, [focus_row(billed=billed)])
        (result,) = _import(db, path)
        assert result.status == "late" and f"2025-01 is {status}" in result.message
        assert _rows(db, "SELECT \"BilledCost\" FROM focus_raw WHERE billing_month = '2025-01'") == [("10.50",)]
        assert _rows(db, "SELECT \"BilledCost\" FROM late_rows") == [(billed,)]


def test_row_numbers_follow_the_file_across_parallel_read_batches(tmp_path):
    """A file large enough for DuckDB to read in several parallel batches keeps exact row numbers."""
    import duckdb

    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row()])
    header = path.read_text().splitlines()[0]
    template = path.read_text().splitlines()[1]
    resource_at = header.split(",").index("ResourceId")
    cells = template.split(",")
    # 200k rows (~90 MB) with ResourceId = row number, written by DuckDB for speed.
    prefix, suffix = ",".join(cells[:resource_at]), ",".join(cells[resource_at + 1:])
    big = tmp_path / "big.csv"
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT {prefix!r} || ',r' || i || ',' || {suffix!r} FROM range(1, 200001) t(i) ORDER BY i) "
            f"TO '{big}' (FORMAT csv, HEADER false, QUOTE '', ESCAPE '')"
        )
    path.write_text(header + "\n" + big.read_text())
    db = tmp_path / "w.duckdb"
    [result] = _import(db, path, months=["2025-01"])
    assert result.rows == 200_000
    assert _rows(db, "SELECT count(*) FROM focus_raw WHERE \"ResourceId\" <> 'r' || file_row_number") == [(0,)]
    assert _rows(db, "SELECT min(file_row_number), max(file_row_number) FROM focus_raw") == [(1, 200_000)]


def test_quoted_empty_and_null_strings_are_null(tmp_path):
    path = write_focus(tmp_path / "aws_2025-01.csv", [focus_row(ResourceId="NULL", ResourceName="null")])
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("AvailabilityZone")] = '""'
    path.write_text(lines[0] + "\n" + ",".join(cells) + "\n")
    db = tmp_path / "w.duckdb"
    _import(db, path)
    assert _rows(db, 'SELECT "AvailabilityZone", "ResourceId", "ResourceName" FROM focus_raw') == [(None, None, None)]


def test_gate_judges_repeated_values_once_and_still_names_each_bad_row(tmp_path):
    """Columns whose values repeat are judged on their distinct values; a bad one among them is still reported
    at its own row, as is a bad amount in a column of mostly distinct values."""
    rows = [focus_row(billed=f"{n}.{n % 97:02d}") for n in range(1, 301)]  # amounts: mostly distinct
    rows[40] = focus_row(ChargePeriodStart="2025-01-03 7am")  # dates: one distinct value among 300
    rows[120] = focus_row(ChargeCategory="Refunds")
    rows[199] = focus_row(ListCost="12.00.1")  # ListCost repeats: 12.00 on every other row
    rows[250]["BilledCost"] = "2,50"
    path = write_focus(tmp_path / "aws_2025-01.csv", rows)
    with pytest.raises(ImportRefused) as err:
        _import(tmp_path / "w.duckdb", path, months=["2025-01"])
    failures = [(f.row, f.column, f.value) for f in err.value.failures]
    assert failures == [(41, "ChargePeriodStart", "2025-01-03 7am"), (121, "ChargeCategory", "Refunds"),
                        (200, "ListCost", "12.00.1"), (251, "BilledCost", "2,50")]
