"""Statements of a project with a funding split: the split's funds, their percent and exact amounts, on the PDF and
in statement_fund_shares; a changed split re-renders; a charge whose fund a reviewer corrected keeps that fund."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.core.pricing_config import FundingSettings
from ocb_pipelines.periods.lifecycle import close_period
from ocb_pipelines.pricing.shares import split_exactly
from ocb_pipelines.review.approve import build_approved
from ocb_pipelines.review.decisions import Decision, record_decisions
from ocb_pipelines.review.fixtures import charge_row
from ocb_pipelines.statements.generate import generate_statements
from ocb_pipelines.statements.lines import approved_totals, load_statements, month_approved_total
from ocb_pipelines.statements.schemas import StatementGateError, gate_statements
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH, load_month

D = Decimal
HEADER = "project_id,fund_org,percent,valid_from\n"
THIRDS = ("proj-a,ABC-111111,33.33,2025-01-01\nproj-a,DEF-222222,33.33,2025-01-01\n"
          "proj-a,GHI-333333,33.34,2025-01-01\n")
HALVES = "proj-a,ABC-111111,50,2025-01-01\nproj-a,DEF-222222,50,2025-01-01\n"


def rows() -> list[dict[str, str]]:
    """proj-a: 100.01 billed (110.01 list) on two tag funds, a credit among them; proj-b: 40.00 on one fund."""
    return [
        charge_row(MONTH, resource="vm-a", billed="90.00", ListCost="100.00"),
        charge_row(MONTH, resource="bucket", billed="15.01", fund_org="XYZ-654321"),
        charge_row(MONTH, resource="vm-a", billed="-5.00", ChargeCategory="Credit"),
        charge_row(MONTH, resource="hpc-1", billed="40.00", pi_email="pi.two@example.edu", project_id="proj-b"),
    ]


def with_splits(settings: OcbSettings, text: str) -> OcbSettings:
    path = settings.config_path.parent / "splits.csv"
    path.write_text(HEADER + text, encoding="utf-8")
    return settings.model_copy(update={"funding": FundingSettings(splits_file=path)})


def _statements(settings: OcbSettings, splits=None):
    with wh.connect(settings.warehouse_path) as con:
        statements = load_statements(con, MONTH, splits=splits)
        problems = gate_statements(statements, approved_totals(con, MONTH), month_approved_total(con, MONTH))
    assert problems == []
    return {s.project_id: s for s in statements}


def _funds(statement) -> list[tuple]:
    return [(f.fund_org, f.billed_total, f.percent, f.lines) for f in statement.funds]


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def test_a_split_replaces_the_tag_funds_with_exact_shares_of_the_total(settings):
    load_month(settings, rows())
    thirds = [("ABC-111111", D("33.33")), ("DEF-222222", D("33.33")), ("GHI-333333", D("33.34"))]
    plain = _statements(settings)
    split = _statements(settings, {"proj-a": thirds})
    a = split["proj-a"]
    assert a.billed_total == D("100.01") and a.funds_total == D("100.01")
    # 100.01 by 33.33 / 33.33 / 33.34: 33.33, 33.33 and 33.35 (the cent left has the largest remainder)
    assert _funds(a) == [("GHI-333333", D("33.35"), D("33.34"), 3), ("ABC-111111", D("33.33"), D("33.33"), 3),
                         ("DEF-222222", D("33.33"), D("33.33"), 3)]
    assert sum(f.billed_total for f in a.funds) == a.billed_total
    assert [f.list_total for f in a.funds] == [D("36.68"), D("36.67"), D("36.66")]  # 110.01 split the same way
    assert sum(f.list_total for f in a.funds) == a.list_total == D("110.01")
    assert _funds(plain["proj-a"]) == [("ABC-123456", D("85.00"), D("84.99"), 2),
                                       ("XYZ-654321", D("15.01"), D("15.01"), 1)]
    # the split is part of the statement's content; a project without one hashes as before
    assert a.content_sha256 != plain["proj-a"].content_sha256
    assert split["proj-b"].content_sha256 == plain["proj-b"].content_sha256
    assert _funds(split["proj-b"]) == _funds(plain["proj-b"]) == [("ABC-123456", D("40.00"), D("100.00"), 1)]


def test_the_pdf_and_fund_shares_show_the_split_and_a_changed_split_renders_again(settings):
    load_month(settings, rows())
    thirds = with_splits(settings, THIRDS + "proj-c,ABC-111111,100,2025-01-01\n")
    with wh.connect(settings.warehouse_path) as con:
        first = {o.statement.project_id: o for o in generate_statements(con, thirds, MONTH, workers=1).outcomes}
        shares = con.execute("SELECT project_id, fund_org, share_percent, billed_total, list_total, line_count "
                             "FROM statement_fund_shares ORDER BY project_id, billed_total DESC, fund_org").fetchall()
    assert shares == [("proj-a", "GHI-333333", D("33.34"), D("33.35"), D("36.68"), 3),
                      ("proj-a", "ABC-111111", D("33.33"), D("33.33"), D("36.67"), 3),
                      ("proj-a", "DEF-222222", D("33.33"), D("33.33"), D("36.66"), 3),
                      ("proj-b", "ABC-123456", D("100.00"), D("40.00"), D("40.00"), 1)]
    text = _pdf_text(first["proj-a"].pdf_path)
    for expected in ("Fund shares", "GHI-333333 (33.34%)", "ABC-111111 (33.33%)", "DEF-222222 (33.33%)",
                     "$33.35", "$33.33", "$100.01"):
        assert expected in text, expected
    assert "ABC-123456" not in text and "XYZ-654321 (" not in text  # the tag funds are replaced by the split

    halves = with_splits(settings, HALVES)
    with wh.connect(settings.warehouse_path) as con:
        second = {o.statement.project_id: o for o in generate_statements(con, halves, MONTH, workers=1).outcomes}
        shares = con.execute("SELECT fund_org, share_percent, billed_total FROM statement_fund_shares "
                             "WHERE project_id = 'proj-a' ORDER BY fund_org").fetchall()
    assert (second["proj-a"].status, second["proj-b"].status) == ("rendered", "unchanged")
    assert second["proj-a"].statement.content_sha256 != first["proj-a"].statement.content_sha256
    assert shares == [("ABC-111111", D("50.00"), D("50.01")), ("DEF-222222", D("50.00"), D("50.00"))]  # tie: first
    text = _pdf_text(second["proj-a"].pdf_path)
    assert "ABC-111111 (50.00%)" in text and "$50.01" in text and "GHI-333333" not in text


def test_a_refused_splits_file_renders_nothing(settings):
    load_month(settings, rows())
    broken = with_splits(settings, "proj-a,ABC-111111,60,2025-01-01\nproj-a,DEF-222222,30,2025-01-01\n")
    with wh.connect(settings.warehouse_path) as con, pytest.raises(StatementGateError) as err:
        generate_statements(con, broken, MONTH, workers=1)
    assert "funding.splits_file refused" in str(err.value)
    assert "project proj-a's split from 2025-01-01 adds up to 90%, not 100%" in str(err.value)
    assert not list(settings.output.pdf_dir.rglob("*.pdf"))


def test_a_charge_whose_fund_a_reviewer_corrected_keeps_it_and_the_rest_is_split(settings):
    """Two flagged charges of proj-a: one without a fund, corrected to ZZZ-999999 (kept there); one without a
    project, corrected to proj-a only (its fund was not decided, so the split shares it)."""
    flagged = [charge_row(MONTH, resource="no-fund", billed="10.00", fund_org=None),
               charge_row(MONTH, resource="no-project", billed="4.00", project_id=None)]
    load_month(settings, [*rows(), *flagged], close=False)
    with wh.connect(settings.warehouse_path) as con:
        ids = dict(con.execute("SELECT resource_id, charge_id FROM charges_validated WHERE needs_review").fetchall())
        record_decisions(con, MONTH, [
            Decision(ids["no-fund"], "correct", "the lab's own grant", fund_org="ZZZ-999999"),
            Decision(ids["no-project"], "correct", "proj-a's bucket", project_id="proj-a"),
        ], actor="tester", via="test")
        build_approved(con, MONTH)
        close_period(con, MONTH, "tester")
    thirds = [("ABC-111111", D("33.33")), ("DEF-222222", D("33.33")), ("GHI-333333", D("33.34"))]
    a = _statements(settings, {"proj-a": thirds})["proj-a"]
    assert a.billed_total == D("114.01")
    shared = split_exactly(D("104.01"), [p for _, p in thirds])  # 100.01 + the 4.00 moved to proj-a
    assert shared == [D("34.67"), D("34.66"), D("34.68")]
    assert {f.fund_org: (f.billed_total, f.lines) for f in a.funds} == {
        "ABC-111111": (D("34.67"), 4), "DEF-222222": (D("34.66"), 4), "GHI-333333": (D("34.68"), 4),
        "ZZZ-999999": (D("10.00"), 1)}
    assert sum(f.billed_total for f in a.funds) == a.billed_total
    assert sum(f.percent for f in a.funds) == 100  # each fund's part of the statement, as without a split


def test_a_split_is_shared_line_by_line_as_the_journal_books_it(settings):
    """phys-sim: four grants (four journal lines) of 80.00 (list 100.00), 250.00, 16.00 and 32.00. Each fund gets
    the sum of its shares of each line, as the GL journal debits it (pricing.shares.allocate_split): 126.03 to
    ENGR-500600, not 126.02 (378.00 split once); the list price is allocated the same way."""
    rows = []
    for grant, billed, listed in (("G-1", "80.00", "100.00"), ("G-2", "250.00", "250.00"), ("G-3", "16.00", "16.00"),
                                  ("G-4", "32.00", "32.00")):
        row = charge_row(MONTH, resource=f"r-{grant}", billed=billed, ListCost=listed, project_id="phys-sim")
        row["Tags"] = json.dumps({**json.loads(row["Tags"]), "grant_number": grant})
        rows.append(row)
    load_month(settings, rows)
    split = [("ENGR-500600", D("33.34")), ("PHYS-300400", D("33.33")), ("PHYS-300401", D("33.33"))]
    sim = _statements(settings, {"phys-sim": split})["phys-sim"]
    assert _funds(sim) == [("ENGR-500600", D("126.03"), D("33.34"), 4), ("PHYS-300400", D("126.00"), D("33.33"), 4),
                           ("PHYS-300401", D("125.97"), D("33.33"), 4)]
    assert [f.list_total for f in sim.funds] == [D("132.70"), D("132.66"), D("132.64")]
    assert sum(f.billed_total for f in sim.funds) == sim.billed_total == D("378.00")
    assert sum(f.list_total for f in sim.funds) == sim.list_total == D("398.00")
