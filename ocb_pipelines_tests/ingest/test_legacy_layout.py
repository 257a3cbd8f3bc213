"""OpenChargeback's file layout: the 12-column subset of FOCUS its users' scripts write imports, with the missing
required columns filled from the source's configuration (real DuckDB warehouse, real config file)."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.cli.main import cli
from ocb_pipelines.core.config import ConfigError, load_config
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest import service
from ocb_pipelines.ingest.focus import (
    NotFocusError,
    canonical_header,
    expected_month,
    months_named_in,
    period_from_filename,
    quarter_from_filename,
)
from ocb_pipelines.ingest.importer import ImportRefused, import_file
from ocb_pipelines.ingest.legacy_layout import SourceDefaults, period_end_sql
from ocb_pipelines.warehouse import database as wh

OCB_COLUMNS = ["BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ListCost",
               "ContractedCost", "BilledCost", "EffectiveCost", "ResourceId", "ResourceName", "ServiceName", "Tags"]
TAGS = {"pi_email": "wren.halloway@example.edu", "project_id": "coral-genomics", "fund_org": "BIOL-204001"}


def ocb_row(billed: str = "10.50", listed: str = "12.00", month: str = "2025-03", resource: str = "node-1",
            **overrides: str) -> dict[str, str]:
    """One row as OpenChargeback's exporters write it: dates only, the period end inclusive."""
    year, mon = (int(x) for x in month.split("-"))
    last = (datetime(year + (mon == 12), mon % 12 + 1, 1) - datetime(year, mon, 1)).days
    row = {"BillingPeriodStart": f"{month}-01", "BillingPeriodEnd": f"{month}-{last:02d}",
           "ChargePeriodStart": f"{month}-01", "ChargePeriodEnd": f"{month}-{last:02d}", "ListCost": listed,
           "ContractedCost": listed, "BilledCost": billed, "EffectiveCost": billed, "ResourceId": resource,
           "ResourceName": resource, "ServiceName": "HPC Cluster", "Tags": json.dumps(TAGS)}
    row.update(overrides)
    return row


def write_ocb(path: Path, rows: list[dict[str, str]], columns: list[str] = OCB_COLUMNS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[r.get(c, "") for c in columns] for r in rows])
    return path


def _import(settings, path: Path, month: str = "2025-03") -> service.MonthImport:
    with wh.connect(settings.warehouse_path) as con:
        outcome = service.import_month(con, settings, month, files=[path])
        build_validated(con, month, rules_from(settings))
    return outcome


def _query(settings, sql: str, params=None) -> list[tuple]:
    with wh.connect(settings.warehouse_path) as con:
        return con.execute(sql, params or []).fetchall()


def _strict_config(workdir: Path, value: str = "true"):
    path = workdir / "config.yaml"
    text = path.read_text(encoding="utf-8")
    old = "{name: hpc, pattern: hpc,"
    assert old in text
    path.write_text(text.replace(old, f"{{name: hpc, pattern: hpc, strict: {value},"), encoding="utf-8")
    return load_config(path)


def test_header_of_the_openchargeback_layout_is_mapped_with_its_missing_columns():
    mapping = canonical_header(OCB_COLUMNS)
    assert mapping.missing == ("BillingAccountId", "BillingCurrency", "ChargeCategory", "ProviderName")
    assert mapping.fills == () and mapping.version == "1.0"
    without_effective = canonical_header([c for c in OCB_COLUMNS if c != "EffectiveCost"])
    assert without_effective.missing[-1] == "EffectiveCost"
    # ServiceProviderName (FOCUS 1.3) stands for ProviderName: nothing to fill for it
    assert "ProviderName" not in canonical_header([*OCB_COLUMNS, "ServiceProviderName"]).missing
    # a column no configuration can supply is still refused at once, naming it
    with pytest.raises(NotFocusError, match=r"required FOCUS columns missing: .*BilledCost"):
        canonical_header([c for c in OCB_COLUMNS if c != "BilledCost"])


