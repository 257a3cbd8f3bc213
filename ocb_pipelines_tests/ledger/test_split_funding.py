"""The GL journal of split projects: each fund debited its share (whole cents, largest remainder), balanced to the
cent; a corrected fund kept; a split fund the journal cannot book refused like any bad fund."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from decimal import Decimal

import pytest

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.core.pricing_config import FundingSettings
from ocb_pipelines.ledger import journal as jr
from ocb_pipelines.ledger.export import export_journal
from ocb_pipelines.ledger.loading import load_groups
from ocb_pipelines.pricing.shares import load_splits
from ocb_pipelines.review.decisions import Decision, record_decisions
from ocb_pipelines.review.fixtures import charge_row
from ocb_pipelines.statements.lines import approved_totals, load_statements, month_approved_total
from ocb_pipelines.statements.schemas import gate_statements
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH, approve_and_close, load_source, tagged, write_config
from .helpers import group, make_settings

D = Decimal
THIRDS = (("ABC-111111", D("33.33")), ("DEF-222222", D("33.33")), ("GHI-333333", D("33.34")))


def _rows(journal):
    return [(x.side, x.party, x.fund_org, x.reference_id, x.amount, x.project_ids) for x in journal.lines]


def test_each_fund_is_debited_its_share_per_journal_group_and_the_journal_balances():
    groups = [
        replace(group("100.01", reference="NSF-1"), funds=THIRDS),  # 33.33 + 33.33 + 33.35
        replace(group("-0.01"), funds=THIRDS),  # a credit: its cent goes to the largest remainder, GHI
        replace(group("7.00", fund_org=None, source="hpc"), funds=THIRDS),  # no tag fund: the split decides
        group("5.00", fund_org="ABC-111111", pi="bob@example.edu", project="proj-b"),  # its own tag fund
    ]
    journal = jr.build_gl_journal(groups, make_settings(), MONTH)
    assert _rows(journal) == [
        ("debit", "pi", "ABC-111111", "", D("5.00"), ("proj-b",)),  # proj-a's credit gives ABC no cent
        ("debit", "pi", "ABC-111111", "NSF-1", D("33.33"), ("proj-a",)),
        ("debit", "pi", "DEF-222222", "NSF-1", D("33.33"), ("proj-a",)),
        ("credit", "pi", "GHI-333333", "", D("0.01"), ("proj-a",)),
        ("debit", "pi", "GHI-333333", "NSF-1", D("33.35"), ("proj-a",)),
        ("debit", "pi", "ABC-111111", "", D("2.33"), ("proj-a",)),  # hpc: 7.00 = 2.33 + 2.33 + 2.34
        ("debit", "pi", "DEF-222222", "", D("2.33"), ("proj-a",)),
        ("debit", "pi", "GHI-333333", "", D("2.34"), ("proj-a",)),
        ("credit", "source", "RCIT-900001", "", D("105.00"), ("proj-a", "proj-b")),
        ("credit", "source", "RCIT-900010", "", D("7.00"), ("proj-a",)),
    ]
    assert journal.debit_total == journal.credit_total == D("112.01")
    assert journal.approved_total == D("112.00") and journal.charges == 4  # debits - PI credits
    # the source side is what it is without the split
    plain = jr.build_gl_journal([replace(g, funds=(), fund_org=g.fund_org or "ABC-123456") for g in groups],
                                make_settings(), MONTH)
    assert [x for x in _rows(plain) if x[1] == "source"] == [x for x in _rows(journal) if x[1] == "source"]


def test_sub_cent_money_of_a_split_statement_is_rounded_as_its_statement_rounds_it():
    """A split statement's money is booked in the cents its statement shows (10.004 -> 10.00, 0.003 -> 0.00); the
    rest is rounded together (20.005 -> 20.00, half-even), so the journal books 30.00 of the exact 30.012."""
    groups = [replace(group("10.004"), funds=THIRDS), replace(group("0.003", project="proj-c"), funds=THIRDS),
              group("20.005", fund_org="XYZ-654321", project="proj-b")]
    journal = jr.build_gl_journal(groups, make_settings(), MONTH)
    pi = [x for x in journal.lines if x.party == "pi"]
    assert sum(x.amount_cents for x in pi) == 3000
    assert journal.debit_total == journal.credit_total == journal.approved_total == D("30.00")
    assert journal.approved_exact == D("30.012")
    assert {x.fund_org: x.amount for x in pi} == {"ABC-111111": D("3.33"), "DEF-222222": D("3.33"),
                                                  "GHI-333333": D("3.34"), "XYZ-654321": D("20.00")}


def test_a_split_fund_that_does_not_match_the_fund_regex_is_refused_like_any_bad_fund():
    bad = (("ABC-111111", D(50)), ("not a fund", D(50)))
    groups = [replace(group("10.00"), funds=bad), replace(group("3.00", source="hpc"), funds=bad),
              group("1.00", fund_org="also bad", project="proj-b")]
    with pytest.raises(jr.JournalRefused) as err:
        jr.build_gl_journal(groups, make_settings(), MONTH)
    assert err.value.problems == [
        "fund_org 'also bad' (source 'aws', 1 charge(s), $1.00) does not match journal.fund_org_regex "
        "'^(?P<orgn>[A-Z]+)-(?P<fund>[0-9]+)$'",
        "fund_org 'not a fund' of project 'proj-a''s split in funding.splits_file (source 'aws', 1 charge(s), "
        "$5.00 its share) does not match journal.fund_org_regex '^(?P<orgn>[A-Z]+)-(?P<fund>[0-9]+)$'",
        "fund_org 'not a fund' of project 'proj-a''s split in funding.splits_file (source 'hpc', 1 charge(s), "
        "$1.50 its share) does not match journal.fund_org_regex '^(?P<orgn>[A-Z]+)-(?P<fund>[0-9]+)$'",
    ]


def _with_splits(settings: OcbSettings, text: str) -> OcbSettings:
    path = settings.config_path.parent / "splits.csv"
    path.write_text("project_id,fund_org,percent,valid_from\n" + text, encoding="utf-8")
    return settings.model_copy(update={"funding": FundingSettings(splits_file=path)})


def _split_month(settings: OcbSettings) -> None:
    """proj-a: 100.01 on tag funds, and 10.00 without a fund that a reviewer corrects to ZZZ-999999; proj-b: 40.00."""
    load_source(settings, [
        charge_row(MONTH, resource="vm-a", billed="90.00"),
        charge_row(MONTH, resource="bucket", billed="15.01", fund_org="XYZ-654321"),
        charge_row(MONTH, resource="vm-a", billed="-5.00", ChargeCategory="Credit"),
        charge_row(MONTH, resource="no-fund", billed="10.00", fund_org=None),
        charge_row(MONTH, resource="hpc-1", billed="40.00", pi_email="pi.two@example.edu", project_id="proj-b"),
    ], "aws")
    with wh.connect(settings.warehouse_path) as con:
        (charge_id,) = con.execute("SELECT charge_id FROM charges_validated WHERE needs_review").fetchone()
        record_decisions(con, MONTH, [Decision(charge_id, "correct", "the lab's grant", fund_org="ZZZ-999999")],
                         actor="tester", via="test")
    approve_and_close(settings)


def test_the_exported_journal_debits_each_fund_its_share_and_keeps_a_corrected_fund(settings):
    _split_month(settings)
    split = _with_splits(settings, "proj-a,ABC-111111,33.33,2025-01-01\nproj-a,DEF-222222,33.33,2025-01-01\n"
                                   "proj-a,GHI-333333,33.34,2025-01-01\nproj-a,OLD-000001,100,2024-01-01\n")
    with wh.connect(settings.warehouse_path) as con:
        fixed = [g for g in load_groups(con, split, MONTH) if g.fund_org == "ZZZ-999999"]
        result = export_journal(con, split, MONTH, "gl")
    assert [g.funds for g in fixed] == [()]  # the corrected charge is loaded without the split
    rows = list(csv.reader(io.StringIO(result.file_path.read_text(encoding="utf-8"), newline="")))
    assert [(r[1] + "-" + r[0], r[6], r[7], r[8]) for r in rows[1:]] == [
        ("ABC-111111", "33.33", "", "aws 2025-01 proj-a"),
        ("ABC-123456", "40.00", "", "aws 2025-01 proj-b"),  # no split: its tag fund
        ("DEF-222222", "33.33", "", "aws 2025-01 proj-a"),
        ("GHI-333333", "33.35", "", "aws 2025-01 proj-a"),
        ("ZZZ-999999", "10.00", "", "aws 2025-01 proj-a"),  # the reviewer's fund, not the split's
        ("RCIT-900001", "", "150.01", "aws 2025-01 recovery"),
    ]
    assert result.debit_total == result.credit_total == result.approved_total == D("150.01")


def test_a_refused_splits_file_refuses_the_journal(settings):
    _split_month(settings)
    broken = _with_splits(settings, "proj-a,ABC-111111,50,2025-01-01\nproj-a,ABC-111111,50,2025-01-01\n")
    with wh.connect(settings.warehouse_path) as con, pytest.raises(jr.JournalRefused) as err:
        export_journal(con, broken, MONTH, "gl")
    (problem,) = err.value.problems
    assert problem.startswith("funding.splits_file: splits.csv line 3, column fund_org: 'ABC-111111' is already")
    assert not list(settings.output.journal_dir.glob("*.csv"))


PHYS_SIM = ("phys-sim,ENGR-500600,33.34,2025-01-01\nphys-sim,PHYS-300400,33.33,2025-01-01\n"
            "phys-sim,PHYS-300401,33.33,2025-01-01\n")
FEES_SOURCE = ('    - {name: fees, pattern: fees, display_name: "Fees", fund_org: "RCIT-900030", '
               'account_code: "54400"}\n')


def _with_fees_source(text: str) -> str:
    anchor = "    - {name: storage,"
    at = text.index(anchor)
    return text[:at] + FEES_SOURCE + text[at:]


@pytest.mark.parametrize(("money", "expected"), [
    # phys-sim's real month: the journal splits each (source, account, reference) line, 126.03 to ENGR-500600
    # (26.67 + 83.35 + 5.34 + 10.67), and the statement now says so, not 126.02 (378.00 split once)
    ({"aws": ["80.00"], "fees": ["250.00"], "hpc": ["16.00"], "storage": ["32.00"]},
     {"ENGR-500600": D("126.03"), "PHYS-300400": D("126.00"), "PHYS-300401": D("125.97")}),
    # sub-cent amounts over several charges, an odd-cent total (378.0169 -> 378.02), a grant of its own on hpc
    ({"aws": ["40.004", "40.003"], "fees": ["250.00"], "hpc": ["10.0049", "6.00 NSF-1"],
      "storage": ["20.00", "12.005"]},
     {"ENGR-500600": D("126.03"), "PHYS-300400": D("126.00"), "PHYS-300401": D("125.99")}),
    # and an account tag of its own on aws (another journal line)
    ({"aws": ["40.004", "40.003 - 54999"], "fees": ["250.00"], "hpc": ["10.0049", "6.00 NSF-1"],
      "storage": ["20.00", "12.005"]},
     {"ENGR-500600": D("126.04"), "PHYS-300400": D("126.00"), "PHYS-300401": D("125.98")}),
])
def test_a_split_projects_statement_tells_each_fund_what_the_journal_debits_it(tmp_path, monkeypatch, money,
                                                                                 expected):
    monkeypatch.setenv("OCB_ACTOR", "tester")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    settings = _with_splits(write_config(tmp_path, _with_fees_source), PHYS_SIM)
    for source, amounts in money.items():
        rows = []
        for n, text in enumerate(amounts):
            billed, grant, account = (*text.split(" "), "-", "-")[:3]  # "billed [grant|-] [account]"
            rows.append(tagged(MONTH, billed=billed, resource=f"{source}-{n}", grant=None if grant == "-" else grant,
                               account=None if account == "-" else account,
                               pi_email="pi.sim@example.edu", project_id="phys-sim", fund_org="PHYS-300400"))
        # another project, no split, on its own fund: its sub-cent money is rounded with the rest of the month
        rows.append(charge_row(MONTH, billed="5.005", resource=f"{source}-other", project_id="other",
                               fund_org="XYZ-654321"))
        load_source(settings, rows, source)
    approve_and_close(settings)
    with wh.connect(settings.warehouse_path) as con:
        statements = load_statements(con, MONTH, splits=load_splits(settings.funding.splits_file, MONTH))
        assert gate_statements(statements, approved_totals(con, MONTH), month_approved_total(con, MONTH)) == []
        journal = jr.build_gl_journal(load_groups(con, settings, MONTH), settings, MONTH)
    (sim,) = [s for s in statements if s.project_id == "phys-sim"]
    on_statement = {f.fund_org: f.billed_total for f in sim.funds}
    assert on_statement == expected
    assert [f.percent for f in sim.funds] == [D("33.34"), D("33.33"), D("33.33")]  # the split's own
    assert sum(on_statement.values()) == sim.funds_total == sim.billed_total.quantize(D("0.01"))
    assert sum(f.list_total for f in sim.funds) == sim.list_total.quantize(D("0.01"))  # list = billed here
    debited: dict[str, Decimal] = {}
    for line in journal.lines:
        if line.party == "pi" and line.fund_org in expected:
            assert line.project_ids == ("phys-sim",)
            debited[line.fund_org] = debited.get(line.fund_org, D(0)) + (line.debit or -line.amount)
    assert debited == on_statement  # each fund: the statement's amount is what the journal debits it
    assert journal.debit_total == journal.credit_total
    pi_net = sum((x.debit or -x.amount for x in journal.lines if x.party == "pi"), D(0))
    assert pi_net == journal.approved_total == sim.funds_total + D("20.02")  # other: 4 lines of 5.005


def test_a_split_projects_adjustment_to_a_closed_month_is_booked_on_lines_naming_that_month(settings, tmp_path):
    """Late data for a closed January, booked in February, of a project split 60/40: each fund's part of the
    adjustment is a line of its own naming January (as for a project without a split), apart from February's own
    charges, and the February statement still tells each fund what the journal debits it."""
    from ocb_pipelines.charges.validate import build_validated
    from ocb_pipelines.defs.charges.assets import rules_from
    from ocb_pipelines.ingest.importer import import_file
    from ocb_pipelines.review.fixtures import write_focus_csv

    feb = "2025-02"
    load_source(settings, [tagged(billed="10.00", resource="a"), tagged(billed="4.00", resource="b")], "aws")
    approve_and_close(settings)
    load_source(settings, [tagged(feb, billed="2.00", resource="c")], "aws", feb)  # February's own charge
    restated = [tagged(billed="12.50", resource="a"), tagged(billed="3.00", resource="b")]  # +2.50, -1.00
    path = write_focus_csv(settings.inbox_dir / f"aws_{MONTH}.csv", restated)
    with wh.connect(settings.warehouse_path) as con:
        (late,) = import_file(con, path, months=[MONTH], source="aws")
        assert (late.status, late.booked_month) == ("late", feb)
        build_validated(con, feb, rules_from(settings))
        flagged = [c for (c,) in con.execute("SELECT charge_id FROM charges_validated WHERE billing_month = ? "
                                             "AND needs_review", [feb]).fetchall()]
        record_decisions(con, feb, [Decision(c, "approve", "restated by AWS") for c in flagged], actor="x", via="cli")
    approve_and_close(settings, feb)
    split = _with_splits(settings, "proj-a,ABC-111111,60,2025-01-01\nproj-a,DEF-222222,40,2025-01-01\n")
    with wh.connect(settings.warehouse_path) as con:
        journal = jr.build_gl_journal(load_groups(con, split, feb), split, feb)
        statements = load_statements(con, feb, splits=load_splits(split.funding.splits_file, feb))
        result = export_journal(con, split, feb, "gl", out_dir=tmp_path / "journal")
    assert [(x.side, x.party, x.fund_org, x.amount, x.origin_month) for x in journal.lines] == [
        ("debit", "pi", "ABC-111111", D("1.20"), ""),  # February's own 2.00, 60/40
        ("debit", "pi", "ABC-111111", D("0.90"), MONTH),  # January's net adjustment 1.50, 60/40, on its own lines
        ("debit", "pi", "DEF-222222", D("0.80"), ""),
        ("debit", "pi", "DEF-222222", D("0.60"), MONTH),
        ("credit", "source", "RCIT-900001", D("2.00"), ""),
        ("credit", "source", "RCIT-900001", D("1.50"), MONTH),
    ]
    rows = list(csv.DictReader(result.file_path.read_text(encoding="utf-8").splitlines()))
    assert sorted((r["Debit"], r["Credit"]) for r in rows if r["Description"].startswith(f"ADJ {MONTH}")) == [
        ("", "1.50"), ("0.60", ""), ("0.90", "")]
    assert result.debit_total == result.credit_total == D("3.50")
    (statement,) = statements
    assert {f.fund_org: f.billed_total for f in statement.funds} == {"ABC-111111": D("2.10"), "DEF-222222": D("1.40")}
