"""`ocb ingest` of late data for a closed month: real Dagster runs, the booked month validated and in review."""

import json
from decimal import Decimal

import dagster as dg

from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.cli.test_ingest_cli import _invoke
from ocb_pipelines_tests.conftest import focus_row, write_focus


def _ok(workdir, monkeypatch, *args):
    result = _invoke(workdir, *args, "--json", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _assert_late_figures(entry: dict, *, rows: int, billed: int, flagged: tuple[int, int], adjusted: int) -> None:
    assert (entry["rows"], Decimal(entry["billed_total"])) == (rows, billed), entry
    assert (entry["flagged_rows"], Decimal(entry["flagged_billed"])) == flagged, entry
    (adjustment,) = entry["adjustments"]
    assert (adjustment["month"], adjustment["booked_month"], Decimal(adjustment["billed"])) == (
        "2025-01", "2025-02", adjusted), entry


def test_a_corrected_file_for_a_closed_month_is_booked_in_the_next_open_month(workdir, monkeypatch):
    path = workdir / "aws_2025-01.csv"
    write_focus(path, [focus_row(billed="10", ResourceId="i-1"), focus_row(billed="5", ResourceId="i-2")])
    _ok(workdir, monkeypatch, "ingest", str(path))
    assert _ok(workdir, monkeypatch, "periods", "close", "2025-01")["status"] == "closed"

    write_focus(path, [focus_row(billed="12", ResourceId="i-1"), focus_row(billed="5", ResourceId="i-2")])
    summary = _ok(workdir, monkeypatch, "ingest", str(path))
    (entry,) = summary["files"]
    assert entry["status"] == ["late"] and summary["ok"]
    assert any("booked in 2025-02" in note for note in entry["notes"]), entry["notes"]
    # The file is reported as it is (its late version), and what awaits review is its adjustment line: not what
    # January billed when it closed (15), nor January's own flags.
    _assert_late_figures(entry, rows=2, billed=17, flagged=(1, 2), adjusted=2)
    assert [r["period"] for r in summary["runs"]] == ["2025-01", "2025-02"] and all(r["success"]
                                                                                   for r in summary["runs"])
    (pending,) = _ok(workdir, monkeypatch, "review", "list", "-p", "2025-02")["charges"]
    assert pending["billed_cost"] == "2.000000000000" and "late_for_closed_month" in pending["review_reasons"]
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
        assert con.execute("SELECT status FROM billing_periods ORDER BY period").fetchall() == [("closed",),
                                                                                               ("open",)]
        assert con.execute("SELECT sum(billed_cost) FROM charges_validated WHERE billing_month = '2025-01'"
                           ).fetchall()[0][0] == 15  # January as it was billed
    with dg.DagsterInstance.from_config(str(workdir / "dh")) as instance:
        jobs = {(r.job_name, r.tags["dagster/partition"]) for r in instance.get_runs()}
        assert ("late_adjustments_job", "2025-02") in jobs
    # The same file again: nothing changes, nothing more is booked.
    again = _ok(workdir, monkeypatch, "ingest", str(path))
    assert again["files"][0]["status"] == ["unchanged"]
    _assert_late_figures(again["files"][0], rows=2, billed=17, flagged=(1, 2), adjusted=2)
    text = _invoke(workdir, "ingest", str(path), monkeypatch=monkeypatch).output
    assert "billed=$17.00  flagged=1 ($2.00)" in text and "adjustment lines in 2025-02" in text, text
    # The provider takes the correction back: the first version again withdraws the open month's adjustment.
    write_focus(path, [focus_row(billed="10", ResourceId="i-1"), focus_row(billed="5", ResourceId="i-2")])
    reverted = _ok(workdir, monkeypatch, "ingest", str(path))
    assert reverted["files"][0]["status"] == ["late"]
    _assert_late_figures(reverted["files"][0], rows=2, billed=15, flagged=(0, 0), adjusted=0)
    assert _ok(workdir, monkeypatch, "review", "list", "-p", "2025-02")["charges"] == []


def test_a_late_sacct_file_for_a_closed_month_is_priced_and_booked_through_ocb_ingest(workdir, monkeypatch):
    from ocb_pipelines_tests.ingest.test_late_usage import HEADER, JOB_105
    from ocb_pipelines_tests.ingest.test_usage_import import _write

    _closed_april_of_job_100(workdir, monkeypatch)

    late = _write(workdir / "hpc_late_2026-04.txt", HEADER, [JOB_105])
    summary = _ok(workdir, monkeypatch, "ingest", str(late))
    (entry,) = summary["files"]
    assert entry["status"] == ["late"] and summary["ok"], summary
    assert [(r["period"], r["success"]) for r in summary["runs"]] == [("2026-04", True), ("2026-05", True)]
    assert any("booked in 2026-05" in note for note in entry["notes"]), entry["notes"]
    (pending,) = _ok(workdir, monkeypatch, "review", "list", "-p", "2026-05")["charges"]
    assert Decimal(pending["billed_cost"]) == Decimal("7.04") and "late_for_closed_month" in pending["review_reasons"]
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
        assert con.execute("SELECT sum(billed_cost) FROM charges_validated WHERE billing_month = '2026-04'"
                           ).fetchall()[0][0] == Decimal("7.04")  # April as it was billed


def test_a_late_sacct_file_that_bills_nothing_more_is_unchanged_when_ingested_again(workdir, monkeypatch):
    """A late version that changes no amount (a job renamed) is kept as late usage with no adjustment to review;
    the same file again is reported unchanged and starts no run at all."""
    from ocb_pipelines_tests.ingest.test_late_usage import HEADER, JOB_100
    from ocb_pipelines_tests.ingest.test_usage_import import _write

    jobs = _closed_april_of_job_100(workdir, monkeypatch)

    _write(jobs, HEADER, [JOB_100.replace("|train|", "|train-v2|", 1)])  # renamed: no charge changes
    summary = _ok(workdir, monkeypatch, "ingest", str(jobs))
    (entry,) = summary["files"]
    assert entry["status"] == ["late"] and entry["adjustments"][0]["lines"] == 0, summary
    assert _ok(workdir, monkeypatch, "review", "list", "-p", "2026-05")["charges"] == []
    again = _ok(workdir, monkeypatch, "ingest", str(jobs))
    assert again["files"][0]["status"] == ["unchanged"] and again["runs"] == [], again


def _closed_april_of_job_100(workdir, monkeypatch):
    """hpc's April imported with job 100 alone (88 billing-hours at flat rates: 7.04) and closed; its file."""
    from ocb_pipelines_tests.ingest.test_late_usage import HEADER, JOB_100
    from ocb_pipelines_tests.ingest.test_usage_import import _config, _write

    config = _config(workdir)  # hpc on New York time, flat rates: a billing-hour bills 0.08
    config.write_text(config.read_text() + "  accounts_file: accounts.csv\n")
    (workdir / "accounts.csv").write_text("account,pi_email,project_id,fund_org\n"
                                          "physics,ada@example.edu,phys-sim,PHYS-100100\n")
    jobs = _write(workdir / "hpc_2026-04.txt", HEADER, [JOB_100])
    _ok(workdir, monkeypatch, "ingest", str(jobs))
    assert _ok(workdir, monkeypatch, "periods", "close", "2026-04")["status"] == "closed"
    return jobs