def test_missing_columns_are_filled_from_the_source_and_recorded_while_raw_rows_keep_the_file(settings):
    path = write_ocb(settings.inbox_dir / "hpc_2025-03.csv",
                     [ocb_row("0.00", "800.00", resource="n-42"), ocb_row("306.24", "612.48", resource="gpu-12")])
    outcome = _import(settings, path)
    assert not outcome.refused and [r.status for r in outcome.results] == ["imported"]
    assert outcome.results[0].filled == [
        "BillingAccountId = 'hpc' (source name)", "BillingCurrency = 'USD' (currency.code)",
        "ChargeCategory = 'Usage' (default)", "ProviderName = 'HPC Cluster' (source display_name)"]
    raw = _query(settings, 'SELECT "BillingAccountId", "BillingCurrency", "ChargeCategory", "ProviderName", '
                           '"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodEnd", "BilledCost" '
                           "FROM focus_raw ORDER BY file_row_number")
    # the file's own values as written (the inclusive end too); the filled ones beside them
    assert raw == [("hpc", "USD", "Usage", "HPC Cluster", "2025-03-01", "2025-03-31", "2025-03-31", "0.00"),
                   ("hpc", "USD", "Usage", "HPC Cluster", "2025-03-01", "2025-03-31", "2025-03-31", "306.24")]
    [(recorded,)] = _query(settings, "SELECT filled_columns FROM imports")
    assert json.loads(recorded) == {
        "BillingAccountId": {"value": "hpc", "copy_of": None, "rule": "source name"},
        "BillingCurrency": {"value": "USD", "copy_of": None, "rule": "currency.code"},
        "ChargeCategory": {"value": "Usage", "copy_of": None, "rule": "default"},
        "ProviderName": {"value": "HPC Cluster", "copy_of": None, "rule": "source display_name"}}
    [(details,)] = _query(settings, "SELECT details FROM audit_events WHERE action = 'import'")
    assert json.loads(details)["filled_columns"] == json.loads(recorded)
    charges = _query(settings, "SELECT billing_account_id, provider, charge_category, billing_currency, billed_cost, "
                               "needs_review FROM charges_validated ORDER BY file_row_number")
    assert charges == [("hpc", "HPC Cluster", "Usage", "USD", Decimal("0"), False),
                       ("hpc", "HPC Cluster", "Usage", "USD", Decimal("306.24"), False)]


def test_a_full_focus_file_records_no_fills(settings):
    from ocb_pipelines_tests.conftest import focus_row, write_focus

    path = write_focus(settings.inbox_dir / "aws_2025-01.csv", [focus_row()])
    outcome = _import(settings, path, "2025-01")
    assert outcome.results[0].filled == []
    assert _query(settings, "SELECT filled_columns FROM imports") == [(None,)]


def test_missing_effective_cost_is_each_rows_billed_cost_and_the_provider_falls_back_to_the_name(settings, workdir):
    columns = ["BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ServiceName",
               "ResourceName", "ListCost", "BilledCost", "ResourceId", "Tags"]  # an OpenChargeback token exporter's
    rows = [ocb_row("0.5", "0.5", resource="a"), ocb_row("10.88", "12.00", resource="b"),
            ocb_row("-1.25", "-1.25", resource="c")]
    path = write_ocb(settings.inbox_dir / "labtokens_2025-03.csv", rows, columns)
    with wh.connect(settings.warehouse_path) as con:  # a source not in known_sources: -s names it
        service.import_month(con, settings, "2025-03", files=[path], source="labtokens")
        build_validated(con, "2025-03", rules_from(settings))
    got = _query(settings, "SELECT billed_cost, effective_cost, provider, billing_account_id FROM charges_validated "
                           "ORDER BY file_row_number")
    assert got == [(Decimal("0.5"), Decimal("0.5"), "labtokens", "labtokens"),
                   (Decimal("10.88"), Decimal("10.88"), "labtokens", "labtokens"),
                   (Decimal("-1.25"), Decimal("-1.25"), "labtokens", "labtokens")]
    [(recorded,)] = _query(settings, "SELECT filled_columns FROM imports")
    assert json.loads(recorded)["EffectiveCost"] == {"value": None, "copy_of": "BilledCost",
                                                     "rule": "effective = billed"}
    assert json.loads(recorded)["ProviderName"]["rule"] == "source name"


def test_provider_is_the_configured_name_when_the_source_has_no_display_name(settings):
    known = settings.model_copy(update={"imports": settings.imports.model_copy(update={"known_sources": [
        s.model_copy(update={"display_name": ""}) for s in settings.imports.known_sources]})})
    defaults = SourceDefaults.of(known, "hpc")
    assert (defaults.provider, defaults.provider_rule, defaults.account) == ("hpc", "source name as configured", "hpc")


