"""Late usage (a Slurm file for a closed month): the month priced again with it, tiers included, and the
difference of every priced file booked in the next open month; refused, writing nothing, when the month's pricing
would change by itself. Real DuckDB, the real import and pricing; closing as the period lifecycle does."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ocb_pipelines.charges.attribution import rules_from
from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.ingest.importer import ImportRefused, import_file
from ocb_pipelines.ingest.legacy_layout import SourceDefaults
from ocb_pipelines.periods.lifecycle import close_period, reopen_period
from ocb_pipelines.pricing.engine import price_month
from ocb_pipelines.pricing.late_usage import MonthRepricing
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.pricing.pricing_helpers import RATES_HEADER, priced_settings, write_csv

APRIL, MAY = "2026-04", "2026-05"
HEADER = "JobID|JobName|User|Account|Partition|Cluster|Start|End|ElapsedRaw|AllocTRES|State"
# 5.5 hours at billing=16: 88 billing-hours each (hpc's clock is New York's: both end in April in UTC too).
JOB_100 = "100|train|ada|physics|gpu|hpc|2026-04-10T08:00:00|2026-04-10T13:30:00|19800|billing=16,cpu=8|COMPLETED"
JOB_105 = "105|late|ada|physics|gpu|hpc|2026-04-05T08:00:00|2026-04-05T13:30:00|19800|billing=16,cpu=8|COMPLETED"
TIERS = ["hpc,*,billing-hour,0.10,0.08,2026-01-01,,0,100,",  # the first 100 a project uses in a month
         "hpc,*,billing-hour,0.10,0.05,2026-01-01,,100,,"]
ACCOUNTS = ["physics,ada@example.edu,phys-sim,PHYS-100100,"]
BILLED = wh.money_from_text('"BilledCost"')


@pytest.fixture
def closed_april(settings, tmp_path: Path):
    """April priced with job 100 alone (88 billing-hours, all in the first tier: 7.04), validated and closed."""
    priced = priced_settings(settings, tmp_path, rates=TIERS, accounts=ACCOUNTS)
    jobs = write_csv(tmp_path / "hpc_2026-04.txt", HEADER, [JOB_100])
    with wh.connect(priced.warehouse_path) as con:
        (result,) = _import(con, jobs, priced)
        assert result.status == "imported"
        price_month(con, priced, APRIL)
        build_validated(con, APRIL, rules_from(priced))
        close_period(con, APRIL, "sent")
        assert _april_billed(con) == Decimal("7.04")
    return priced, tmp_path


def _import(con, path: Path, settings, month: str = APRIL):
    return import_file(con, path, months=[month], source="hpc", defaults=SourceDefaults.of(settings, "hpc"),
                       late_usage=MonthRepricing(settings))


def _april_billed(con) -> Decimal:
    return con.execute(f"SELECT sum({BILLED}) FROM focus_rows WHERE billing_month = ?", [APRIL]).fetchall()[0][0]


def _adjustments(con) -> list[tuple]:
    return con.execute("SELECT origin_file, kind, billed_delta FROM adjustment_lines WHERE origin_month = ? "
                       "ORDER BY origin_file", [APRIL]).fetchall()


def test_a_late_job_is_priced_with_the_months_tiers_and_each_files_difference_booked(closed_april):
    settings, folder = closed_april
    late = write_csv(folder / "hpc_late_2026-04.txt", HEADER, [JOB_105])  # it ended first: the first tier is its
    with wh.connect(settings.warehouse_path) as con:
        (result,) = _import(con, late, settings)
        assert (result.status, result.rows, result.booked_month) == ("late", 1, MAY)
        assert result.billed_total == Decimal("7.04") and "2 adjustment line(s), 4.76 billed in all" in result.message
        # Job 105 takes the first tier (88 x 0.08); job 100 keeps 12 of it and pays 0.05 for 76: 4.76, 2.28 less.
        assert _adjustments(con) == [("hpc_2026-04.txt", "changed", Decimal("-2.28")),
                                     ("hpc_late_2026-04.txt", "new", Decimal("7.04"))]
        assert _april_billed(con) == Decimal("7.04")  # April itself does not change
        # What April billed and its adjustments together are what April would bill with both jobs in it.
        assert Decimal("7.04") + sum(delta for *_, delta in _adjustments(con)) == Decimal("11.80")
        kept = con.execute("SELECT job_id, file_name FROM late_usage_rows WHERE billing_month = ?", [APRIL]).fetchall()
        assert kept == [("105", "hpc_late_2026-04.txt")]

        # The same file again changes nothing.
        (again,) = _import(con, late, settings)
        assert again.status == "unchanged" and len(_adjustments(con)) == 2
        # A corrected late file (job 105 ran half as long) replaces the adjustments May holds for it while open.
        write_csv(late, HEADER, [JOB_105.replace("13:30:00|19800", "10:45:00|9900")])
        (corrected,) = _import(con, late, settings)
        assert corrected.status == "late"
        # Job 105: 44 x 0.08 = 3.52; job 100: 56 x 0.08 + 32 x 0.05 = 6.08, 0.96 less than April billed.
        assert _adjustments(con) == [("hpc_2026-04.txt", "changed", Decimal("-0.96")),
                                     ("hpc_late_2026-04.txt", "new", Decimal("3.52"))]
        # Reopened, April refuses the file itself: its rows there would bill May's adjustments a second time.
        reopen_period(con, APRIL, "root", "a PI asked for the statement again")
        with pytest.raises(ImportRefused, match="would bill those differences twice"):
            _import(con, late, settings)


def test_a_month_whose_pricing_changed_by_itself_refuses_late_usage_and_keeps_nothing(closed_april):
    settings, folder = closed_april
    write_csv(folder / "rates.csv", RATES_HEADER, ["hpc,*,billing-hour,0.10,0.09,2026-01-01,,,,"])
    late = write_csv(folder / "hpc_late_2026-04.txt", HEADER, [JOB_105])
    with wh.connect(settings.warehouse_path) as con:
        with pytest.raises(ImportRefused, match="would change its charges even without this file") as refused:
            _import(con, late, settings)
        assert "Put back what 2026-04 was priced with" in str(refused.value)
        assert _adjustments(con) == []
        assert con.execute("SELECT count(*) FROM late_usage_rows").fetchall() == [(0,)]
        assert _april_billed(con) == Decimal("7.04")


def test_a_job_without_a_rate_refuses_the_late_file_in_pricings_words(closed_april):
    settings, folder = closed_april
    # No billing TRES: CPU, GPU and memory hours, for which the rates have no line.
    late = write_csv(folder / "hpc_late_2026-04.txt", HEADER, [JOB_105.replace("billing=16,cpu=8", "cpu=8,gres/gpu=1")])
    with wh.connect(settings.warehouse_path) as con:
        with pytest.raises(ImportRefused, match="cannot be priced with this file's usage"):
            _import(con, late, settings)
        assert _adjustments(con) == [] and _april_billed(con) == Decimal("7.04")


def test_late_usage_that_would_spend_more_of_a_credit_is_refused(settings, tmp_path: Path):
    """The months after a closed one were priced counting on what it used of a credit: that is not changed."""
    priced = priced_settings(settings, tmp_path, rates=TIERS, accounts=ACCOUNTS, subsidies=[
        {"id": "new-faculty", "kind": "credit", "amount": "20", "pi_email": "ada@example.edu"}])
    with wh.connect(priced.warehouse_path) as con:
        _import(con, write_csv(tmp_path / "hpc_2026-04.txt", HEADER, [JOB_100]), priced)
        price_month(con, priced, APRIL)
        build_validated(con, APRIL, rules_from(priced))
        close_period(con, APRIL, "sent")
        assert _april_billed(con) == 0  # 7.04, all of it credited
        late = write_csv(tmp_path / "hpc_late_2026-04.txt", HEADER, [JOB_105])
        with pytest.raises(ImportRefused, match="changes what billing month 2026-04 \\(closed\\) used of a credit"):
            _import(con, late, priced)
        assert _adjustments(con) == [] and con.execute("SELECT count(*) FROM late_usage_rows").fetchall() == [(0,)]


def test_a_corrected_storage_report_for_a_closed_month_books_its_difference(settings, tmp_path: Path):
    """A storage report is priced as the month's average of daily peaks: the corrected report's average, less
    what was booked, is the adjustment."""
    priced = priced_settings(settings, tmp_path, rates=["storage,*,TB-month,5.00,4.00,2026-01-01,,,,"],
                             accounts=ACCOUNTS)
    report = write_csv(tmp_path / "storage_2026-04.csv", "date,path_or_project,TB",
                       ["2026-04-01,/proj/physics,1", "2026-04-02,/proj/physics,1"])
    with wh.connect(priced.warehouse_path) as con:
        def storage(path):
            return import_file(con, path, months=[APRIL], source="storage",
                               defaults=SourceDefaults.of(priced, "storage"), late_usage=MonthRepricing(priced))

        assert [r.status for r in storage(report)] == ["imported"]
        price_month(con, priced, APRIL)
        build_validated(con, APRIL, rules_from(priced))
        close_period(con, APRIL, "sent")
        assert _april_billed(con) == Decimal("4")  # 1 TB-month at 4.00
        write_csv(report, "date,path_or_project,TB", ["2026-04-01,/proj/physics,1", "2026-04-02,/proj/physics,3"])
        (late,) = storage(report)
        assert (late.status, late.booked_month, late.billed_total) == ("late", MAY, Decimal("8"))  # 2 TB-months
        assert _adjustments(con) == [("storage_2026-04.csv", "changed", Decimal("4"))]
