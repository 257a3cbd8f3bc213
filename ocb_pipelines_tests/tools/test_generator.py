"""Tests for the fictional FOCUS export generator (fast: small files in tmp dirs)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tools.sample_data import generator as gen
from tools.sample_data.generator import (
    FOCUS_VERSIONS,
    focus_columns,
    generate_focus_file,
    generate_sample_set,
    main,
    x_columns,
)

EXPECTED_COUNTS = {"1.0": 43, "1.1": 50, "1.2": 57, "1.3": 65}
FUND_ORG_RE = re.compile(r"^[A-Z]{3,5}-\d{6}$")
MONEY_RE = re.compile(r"^-?\d+(\.\d{1,10})?$")
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+")
SERVICE_CATEGORIES = {
    "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
    "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
    "Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security", "Storage",
    "Web", "Other",
}  # fmt: skip
MONEY_COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "ListUnitPrice",
    "ContractedUnitPrice",
)
TIME_COLUMNS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV/CSV.gz file as dicts of text (empty string for null)."""
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))


def header(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def needs_review(tags_text: str) -> bool:
    """A row whose Tags lack pi_email / project_id / fund_org or carry a malformed fund_org."""
    if not tags_text:
        return True
    tags = json.loads(tags_text)
    if not tags.get("pi_email") or not tags.get("project_id") or "fund_org" not in tags:
        return True
    return not FUND_ORG_RE.match(tags["fund_org"])


@pytest.fixture(scope="module")
def aws_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    path = tmp_path_factory.mktemp("aws") / "aws.csv"
    generate_focus_file(path, source="aws", months=["2025-01", "2025-02", "2025-03"], rows=4500, seed=7)
    return read_rows(path)


SOURCE_FILES = {  # source -> (file name, version)
    "aws": ("aws.csv", "1.2"),
    "azure": ("azure.csv.gz", "1.0"),
    "gcp": ("gcp.csv", "1.3"),
    "hpc": ("hpc.csv", "1.1"),
    "storage": ("storage.csv", "1.0"),
}


@pytest.fixture(scope="module")
def source_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One 400-row file per source (month 2025-02), in different FOCUS versions and formats."""
    out = tmp_path_factory.mktemp("sources")
    return {
        source: generate_focus_file(out / name, source=source, months=["2025-02"], rows=400, version=version)
        for source, (name, version) in SOURCE_FILES.items()
    }


# --------------------------------------------------------------------------------------------------
# columns and headers
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", FOCUS_VERSIONS)
def test_focus_columns_count_and_names(version: str) -> None:
    cols = focus_columns(version)
    assert len(cols) == EXPECTED_COUNTS[version]
    assert len(set(cols)) == len(cols)
    assert all(re.fullmatch(r"[A-Z][A-Za-z]+", c) and len(c) <= 50 for c in cols)
    if version != "1.0":
        previous = FOCUS_VERSIONS[FOCUS_VERSIONS.index(version) - 1]
        assert set(focus_columns(previous)) < set(cols)


def test_version_markers() -> None:
    assert "ServiceSubcategory" not in focus_columns("1.0")
    assert "ServiceSubcategory" in focus_columns("1.1")
    assert "InvoiceId" in focus_columns("1.2") and "InvoiceId" not in focus_columns("1.1")
    assert {"ServiceProviderName", "HostProviderName", "ProviderName"} <= set(focus_columns("1.3"))
    with pytest.raises(ValueError):
        focus_columns("0.5")


@pytest.mark.parametrize("source", gen.SOURCES)
def test_header_is_focus_columns_plus_x_columns(source_files: dict[str, Path], source: str) -> None:
    version = SOURCE_FILES[source][1]
    assert header(source_files[source]) == focus_columns(version) + x_columns(source)
    assert x_columns(source) and all(c.startswith("x_") for c in x_columns(source))


def test_without_extra_columns(tmp_path: Path) -> None:
    path = generate_focus_file(
        tmp_path / "g.csv", source="gcp", months=["2025-01"], rows=10, extra_columns=False
    )
    assert header(path) == focus_columns("1.2")


# --------------------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["aws", "azure"])  # aws.csv and azure.csv.gz
def test_csv_and_csv_gz_readable_by_duckdb(source_files: dict[str, Path], source: str) -> None:
    path = source_files[source]
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM read_csv('{path}', all_varchar=true)").fetchall() == [(400,)]
    cols = [d[0] for d in con.sql(f"SELECT * FROM read_csv('{path}', all_varchar=true) LIMIT 0").description]
    assert cols == focus_columns(SOURCE_FILES[source][1]) + x_columns(source)


def test_parquet_readable_by_duckdb_with_map_tags(tmp_path: Path) -> None:
    path = generate_focus_file(
        tmp_path / "x.parquet", source="gcp", months=["2025-01"], rows=321, version="1.3"
    )
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchall() == [(321,)]
    described = {r[0]: r[1] for r in con.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()}
    assert list(described) == focus_columns("1.3") + x_columns("gcp")
    assert described["Tags"] == "MAP(VARCHAR, VARCHAR)"
    assert described["BilledCost"].startswith("DECIMAL")
    assert described["BillingPeriodStart"] == "TIMESTAMP WITH TIME ZONE"
    emails = con.sql(f"SELECT DISTINCT Tags['pi_email'] FROM read_parquet('{path}')").fetchall()
    assert any(e[0] and e[0].endswith("@example.edu") for e in emails)


def test_format_inferred_and_invalid_arguments(tmp_path: Path) -> None:
    path = generate_focus_file(tmp_path / "a.csv.gz", source="aws", months=["2025-01"], rows=5)
    assert gzip.decompress(path.read_bytes()).startswith(b"AvailabilityZone,")
    with pytest.raises(ValueError):
        generate_focus_file(tmp_path / "a.txt", source="aws", months=["2025-01"], rows=5)
    with pytest.raises(ValueError):
        generate_focus_file(tmp_path / "a.csv", source="oracle", months=["2025-01"], rows=5)
    with pytest.raises(ValueError):
        generate_focus_file(tmp_path / "a.csv", source="aws", months=["2025-13"], rows=5)
    with pytest.raises(ValueError):
        generate_focus_file(tmp_path / "a.csv", source="aws", months=["2025-01"], rows=5, version="2.0")


# --------------------------------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------------------------------


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    kwargs = {"source": "azure", "months": ["2025-01", "2025-02"], "rows": 300, "version": "1.2", "seed": 5}
    a = generate_focus_file(tmp_path / "a.csv", **kwargs).read_bytes()
    b = generate_focus_file(tmp_path / "b.csv", **kwargs).read_bytes()
    c = generate_focus_file(tmp_path / "c.csv", **{**kwargs, "seed": 6}).read_bytes()
    assert a == b
    assert a != c


def test_chunked_parallel_write_matches_single_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs = {"source": "hpc", "months": ["2025-01", "2025-02"], "rows": 1000, "version": "1.1", "seed": 3}
    single = generate_focus_file(tmp_path / "single.csv", **kwargs).read_bytes()
    monkeypatch.setattr(gen, "_CHUNK_ROWS", 400)
    chunked = generate_focus_file(tmp_path / "chunked.csv.gz", **kwargs)
    assert gzip.decompress(chunked.read_bytes()) == single  # a multi-member gzip of the same rows, in order
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM read_csv('{chunked}', all_varchar=true)").fetchall() == [
        (1000,)
    ]
    assert not list(tmp_path.glob(".*part*"))


# --------------------------------------------------------------------------------------------------
# content
# --------------------------------------------------------------------------------------------------


def test_tags_are_json_objects_and_flagged_share(aws_rows: list[dict[str, str]]) -> None:
    allowed = set(gen.TAG_KEYS) | {"env", "owner", "aws:cloudformation:stack-name"}
    for row in aws_rows:
        if row["Tags"]:
            tags = json.loads(row["Tags"])
            assert isinstance(tags, dict)
            assert set(tags) <= allowed
            assert all(isinstance(v, str) for v in tags.values())
    share = sum(needs_review(r["Tags"]) for r in aws_rows) / len(aws_rows)
    assert 0.04 <= share <= 0.16
    # tag keys that only appear on some rows, fund splits, malformed funds and suspicious names all occur
    parsed = [json.loads(r["Tags"]) for r in aws_rows if r["Tags"]]
    assert 0.05 < sum("account_code" in t for t in parsed) / len(parsed) < 0.15
    assert any("request_id" in t for t in parsed) and any("grant_number" in t for t in parsed)
    assert any(t.get("fund_org") and not FUND_ORG_RE.match(t["fund_org"]) for t in parsed)
    funds: dict[str, set[str]] = {}
    for t in parsed:
        if t.get("project_id") and FUND_ORG_RE.match(t.get("fund_org", "")):
            funds.setdefault(t["project_id"], set()).add(t["fund_org"])
    assert any(len(f) == 2 for f in funds.values())
    assert all(len(f) <= 2 for f in funds.values())
    names = [r["ResourceName"] for r in aws_rows]
    assert any(n.startswith("test-") for n in names) and any(n.startswith("PROD-") for n in names)
    assert any(r["ServiceName"] == "AWS Marketplace" for r in aws_rows)
    assert any(r["Tags"] == "{}" for r in aws_rows)


@pytest.mark.parametrize("flagged_share", [0.0, 0.25])
def test_flagged_share_parameter(tmp_path: Path, flagged_share: float) -> None:
    path = generate_focus_file(
        tmp_path / "h.csv", source="hpc", months=["2025-01"], rows=2000, flagged_share=flagged_share
    )
    share = sum(needs_review(r["Tags"]) for r in read_rows(path)) / 2000
    if flagged_share == 0:
        assert share == 0
    else:
        assert 0.5 * flagged_share <= share <= 2 * flagged_share


def test_pi_projects_and_funds_are_consistent() -> None:
    owners = {p.project_id: p.pi_email for p in gen.PROJECTS}
    assert len(owners) == len(gen.PROJECTS) == 40
    per_pi: dict[str, int] = {}
    for email in owners.values():
        per_pi[email] = per_pi.get(email, 0) + 1
    assert len(per_pi) == 20 and all(1 <= n <= 4 for n in per_pi.values())
    for p in gen.PROJECTS:
        assert FUND_ORG_RE.match(f"{p.orgn}-{p.fund}")
        assert p.fund2 is None or FUND_ORG_RE.match(f"{p.orgn}-{p.fund2}")
        assert re.fullmatch(r"CC-\d{4}", p.cost_center)
        assert p.grant_number is None or re.fullmatch(r"[A-Z]+-\d{7}", p.grant_number)


@pytest.mark.parametrize("source", gen.SOURCES)
def test_emails_are_fictional(source_files: dict[str, Path], source: str) -> None:
    path = source_files[source]
    text = gzip.decompress(path.read_bytes()).decode() if path.name.endswith(".gz") else path.read_text()
    emails = set(EMAIL_RE.findall(text))
    assert emails
    assert all(e.endswith(("@example.edu", "@example.org")) for e in emails)


def test_months_split_and_billing_periods(aws_rows: list[dict[str, str]]) -> None:
    months = {"2025-01": "2025-02", "2025-02": "2025-03", "2025-03": "2025-04"}
    counts: dict[str, int] = {}
    for row in aws_rows:
        month = row["BillingPeriodStart"][:7]
        counts[month] = counts.get(month, 0) + 1
        assert row["BillingPeriodStart"] == f"{month}-01T00:00:00Z"
        assert row["BillingPeriodEnd"] == f"{months[month]}-01T00:00:00Z"
        assert all(TIMESTAMP_RE.match(row[c]) for c in TIME_COLUMNS)
        assert row["BillingPeriodStart"] <= row["ChargePeriodStart"] < row["ChargePeriodEnd"]
        assert row["ChargePeriodEnd"] <= row["BillingPeriodEnd"]
    assert set(counts) == set(months)
    assert all(n == 1500 for n in counts.values())
    invoice_ids = {(r["BillingPeriodStart"], r["InvoiceId"]) for r in aws_rows}
    assert len(invoice_ids) == 3


def test_allowed_values_and_money(aws_rows: list[dict[str, str]]) -> None:
    categories = {r["ChargeCategory"] for r in aws_rows}
    assert categories == {"Usage", "Purchase", "Tax", "Credit"}
    mandatory = ("BillingAccountId", "BillingAccountName", "ChargeDescription", "InvoiceIssuerName",
                 "ProviderName", "PublisherName", "ServiceName", "ServiceCategory", "ServiceSubcategory",
                 "BillingCurrency", "ChargeFrequency")  # fmt: skip
    for row in aws_rows:
        assert all(row[c] for c in mandatory)
        assert row["ChargeFrequency"] in {"One-Time", "Recurring", "Usage-Based"}
        assert row["ServiceCategory"] in SERVICE_CATEGORIES
        assert row["BillingCurrency"] == "USD" and row["ChargeClass"] == ""
        assert row["PricingCategory"] in (
            {""} if row["ChargeCategory"] == "Tax" else {"Standard", "Dynamic", ""}
        )
        for column in MONEY_COLUMNS:
            assert row[column] == "" or MONEY_RE.match(row[column]), (column, row[column])
        billed, effective = Decimal(row["BilledCost"]), Decimal(row["EffectiveCost"])
        listed, contracted = Decimal(row["ListCost"]), Decimal(row["ContractedCost"])
        assert effective == billed
        if row["ChargeCategory"] == "Usage":
            assert listed >= contracted >= billed >= 0
            assert row["PricingCategory"] in {"Standard", "Dynamic"}
            assert row["PricingUnit"] and row["PricingQuantity"]
            assert row["ResourceId"] or row["ServiceName"] == "AWS Marketplace"
        if row["ChargeCategory"] == "Credit":
            assert billed < 0 and (listed == 0 or listed < 0)
        if row["ChargeCategory"] == "Purchase":
            assert row["ChargeFrequency"] != "Usage-Based"
    n = len(aws_rows)
    credit_share = sum(r["ChargeCategory"] == "Credit" for r in aws_rows) / n
    tax_share = sum(r["ChargeCategory"] == "Tax" for r in aws_rows) / n
    assert 0.005 < credit_share < 0.02 and 0.005 < tax_share < 0.02
    assert any(len(r["BilledCost"].partition(".")[2]) == 10 for r in aws_rows)
    assert any(re.fullmatch(r"\d+\.\d{1,2}", r["BilledCost"]) for r in aws_rows)
    # one ServiceName -> one ServiceCategory
    pairs = {(r["ServiceName"], r["ServiceCategory"]) for r in aws_rows}
    assert len(pairs) == len({p[0] for p in pairs})


def test_aws_shape(aws_rows: list[dict[str, str]]) -> None:
    usage = [r for r in aws_rows if r["ChargeCategory"] == "Usage" and r["ServiceName"] != "AWS Marketplace"]
    assert {r["ProviderName"] for r in aws_rows} == {"Amazon Web Services"}
    assert {"Amazon EC2", "Amazon S3", "Amazon RDS"} <= {r["ServiceName"] for r in usage}
    assert any(
        re.fullmatch(r"arn:aws:ec2:[a-z0-9-]+:\d{12}:instance/i-0[0-9a-f]{16}", r["ResourceId"])
        for r in usage
    )
    assert all(r["ResourceId"].startswith("arn:aws:") for r in usage)
    hourly = [r for r in usage if r["ChargePeriodEnd"][11:13] != r["ChargePeriodStart"][11:13]]
    assert len(hourly) > 0.9 * len(usage)
    assert all(r["x_ServiceCode"] for r in usage) and any(
        r["x_UsageType"].startswith("BoxUsage:") for r in usage
    )


def test_hpc_and_storage_shape(source_files: dict[str, Path]) -> None:
    hpc = read_rows(source_files["hpc"])
    usage = [r for r in hpc if r["ChargeCategory"] == "Usage"]
    assert {r["ProviderName"] for r in hpc} == {"Research Computing"}
    assert {r["ServiceName"] for r in usage} == {"HPC Compute", "HPC GPU"}
    assert {r["PricingUnit"] for r in usage} == {"Core-Hours", "GPU-Hours"}
    assert all(re.fullmatch(r"slurm:cluster1:job/\d{6,}", r["ResourceId"]) for r in usage)
    assert all(Decimal(r["ListCost"]) > Decimal(r["BilledCost"]) for r in usage)
    assert 0.05 < sum(Decimal(r["BilledCost"]) == 0 for r in usage) / len(usage) < 0.3

    storage = read_rows(source_files["storage"])
    usage = [r for r in storage if r["ChargeCategory"] == "Usage"]
    assert {r["ServiceName"] for r in usage} == {"Research Storage", "Archive Storage"}
    assert {r["PricingUnit"] for r in usage} == {"GB-Months"}
    assert any(r["ResourceId"].startswith("nfs:/projects/") for r in usage)
    assert all(
        (r["ChargePeriodStart"], r["ChargePeriodEnd"]) == ("2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z")
        for r in storage
    )
    assert all(Decimal(r["ContractedCost"]) >= Decimal(r["BilledCost"]) for r in usage)


def test_azure_and_gcp_shape(source_files: dict[str, Path]) -> None:
    azure = read_rows(source_files["azure"])
    usage = [r for r in azure if r["ChargeCategory"] == "Usage"]
    assert {r["ProviderName"] for r in azure} == {"Microsoft"}
    azure_id = re.compile(r"/subscriptions/[0-9a-f-]{36}/resourceGroups/rg-[a-z0-9-]+/providers/Microsoft\.")
    assert all(azure_id.match(r["ResourceId"]) for r in usage)
    assert all(r["ChargePeriodStart"].endswith("T00:00:00Z") for r in azure)
    assert all(r["x_ResourceGroupName"].startswith("rg-") and r["x_SkuMeterCategory"] for r in usage)
    assert any("aks-managed-cluster-name" in r["Tags"] for r in usage)

    gcp = read_rows(source_files["gcp"])
    assert {r["ProviderName"] for r in gcp} == {"Google Cloud"}
    assert {r["ServiceProviderName"] for r in gcp} == {r["HostProviderName"] for r in gcp} == {"Google Cloud"}
    assert {"Compute Engine", "Cloud Storage", "BigQuery"} <= {r["ServiceName"] for r in gcp}
    assert all(r["x_ServiceId"] for r in gcp)


# --------------------------------------------------------------------------------------------------
# sample set and CLI
# --------------------------------------------------------------------------------------------------


def test_sample_set(tmp_path: Path) -> None:
    paths = generate_sample_set(tmp_path)
    names = [p.name for p in paths]
    assert names == [
        "aws_2025-01.csv", "azure_2025-01.csv.gz", "gcp_2025-01.parquet",
        "hpc_2025-01.csv", "storage_2025-01.csv", "aws_2025-02.csv",
    ]  # fmt: skip
    assert sum(p.stat().st_size for p in paths) < 1_000_000
    con = duckdb.connect()
    expected = {"aws_2025-01.csv": 300, "azure_2025-01.csv.gz": 200, "gcp_2025-01.parquet": 150,
                "hpc_2025-01.csv": 150, "storage_2025-01.csv": 60, "aws_2025-02.csv": 100}  # fmt: skip
    for p in paths:
        reader = "read_parquet" if p.suffix == ".parquet" else "read_csv"
        extra = "" if p.suffix == ".parquet" else ", all_varchar=true"
        assert con.execute(f"SELECT count(*) FROM {reader}('{p}'{extra})").fetchall() == [(expected[p.name],)]
    assert header(tmp_path / "azure_2025-01.csv.gz")[: len(focus_columns("1.0"))] == focus_columns("1.0")
    assert header(tmp_path / "hpc_2025-01.csv")[: len(focus_columns("1.1"))] == focus_columns("1.1")
    february = read_rows(tmp_path / "aws_2025-02.csv")
    assert {r["BillingPeriodStart"] for r in february} == {"2025-02-01T00:00:00Z"}


def test_cli_single_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--out", str(tmp_path), "--source", "aws", "--months", "2025-01,2025-02", "--rows", "120",
            "--version", "1.2", "--format", "csv.gz", "--seed", "1"]  # fmt: skip
    assert main(argv) == 0
    expected = tmp_path / "aws_2025-01.csv.gz"
    assert capsys.readouterr().out.strip() == str(expected)
    rows = read_rows(expected)
    assert len(rows) == 120
    assert {r["BillingPeriodStart"][:7] for r in rows} == {"2025-01", "2025-02"}


def test_cli_sample_set_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gen, "_SAMPLE_SET", gen._SAMPLE_SET[-2:])  # the full set is tested above
    assert main(["--sample-set", str(tmp_path / "s")]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed == [str(tmp_path / "s" / "storage_2025-01.csv"), str(tmp_path / "s" / "aws_2025-02.csv")]
    assert main(["--out", str(tmp_path), "--months", "2025-1"]) == 2
    with pytest.raises(SystemExit):
        main([])