def test_date_only_values_are_midnight_utc_and_an_inclusive_month_end_is_the_month(settings):
    rows = [ocb_row("1.00", resource="month"),
            ocb_row("2.00", resource="one-day", ChargePeriodStart="2025-03-14", ChargePeriodEnd="2025-03-14"),
            ocb_row("3.00", resource="part", ChargePeriodStart="2025-03-10", ChargePeriodEnd="2025-03-31")]
    _import(settings, write_ocb(settings.inbox_dir / "hpc_2025-03.csv", rows))
    got = _query(settings, "SELECT billing_period_start, billing_period_end, charge_period_start, charge_period_end "
                           "FROM charges_validated ORDER BY file_row_number")
    month = (datetime(2025, 3, 1), datetime(2025, 4, 1))
    assert got == [(*month, *month),
                   (*month, datetime(2025, 3, 14), datetime(2025, 3, 14)),  # not a month: as written
                   (*month, datetime(2025, 3, 10), datetime(2025, 3, 31))]


@pytest.mark.parametrize(
    ("start", "end", "read_as"),
    [
        ("2025-01-01", "2025-01-31", datetime(2025, 2, 1)),
        ("2024-02-01", "2024-02-29", datetime(2024, 3, 1)),  # leap year
        ("2025-02-01", "2025-02-28", datetime(2025, 3, 1)),
        ("2025-12-01", "2025-12-31", datetime(2026, 1, 1)),
        ("2025-01-01", "2025-01-30", datetime(2025, 1, 30)),  # not the month's last day
        ("2025-01-02", "2025-01-31", datetime(2025, 1, 31)),  # the period does not start on the 1st
        ("2024-12-01", "2025-01-31", datetime(2025, 1, 31)),  # not one month
        ("2025-01-01T00:00:00Z", "2025-01-31", datetime(2025, 1, 31)),  # a FOCUS start: FOCUS (exclusive) end
        ("2025-01-01", "2025-02-01T00:00:00Z", datetime(2025, 2, 1)),
        ("2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z", datetime(2025, 2, 1)),
        ("2025-01-01", "2025-01-31T05:00:00+05:00", datetime(2025, 1, 31)),
        ("2025-01-01", None, None),
    ],
)
def test_period_end_reading(start, end, read_as):
    got = duckdb.sql(f"SELECT {period_end_sql('s', 'e')} FROM (SELECT ?::VARCHAR AS s, ?::VARCHAR AS e)",
                     params=[start, end]).fetchall()
    assert got == [(read_as,)]


def test_a_strict_source_refuses_the_layout_and_writes_nothing(workdir):
    settings = _strict_config(workdir)
    path = write_ocb(settings.inbox_dir / "hpc_2025-03.csv", [ocb_row()])
    outcome = _import(settings, path)
    error = outcome.refused["hpc_2025-03.csv"]
    assert ("hpc_2025-03.csv: required FOCUS columns missing: BillingAccountId, BillingCurrency, ChargeCategory, "
            "ProviderName; source 'hpc' is strict") in error
    assert "set strict: false" in error
    assert _query(settings, "SELECT count(*) FROM focus_rows") == [(0,)]
    # another source of the same configuration is not strict
    assert not _import(settings, write_ocb(settings.inbox_dir / "storage_2025-03.csv", [ocb_row()])).refused


def test_strict_is_validated(workdir):
    with pytest.raises(ConfigError, match=r"imports\.known_sources\.3\.strict"):
        _strict_config(workdir, '"sometimes"')


def test_without_a_sources_configuration_the_layout_is_refused(tmp_path):
    path = write_ocb(tmp_path / "hpc_2025-03.csv", [ocb_row()])
    with wh.connect(tmp_path / "w.duckdb") as con, pytest.raises(
            ImportRefused, match="required FOCUS columns missing: BillingAccountId"):
        import_file(con, path, months=["2025-03"], source="hpc")


