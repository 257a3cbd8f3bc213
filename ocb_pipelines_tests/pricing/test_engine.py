"""The pricing engine on a real warehouse: usage lines inserted as the usage import records them, priced into FOCUS
rows that charges_validated reads like any imported file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ocb_pipelines.charges.attribution import rules_from
from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.periods.lifecycle import close_period
from ocb_pipelines.periods.reconcile import reconcile
from ocb_pipelines.pricing.engine import PricingRefused, months_affected, price_month, pricing_inputs
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.pricing.pricing_helpers import (
    add_job,
    add_storage,
    focus,
    priced_settings,
    usage_import,
    write_csv,
)

MONTH = "2026-03"
RATE_CHANGE = [
    "hpc,*,billing-hour,0.02,0.01,2026-01-01,2026-03-14,,,",
    "hpc,*,billing-hour,0.03,0.02,2026-03-15,,,,",
]


@pytest.fixture
def con(workdir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with wh.connect(workdir / "data" / "warehouse.duckdb") as connection:
        yield connection


def job(con, key, line, end, hours="10", billing="1", month=MONTH, **kw) -> None:
    """A job with billing TRES ending at `end` (UTC) that ran `hours`."""
    add_job(con, key, month, line, start=kw.pop("start", f"{end[:10]} 00:00:00"), end=end, hours=hours,
            billing=billing, **kw)


def billed(con, month=MONTH, **where) -> dict[int, Decimal]:
    rows = focus(con, month, 'file_row_number, "BilledCost"', "file_name = 'jobs.txt'")
    return {r["file_row_number"]: Decimal(r["BilledCost"]) for r in rows}


def test_rate_change_mid_month_prices_each_job_at_its_end_date(settings: OcbSettings, tmp_path: Path, con) -> None:
    priced = priced_settings(settings, tmp_path, rates=RATE_CHANGE)
    key = usage_import(con, MONTH)
    job(con, key, 2, "2026-03-14 23:59:59", billing="16")  # the last day of the old rate (valid_to inclusive)
    job(con, key, 3, "2026-03-15 00:00:01", billing="16")
    summary = price_month(con, priced, MONTH)
    rows = focus(con, MONTH, '"ListUnitPrice", "ContractedUnitPrice", "BilledCost", "ListCost", x_columns')
    assert [(r["ListUnitPrice"], r["ContractedUnitPrice"], r["BilledCost"], r["ListCost"]) for r in rows] == [
        ("0.02", "0.01", "1.6", "3.2"), ("0.03", "0.02", "3.2", "4.8")]
    assert [json.loads(r["x_columns"])["x_ocb_rate_lines"] for r in rows] == [[2], [3]]
    assert (summary.priced_rows, summary.billed_total, summary.list_total) == (2, Decimal("4.8"), Decimal(8))
    assert summary.subsidy_total == 0 and not summary.unchanged  # the rates' discount is list - billed; no rules


def test_a_job_crossing_a_tier_boundary_is_split_between_tiers(settings: OcbSettings, tmp_path: Path, con) -> None:
    priced = priced_settings(settings, tmp_path, rates=[
        "hpc,*,billing-hour,0.02,0.02,2026-01-01,,0,100,",
        "hpc,*,billing-hour,0.02,0.01,2026-01-01,,100,,",
    ])
    key = usage_import(con, MONTH)
    job(con, key, 2, "2026-03-05 10:00:00", hours="80")  # later in the file, but it ended first: tier 1 entirely
    job(con, key, 3, "2026-03-09 10:00:00", hours="60")  # 20 units left in tier 1, 40 in tier 2
    job(con, key, 4, "2026-03-02 10:00:00", hours="1", account="chem")  # another project counts its own tiers
    price_month(con, priced, MONTH)
    rows = {r["file_row_number"]: r for r in focus(con, MONTH)}
    assert (rows[2]["BilledCost"], rows[2]["ListUnitPrice"]) == ("1.6", "0.02")
    split = rows[3]
    assert (split["BilledCost"], split["ListCost"], split["PricingQuantity"]) == ("0.8", "1.2", "60")
    assert split["ListUnitPrice"] is None and split["PricingUnit"] == "billing-hour"  # two prices: see the parts
    parts = json.loads(split["x_columns"])["x_ocb_tiers"]
    assert [(p["quantity"], p["tier_from"], p["tier_to"], p["line"], p["billed_cost"]) for p in parts] == [
        ("20", "0", "100", 2, "0.4"), ("40", "100", None, 3, "0.4")]
    assert rows[4]["BilledCost"] == "0.02"


def test_group_price_and_service_line_before_star(settings: OcbSettings, tmp_path: Path, con) -> None:
    priced = priced_settings(settings, tmp_path, rates=[
        "hpc,*,billing-hour,0.05,0.01,2026-01-01,,,,",
        "hpc,*,billing-hour,0.05,0.05,2026-01-01,,,,external",
        "hpc,gpu,billing-hour,0.50,0.40,2026-01-01,,,,",
    ])
    key = usage_import(con, MONTH)
    job(con, key, 2, "2026-03-05 10:00:00", account="astro")
    job(con, key, 3, "2026-03-05 10:00:00", account="bio")  # group external
    job(con, key, 4, "2026-03-05 10:00:00", account="astro", partition="gpu")
    job(con, key, 5, "2026-03-05 10:00:00", account="ASTRO")  # accounts match ignoring case
    price_month(con, priced, MONTH)
    assert billed(con) == {2: Decimal("0.1"), 3: Decimal("0.5"), 4: Decimal(4), 5: Decimal("0.1")}
    x = {r["file_row_number"]: json.loads(r["x_columns"]) for r in focus(con, MONTH)}
    assert (x[3]["x_ocb_group"], x[3]["x_ocb_rate_lines"], x[4]["x_ocb_rate_lines"]) == ("external", [3], [4])


def test_without_billing_tres_cpu_gpu_and_memory_hours_make_one_row(settings: OcbSettings, tmp_path: Path,
                                                                   con) -> None:
    priced = priced_settings(settings, tmp_path, rates=[
        "hpc,*,cpu-hour,0.01,0.01,2026-01-01,,,,", "hpc,*,gpu-hour,1,0.5,2026-01-01,,,,",
        "hpc,*,mem-gb-hour,0.001,0.0005,2026-01-01,,,,",
    ])
    key = usage_import(con, MONTH)
    add_job(con, key, MONTH, 2, start="2026-03-01 00:00:00", end="2026-03-01 02:30:00", hours="2.5", cpus="8",
            gpus="2", mem_gb="64")
    add_job(con, key, MONTH, 3, start="2026-03-01 00:00:00", end="2026-03-01 01:00:00", hours="1", cpus="4")
    price_month(con, priced, MONTH)
    both = focus(con, MONTH)
    assert len(both) == 2  # one charge per job line
    many, cpu_only = both
    # 20 cpu-hours * 0.01 + 5 gpu-hours * 0.5 + 160 GB-hours * 0.0005
    assert (many["PricingUnit"], many["PricingQuantity"], many["BilledCost"], many["ListCost"]) == (
        "job", "1", "2.78", "5.36")
    assert [p["unit"] for p in json.loads(many["x_columns"])["x_ocb_tiers"]] == ["cpu-hour", "gpu-hour", "mem-gb-hour"]
    assert (cpu_only["PricingUnit"], cpu_only["PricingQuantity"], cpu_only["BilledCost"]) == ("cpu-hour", "4", "0.04")


def test_storage_is_the_average_of_daily_peaks_over_the_days_reported(settings: OcbSettings, tmp_path: Path,
                                                                        con) -> None:
    priced = priced_settings(settings, tmp_path, rates=["store,*,TB-month,10,4,2026-01-01,,,,"])
    key = usage_import(con, MONTH, source="store", file_name="usage.csv", version="storage-usage")
    add_storage(con, key, MONTH, 2, "/proj/astro-survey", "2026-03-01", "1.5")
    add_storage(con, key, MONTH, 3, "/proj/astro-survey", "2026-03-01", "2")  # the day's peak counts
    add_storage(con, key, MONTH, 4, "/proj/astro-survey", "2026-03-03", "1")  # 2 March not reported: a gap
    add_storage(con, key, MONTH, 5, "/scratch/mystery", "2026-03-03", "3")
    price_month(con, priced, MONTH)
    astro, mystery = focus(con, MONTH)
    assert (astro["file_row_number"], astro["PricingQuantity"], astro["BilledCost"], astro["ListCost"]) == (
        2, "1.5", "6", "15")
    assert astro["ChargeDescription"] == "Storage astro-survey: average of daily peaks, 2 of 31 days reported"
    assert json.loads(astro["Tags"])["project_id"] == "astro-survey"
    assert json.loads(astro["x_columns"])["x_ocb_lines"] == [2, 3, 4]
    assert (mystery["Tags"], mystery["ResourceName"], mystery["BilledCost"]) == (None, "mystery", "12")


def test_a_job_spanning_months_keeps_its_start(settings: OcbSettings, tmp_path: Path, con) -> None:
    priced = priced_settings(settings, tmp_path, rates=RATE_CHANGE)
    key = usage_import(con, MONTH)
    job(con, key, 2, "2026-03-01 05:30:00", start="2026-02-28 17:30:00", hours="12")
    price_month(con, priced, MONTH)
    (row,) = focus(con, MONTH)
    assert (row["ChargePeriodStart"], row["ChargePeriodEnd"]) == ("2026-02-28T17:30:00Z", "2026-03-01T05:30:00Z")
    assert (row["BillingPeriodStart"], row["BillingPeriodEnd"]) == ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")


def test_missing_rate_is_refused_with_its_words_and_nothing_written(settings: OcbSettings, tmp_path: Path,
                                                                     con) -> None:
    priced = priced_settings(settings, tmp_path, rates=["hpc,cpu,billing-hour,0.02,0.01,2026-03-10,,,,"])
    key = usage_import(con, MONTH)
    job(con, key, 2, "2026-03-12 10:00:00", partition="cpu")
    job(con, key, 3, "2026-03-12 10:00:00", partition="gpu", account="bio")
    job(con, key, 4, "2026-03-05 10:00:00", partition="cpu")  # before the rate starts
    with pytest.raises(PricingRefused) as refused:
        price_month(con, priced, MONTH)
    message = str(refused.value)
    assert ("jobs.txt line 3: no rate in rates.csv for source 'hpc', service 'gpu', unit 'billing-hour', "
            "group 'external' on 2026-03-12") in message
    assert "jobs.txt line 4: no rate in rates.csv for source 'hpc', service 'cpu', unit 'billing-hour', " \
           "group '(default)' on 2026-03-05" in message
    assert "nothing was written" in message
    assert con.execute("SELECT count(*) FROM focus_rows").fetchall()[0][0] == 0
    assert con.execute("SELECT count(*) FROM pricing_runs").fetchall()[0][0] == 0


def test_unchanged_rerun_writes_nothing_and_a_change_reprices(settings: OcbSettings, tmp_path: Path, con) -> None:
    priced = priced_settings(settings, tmp_path, rates=RATE_CHANGE)
    key = usage_import(con, MONTH)
    job(con, key, 2, "2026-03-20 10:00:00", billing="16")
    assert months_affected(con, priced) == [{"month": MONTH, "status": "open", "reason": "it was never priced"}]
    first = price_month(con, priced, MONTH)
    assert months_affected(con, priced) == []
    events = con.execute("SELECT count(*) FROM audit_events").fetchall()[0][0]
    again = price_month(con, priced, MONTH)
    assert again.unchanged and (again.priced_rows, again.billed_total) == (first.priced_rows, first.billed_total)
    assert again.inputs_sha256 == first.inputs_sha256 == pricing_inputs(priced)[0]
    assert con.execute("SELECT count(*) FROM pricing_runs").fetchall()[0][0] == 1
    assert con.execute("SELECT count(*) FROM audit_events").fetchall()[0][0] == events

    write_csv(tmp_path / "rates.csv", "source,service_name,unit,list_unit_price,billed_unit_price,valid_from",
              ["hpc,*,billing-hour,0.05,0.05,2026-01-01"])
    assert months_affected(con, priced) == [
        {"month": MONTH, "status": "open", "reason": "the rates file (rates.csv)"}]
    repriced = price_month(con, priced, MONTH)
    assert not repriced.unchanged and repriced.billed_total == Decimal(8)
    assert billed(con) == {2: Decimal(8)}  # replaced, not added
    files = con.execute("SELECT billed_total, list_total FROM import_files WHERE file_name = 'jobs.txt'").fetchall()
    assert files == [(Decimal(8), Decimal(8))]

    job(con, usage_import(con, MONTH, file_name="more.txt"), 2, "2026-03-21 10:00:00")
    assert months_affected(con, priced)[0]["reason"] == "its usage imports (a usage file was imported since)"


def test_closed_month_is_never_repriced(settings: OcbSettings, tmp_path: Path, con) -> None:
    priced = priced_settings(settings, tmp_path, rates=RATE_CHANGE)
    key = usage_import(con, MONTH)
    job(con, key, 2, "2026-03-20 10:00:00", billing="16")
    price_month(con, priced, MONTH)
    build_validated(con, MONTH, rules_from(priced))
    close_period(con, MONTH, "test")
    assert price_month(con, priced, MONTH).unchanged  # the same inputs: a no-op, allowed
    write_csv(tmp_path / "rates.csv", "source,service_name,unit,list_unit_price,billed_unit_price,valid_from",
              ["hpc,*,billing-hour,0.05,0.05,2026-01-01"])
    assert months_affected(con, priced) == [
        {"month": MONTH, "status": "closed", "reason": "the rates file (rates.csv)"}]
    with pytest.raises(PricingRefused) as refused:
        price_month(con, priced, MONTH)
    assert str(refused.value) == (
        "billing month 2026-03 is closed, so pricing it again is refused: the rates file (rates.csv) changed since. "
        "Reopen it (`ocb periods reopen 2026-03 --reason \"...\"`) and price it again, or book the difference in an "
        "open month.")
    assert billed(con) == {2: Decimal("3.2")}
    con.execute("UPDATE billing_periods SET status = 'finalized' WHERE period = ?", [MONTH])
    with pytest.raises(PricingRefused, match="is finalized, so pricing it again is refused: the rates file"):
        price_month(con, priced, MONTH)


def test_priced_month_validates_into_attributed_charges(settings: OcbSettings, tmp_path: Path, con) -> None:
    priced = priced_settings(settings, tmp_path, rates=RATE_CHANGE)
    key = usage_import(con, MONTH)
    job(con, key, 2, "2026-03-20 10:00:00", account="astro")
    job(con, key, 3, "2026-03-20 11:00:00", account="ghost")  # in no accounts file line
    price_month(con, priced, MONTH)
    summary = build_validated(con, MONTH, rules_from(priced))
    assert (summary.rows, summary.flagged_rows, summary.billed_total) == (2, 1, Decimal("0.4"))
    lines = {r[0]: r[1:] for r in con.execute(
        "SELECT file_row_number, pi_email, project_id, fund_org, review_reasons, source, file_name "
        "FROM validated_lines ORDER BY 1").fetchall()}
    assert lines[2] == ("ada@example.edu", "astro-survey", "ASTR-100100", [], "hpc", "jobs.txt")
    assert lines[3][:3] == (None, None, None)
    assert {"missing_pi_email", "missing_project", "missing_fund_org"} <= set(lines[3][3])
    figures = reconcile(con, MONTH)
    assert figures.recorded_billed == figures.imported_billed == Decimal("0.4")
    assert not figures.problems()  # the unmapped job waits in review, counted
    assert figures.pending_billed == Decimal("0.2")


def test_nothing_to_price_opens_no_month(settings: OcbSettings, tmp_path: Path, con) -> None:
    summary = price_month(con, priced_settings(settings, tmp_path, rates=RATE_CHANGE), MONTH)
    assert summary.unchanged and summary.priced_rows == 0
    assert wh.period_status(con, MONTH) is None


def test_two_clusters_and_a_storage_report_imported_then_priced(settings: OcbSettings, tmp_path: Path, con) -> None:
    """Through the real usage import: sacct files of two clusters (New York and Los Angeles time) and a storage
    report in bytes, priced into one month."""
    from ocb_pipelines.ingest import usage

    priced = priced_settings(settings, tmp_path, rates=[
        "hpc,*,billing-hour,0.02,0.01,2026-01-01,,,,", "cryo,*,cpu-hour,0.04,0.03,2026-01-01,,,,",
        "cryo,*,mem-gb-hour,0,0,2026-01-01,,,,", "store,*,TB-month,20,10,2026-01-01,,,,"])
    header = "JobID|JobName|User|Account|Partition|Cluster|Start|End|ElapsedRaw|AllocTRES|State"
    hpc = write_csv(tmp_path / "hpc-2026-03.txt", header, [
        "7|a|u|astro|gpu|hpc|2026-03-10T08:00:00|2026-03-10T10:00:00|7200|billing=16,cpu=8,mem=8G|COMPLETED",
        "7.batch|batch|u|astro|||2026-03-10T08:00:00|2026-03-10T10:00:00|7200|cpu=8|COMPLETED"])
    cryo = write_csv(tmp_path / "cryo-2026-03.txt", header, [
        "7|b|u|chem|cpu|cryo|2026-03-31T15:00:00|2026-03-31T16:30:00|5400|cpu=4,mem=2G|COMPLETED",
        "8|c|u|chem|cpu|cryo|2026-03-31T16:00:00|2026-03-31T17:30:00|5400|cpu=4,mem=2G|COMPLETED"])
    store = write_csv(tmp_path / "store-2026-03.csv", "date,path_or_project,bytes",
                      ["2026-03-01,/proj/bio-lab,2500000000000", "2026-03-02,/proj/bio-lab,1500000000000"])
    for path, source, zone in ((hpc, "hpc", "America/New_York"), (cryo, "cryo", "America/Los_Angeles"),
                               (store, "store", "UTC")):
        usage.import_usage(con, path, usage.usage_kind(path), months=[MONTH], source=source, timezone=zone)
    price_month(con, priced, MONTH)
    rows = {(r["source"], r["file_row_number"]): r for r in focus(con, MONTH)}
    assert set(rows) == {("cryo", 1), ("hpc", 1), ("store", 1)}  # the step line is not a job
    assert (rows["hpc", 1]["ChargePeriodEnd"], rows["hpc", 1]["BilledCost"]) == ("2026-03-10T14:00:00Z", "0.32")
    # 16:30 in Los Angeles on 31 March is 23:30 UTC; job 8's 17:30 is 00:30 UTC on 1 April: April's, not priced here
    assert rows["cryo", 1]["ChargePeriodEnd"] == "2026-03-31T23:30:00Z"
    assert (rows["cryo", 1]["PricingUnit"], rows["cryo", 1]["BilledCost"]) == ("job", "0.18")  # 6 cpu-hours
    assert (rows["store", 1]["PricingQuantity"], rows["store", 1]["BilledCost"]) == ("2", "20")
    summary = build_validated(con, MONTH, rules_from(priced))
    assert (summary.rows, summary.flagged_rows, summary.billed_total) == (3, 0, Decimal("20.5"))
    assert not reconcile(con, MONTH).problems()


def test_a_job_in_two_overlapping_exports_is_billed_once(settings: OcbSettings, tmp_path: Path, con) -> None:
    """sacct without --state lists a job that ran across the 1st in both months' exports; both go to the month it
    ended. Same source, cluster and JobID: one job, billed from the file whose name sorts first."""
    priced = priced_settings(settings, tmp_path, rates=RATE_CHANGE)
    march = usage_import(con, MONTH, file_name="hpc_2026-03.sacct")
    april = usage_import(con, MONTH, file_name="hpc_2026-02.sacct")  # sorts first
    job(con, march, 2, "2026-03-20 10:00:00", billing="16", job_id="77")
    job(con, march, 3, "2026-03-21 10:00:00", billing="16", job_id="78")
    job(con, april, 5, "2026-03-20 10:00:00", billing="16", job_id="77")
    summary = price_month(con, priced, MONTH)
    rows = focus(con, MONTH, 'file_name, file_row_number, "BilledCost"')
    assert [(r["file_name"], r["file_row_number"]) for r in rows] == [
        ("hpc_2026-02.sacct", 5), ("hpc_2026-03.sacct", 3)]
    assert (summary.priced_rows, summary.duplicate_jobs) == (2, 1)