def test_cli_summary_names_the_filled_columns_per_file(workdir):
    paths = [write_ocb(workdir / "hpc_2025-03.csv", [ocb_row()]),
             write_ocb(workdir / "gcp_2025-03.csv", [ocb_row()], [c for c in OCB_COLUMNS if c != "EffectiveCost"])]
    runner = CliRunner()
    args = ["ingest", *map(str, paths), "--dry-run", "-c", str(workdir / "config.yaml")]
    human = runner.invoke(cli, args, catch_exceptions=False)
    assert human.exit_code == 0, human.output
    lines = human.output.splitlines()
    hpc = lines.index(next(x for x in lines if "hpc_2025-03.csv" in x))
    assert lines[hpc + 1].split() == [
        "filled", "(OpenChargeback", "layout):", "BillingAccountId", "=", "'hpc'", "(source", "name);",
        "BillingCurrency", "=", "'USD'", "(currency.code);", "ChargeCategory", "=", "'Usage'", "(default);",
        "ProviderName", "=", "'HPC", "Cluster'", "(source", "display_name)"]
    gcp = next(x for x in lines if x.strip().startswith("filled") and "'gcp'" in x)
    assert gcp.endswith("EffectiveCost = the row's BilledCost (effective = billed)")
    as_json = json.loads(runner.invoke(cli, [*args, "--json"], catch_exceptions=False).output)
    filled = {f["file"]: f["filled_columns"] for f in as_json["files"]}
    assert list(filled["hpc_2025-03.csv"]) == ["BillingAccountId", "BillingCurrency", "ChargeCategory",
                                               "ProviderName"]
    assert filled["gcp_2025-03.csv"]["EffectiveCost"]["copy_of"] == "BilledCost"
    assert filled["gcp_2025-03.csv"]["ProviderName"]["value"] == "Google Cloud"


@pytest.mark.parametrize(
    ("name", "quarter"),
    [("hpc_2025-Q1.csv", ("2025-Q1", ("2025-01", "2025-02", "2025-03"))),
     ("storage_2025_q4.csv.gz", ("2025-Q4", ("2025-10", "2025-11", "2025-12"))),
     ("gcp-2026Q2.parquet", ("2026-Q2", ("2026-04", "2026-05", "2026-06"))),
     ("hpc_2025-Q5.csv", None), ("hpc_12025-Q1.csv", None), ("hpc_2025-Q12.csv", None),
     ("hpc_2025-Q1_2025-02.csv", None)],  # a month in the name is the more precise: it wins
)
def test_quarter_names(name, quarter):
    assert quarter_from_filename(name) == quarter
    assert period_from_filename(name) is None or quarter is None


def test_a_quarter_name_expects_the_quarters_months():
    assert months_named_in("hpc_2025-Q1.csv") == ("2025-01", "2025-02", "2025-03")
    assert months_named_in("hpc_2025-02.csv") == ("2025-02",) and months_named_in("hpc.csv") == ()
    assert [expected_month("hpc_2025-Q1.csv", m) for m in ("2025-01", "2025-03", "2025-04")] == [
        "2025-01", "2025-03", "2025-01"]
    assert expected_month("hpc_2025-02.csv", "2025-03") == "2025-02" and expected_month("hpc.csv", "2025-03") is None


def test_a_quarter_file_bills_each_row_in_its_month_and_flags_rows_outside_the_quarter(settings, workdir):
    rows = [ocb_row("1.00", month="2025-02", resource="in"), ocb_row("2.00", month="2025-04", resource="out")]
    path = write_ocb(settings.inbox_dir / "hpc_2025-Q1.csv", rows)
    with wh.connect(settings.warehouse_path) as con:
        for month in ("2025-02", "2025-04"):
            service.import_month(con, settings, month)  # from the inbox, as the sensor and the schedule do
            build_validated(con, month, rules_from(settings))
    got = _query(settings, "SELECT billing_month, expected_period, review_reasons FROM charges_validated "
                           "ORDER BY billing_month")
    assert got == [("2025-02", "2025-02", []), ("2025-04", "2025-01", ["period_mismatch"])]
    args = ["ingest", str(path), "--dry-run", "-c", str(workdir / "config.yaml")]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert ("the name names quarter 2025-Q1: each row is billed in the month of its BillingPeriodStart; rows "
            "outside 2025-01..2025-03 are flagged period_mismatch") in " ".join(result.output.split())
    dry = json.loads(CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False).output)
    assert (dry["flagged_rows"], dry["files"][0]["notes"][0][:36]) == (1, "the name names quarter 2025-Q1: each")


def test_the_dry_run_expects_the_month_the_file_name_says(workdir):
    path = write_ocb(workdir / "hpc_2025-02.csv", [ocb_row("1.00", month="2025-02", resource="in"),
                                                    ocb_row("2.00", month="2025-03", resource="late")])
    args = ["ingest", str(path), "--dry-run", "--json", "-c", str(workdir / "config.yaml")]
    dry = json.loads(CliRunner().invoke(cli, args, catch_exceptions=False).output)
    assert (dry["periods"], dry["flagged_rows"], dry["flagged_billed"]) == (["2025-02", "2025-03"], 1, "2.000000000000")


def test_an_older_warehouse_gains_the_filled_columns_record(tmp_path, settings):
    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db), config=wh.CONNECTION_CONFIG) as con:  # imports as it was before the column
        con.execute("CREATE TABLE imports (import_key INTEGER PRIMARY KEY, import_id VARCHAR NOT NULL, "
                    "billing_month VARCHAR NOT NULL, source VARCHAR NOT NULL, file_name VARCHAR NOT NULL, "
                    "file_sha256 VARCHAR NOT NULL, focus_version VARCHAR NOT NULL, expected_period VARCHAR, "
                    "imported_at TIMESTAMP NOT NULL, run_id VARCHAR)")
        con.execute("INSERT INTO imports VALUES (1, 'x', '2025-01', 'aws', 'old.csv', 'ab', '1.0', NULL, "
                    "TIMESTAMP '2025-02-01', NULL)")
    path = write_ocb(tmp_path / "hpc_2025-03.csv", [ocb_row()])
    with wh.connect(db) as con:
        import_file(con, path, months=["2025-03"], source="hpc", defaults=SourceDefaults.of(settings, "hpc"))
        got = con.execute("SELECT file_name, filled_columns IS NOT NULL FROM imports ORDER BY import_key").fetchall()
    assert got == [("old.csv", False), ("hpc_2025-03.csv", True)]


def test_the_focus_raw_run_says_what_it_filled(workdir):
    import dagster as dg

    from ocb_pipelines.definitions import build_definitions

    path = write_ocb(workdir / "data" / "inbox" / "storage_2025-03.csv", [ocb_row()])
    job = build_definitions(workdir / "config.yaml").resolve_job_def("ingest_job")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(partition_key="2025-03", instance=instance, run_config={
            "ops": {"focus_raw": {"config": {"files": [str(path)]}}}})
    assert result.success
    raw = next(e.materialization.metadata for e in result.get_asset_materialization_events()
               if e.asset_key.to_user_string() == "focus_raw")
    assert "filled: BillingAccountId = 'storage' (source name); BillingCurrency = 'USD'" in raw["this_run"].value


@pytest.mark.parametrize("split", [False, True])
def test_fills_are_the_same_when_a_large_file_is_read_in_halves(tmp_path, settings, monkeypatch, split):
    from ocb_pipelines.ingest import importer

    monkeypatch.setattr(importer, "SPLIT_MIN_BYTES", 1 if split else 1 << 60)
    cuts = []
    real_split = importer.split_in_parts
    monkeypatch.setattr(importer, "split_in_parts", lambda *args: cuts.append(real_split(*args)) or cuts[-1])
    columns = [c for c in OCB_COLUMNS if c != "EffectiveCost"]
    rows = [ocb_row(f"{k}.25", resource=f"n-{k}") for k in range(300)]
    path = write_ocb(tmp_path / "hpc_2025-03.csv", rows, columns)
    defaults = SourceDefaults.of(settings, "hpc")
    with wh.connect(tmp_path / "w.duckdb") as con:
        [result] = import_file(con, path, months=["2025-03"], source="hpc", defaults=defaults)
        got = con.execute(
            'SELECT count(*), count(DISTINCT file_row_number), sum(CAST("EffectiveCost" AS DECIMAL(38, 12))), '
            'min("BillingAccountId"), max("BillingAccountId"), count("ProviderName") FROM focus_raw').fetchall()
    assert (cuts[0] is not None) == split, "the path under test"
    assert result.rows == 300 and len(result.filled) == 5
    assert got == [(300, 300, sum(Decimal(f"{k}.25") for k in range(300)), "hpc", "hpc", 300)]
