"""Pure journal rules: the worked example, fund parsing, accounts, rounding, signs, descriptions, refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ocb_pipelines.ledger import journal as jr
from ocb_pipelines.ledger import layouts, rules

from .helpers import group, make_settings

D = Decimal


def _rows(journal):
    return [(x.side, x.party, x.fund_org, x.account, x.debit, x.credit, x.description, x.reference_id)
            for x in journal.lines]


def test_worked_example_line_by_line():
    """Two PIs share a fund and grant on AWS, one also without a grant; HPC usage with its own account tag;
    storage falls back to the default account. T = 190.012 -> 190.01: floors give 190.00 and the one
    missing cent goes to the largest remainder (150.007), not to 12.505."""
    groups = [
        group("100.004", pi="ada@example.edu", project="astro", reference="NSF-1"),
        group("50.003", pi="bob@example.edu", project="bio", reference="NSF-1"),
        group("20.00", pi="bob@example.edu", project="bio"),
        group("12.505", source="hpc", fund_org="PHYS-200001", account="54210", pi="cy@example.edu", project="qcd"),
        group("7.5", source="storage", fund_org="PHYS-200001", pi="cy@example.edu", project="qcd"),
    ]
    journal = jr.build_gl_journal(groups, make_settings(), "2025-01")
    assert _rows(journal) == [
        ("debit", "pi", "ABC-123456", "54100", D("20.00"), None, "aws 2025-01 bio", ""),
        ("debit", "pi", "ABC-123456", "54100", D("150.01"), None, "aws 2025-01 2 projects", "NSF-1"),
        ("debit", "pi", "PHYS-200001", "54210", D("12.50"), None, "hpc 2025-01 qcd", ""),  # .505 loses to .007
        ("debit", "pi", "PHYS-200001", "54000", D("7.50"), None, "storage 2025-01 qcd", ""),
        ("credit", "source", "RCIT-900001", "54100", None, D("170.01"), "aws 2025-01 recovery", ""),
        ("credit", "source", "RCIT-900010", "54210", None, D("12.50"), "hpc 2025-01 recovery", ""),
        ("credit", "source", "RCIT-900020", "54000", None, D("7.50"), "storage 2025-01 recovery", ""),
    ]
    assert journal.lines[1].pi_emails == ("ada@example.edu", "bob@example.edu")
    assert journal.lines[0].components == {"orgn": "ABC", "fund": "123456"}
    assert journal.lines[4].components == {"orgn": "RCIT", "fund": "900001"}
    assert journal.approved_exact == D("190.012") and journal.approved_total == D("190.01")
    assert journal.debit_total == journal.credit_total == D("190.01")
    assert journal.charges == 5


@pytest.mark.parametrize(
    ("regex", "value", "expected"),
    [
        (r"^(?P<orgn>[^-]+)-(?P<fund>.+)$", "ABC-123456", {"orgn": "ABC", "fund": "123456"}),
        (r"(?P<fund>\d{6})-(?P<orgn>\d{4})-(?P<program>\d{4})", "100234-4410-0021",
         {"fund": "100234", "orgn": "4410", "program": "0021"}),
        (r"(?P<fund>\w+)\.(?P<orgn>\w+)\.(?P<program>\w+)\.(?P<activity>\w+)\.(?P<location>\w+)", "F1.O2.P3.A4.L5",
         {"fund": "F1", "orgn": "O2", "program": "P3", "activity": "A4", "location": "L5"}),
        (r"(?P<orgn>[A-Z]+)(?P<project>[0-9]+)", "PHYS42", {"orgn": "PHYS", "project": "42", "fund": "PHYS42"}),
        (r"(?P<orgn>[A-Z]+)-(?P<fund>[0-9]+)", "ABC-123456x", None),  # must match the whole value
        (r"(?P<orgn>[A-Z]*)-(?P<fund>[0-9]+)", "-123456", None),  # every named group must capture something
        (r"(?P<orgn>[A-Z]+)-(?P<fund>[0-9]+)", "", None),
        (r"(?P<orgn>[A-Z]+)-(?P<fund>[0-9]+)", "  ABC-1 ", {"orgn": "ABC", "fund": "1"}),
    ],
)
def test_fund_org_regex_layouts(regex, value, expected):
    assert jr.parse_fund_org(value, regex) == expected


def test_extra_named_groups_are_components_of_every_line():
    settings = make_settings(
        fund_org_regex=r"(?P<fund>\d{6})-(?P<orgn>\d{4})-(?P<program>\d{4})(-(?P<grant>G\d+))?",
        sources=[{"name": "aws", "fund_org": "900001-0001-0001-G9", "account_code": "54100"}],
    )
    journal = jr.build_gl_journal([group("5", fund_org="100234-4410-0021-G1")], settings, "2025-01")
    assert "grant" in journal.component_names
    pi, source = journal.lines
    assert pi.context()["program"] == "0021" and pi.context()["grant"] == "G1" and pi.context()["location"] == ""
    assert source.components["fund"] == "900001"


def test_account_fallback_chain():
    settings = make_settings()
    assert jr.resolve_account(" 54321 ", settings, "aws") == ("54321", "tag")
    assert jr.resolve_account(None, settings, "aws") == ("54100", "source")
    assert jr.resolve_account("", settings, "AWS") == ("54100", "source")  # source names are case-insensitive
    assert jr.resolve_account(None, settings, "storage") == ("54000", "default")  # source has no account_code
    assert jr.resolve_account(None, settings, "unknown") == ("54000", "default")
    assert jr.resolve_account(None, make_settings(default_account=""), "storage") == ("", "none")


def test_account_resolved_per_charge_not_from_the_first_charge():
    journal = jr.build_gl_journal([group("1", account="54999"), group("2")], make_settings(), "2025-01")
    assert [(x.party, x.account, x.amount) for x in journal.lines] == [
        ("pi", "54100", D("2.00")), ("pi", "54999", D("1.00")),
        ("source", "54100", D("2.00")), ("source", "54999", D("1.00"))]


def test_allocate_cents_largest_remainder():
    assert jr.allocate_cents([D("0.333"), D("0.333"), D("0.334")]) == [33, 33, 34]
    assert jr.allocate_cents([D("0.005"), D("0.005")]) == [1, 0]  # T = 0.01; tie goes to the first
    assert jr.allocate_cents([D("1.015"), D("-1.005")]) == [102, -101]  # floors toward -inf; T = 0.01
    assert jr.allocate_cents([]) == []


def test_rounding_over_many_sub_cent_charges():
    """3,000 charges of 0.0033 each: rounded one by one they would be 0.00; the journal books 9.90."""
    groups = [group("0.0033", pi=f"pi{i % 7}@example.edu", project=f"p{i % 11}") for i in range(3000)]
    journal = jr.build_gl_journal(groups, make_settings(), "2025-01")
    assert journal.approved_total == D("9.90")
    assert journal.debit_total == journal.credit_total == D("9.90")
    # one PI line (same fund, source, account), so its description names no single project
    assert [x.description for x in journal.lines if x.party == "pi"] == ["aws 2025-01 11 projects"]
    many = [group("0.004", fund_org=f"ABC-{i:06d}") for i in range(1001)]  # 1001 funds of 0.4 cent each
    journal = jr.build_gl_journal(many, make_settings(), "2025-01")
    pi_lines = [x for x in journal.lines if x.party == "pi"]
    assert len(pi_lines) == 400 and all(x.amount == D("0.01") for x in pi_lines)  # 4.004 -> 4.00
    assert journal.debit_total == D("4.00") == journal.credit_total


def test_net_negative_line_is_a_credit_to_the_pi_fund_and_a_debit_to_the_source():
    groups = [
        group("-30.00", project="refund", fund_org="ABC-111111"),  # a credit larger than usage on this fund
        group("10.00", project="usage", fund_org="ABC-111111"),
        group("5.00", source="hpc", fund_org="ABC-111111"),
        group("-8.00", source="hpc", fund_org="XYZ-222222"),
    ]
    journal = jr.build_gl_journal(groups, make_settings(), "2025-01")
    assert [(x.side, x.party, x.fund_org, x.amount) for x in journal.lines] == [
        ("credit", "pi", "ABC-111111", D("20.00")),
        ("debit", "pi", "ABC-111111", D("5.00")),
        ("credit", "pi", "XYZ-222222", D("8.00")),
        ("debit", "source", "RCIT-900001", D("20.00")),
        ("debit", "source", "RCIT-900010", D("3.00")),
    ]
    assert journal.debit_total == journal.credit_total == D("28.00")
    assert journal.approved_total == D("-23.00")


def test_lines_that_net_to_zero_are_left_out():
    journal = jr.build_gl_journal([group("5"), group("-5", project="b")], make_settings(), "2025-01")
    assert journal.lines == [] and journal.approved_total == 0


def test_descriptions_several_pis_and_cut_length():
    settings = make_settings(debit_description="{pi_email} {project_id} {fund_org} {source} {period}",
                             description_max_length=20)
    journal = jr.build_gl_journal([group("1", pi="a@x.edu"), group("2", pi="b@x.edu")], settings, "2025-01")
    assert journal.lines[0].description == "2 PIs proj-a ABC-123"
    assert len(journal.lines[0].description) <= 20
    assert rules.cut_description("=HYPERLINK(\"x\")   and\nmore", 10) == '=HYPERLIN'  # room for the guard quote
    assert rules.cut_description("  a \t b  ", 35) == "a b"


def test_description_with_unknown_placeholder_is_refused():
    with pytest.raises(jr.JournalRefused) as exc:
        jr.build_gl_journal([group("1")], make_settings(debit_description="{source} {cost_center}"), "2025-01")
    assert "{cost_center}" in str(exc.value)


def test_every_culprit_is_listed():
    settings = make_settings(sources=[
        {"name": "aws", "fund_org": "RCIT-900001", "account_code": "54100"},
        {"name": "hpc", "fund_org": "", "account_code": "54200"},
        {"name": "storage", "fund_org": "not a fund", "account_code": ""},
    ], default_account="")
    groups = [
        group("1", fund_org=None, pi="nofund@example.edu"),
        group("2", fund_org="abc-12"),
        group("3", account="5410"),
        group("4", source="hpc"),
        group("5", source="storage"),
        group("6", source="gcp"),
        group("7", source="gcp", fund_org="abc-12"),
    ]
    with pytest.raises(jr.JournalRefused) as exc:
        jr.build_gl_journal(groups, settings, "2025-01")
    problems = exc.value.problems
    text = "\n".join(problems)
    assert "source 'gcp' is not in imports.known_sources" in text
    assert "source 'hpc' has no fund_org" in text
    assert "source 'storage': fund_org 'not a fund'" in text
    assert "source 'aws': 1 charge(s), $1.00 (PI nofund@example.edu) have no fund_org" in text
    assert "fund_org 'abc-12' (source 'aws', 1 charge(s), $2.00)" in text
    assert "fund_org 'abc-12' (source 'gcp', 1 charge(s), $7.00)" in text
    assert "account '5410' (from the charge tag, source 'aws', 1 charge(s), $3.00)" in text
    assert "source 'storage': 1 charge(s), $5.00 have no account" in text
    assert "source 'gcp': 2 charge(s), $13.00 have no account" in text
    assert len(problems) == 9
    assert "no file was written" in str(exc.value)


def test_empty_month_is_refused():
    with pytest.raises(jr.JournalRefused, match="nothing to export"):
        jr.build_gl_journal([], make_settings(), "2025-01")


def test_standard_and_summary_round_to_the_total():
    charges = [{"charge_id": f"c{i}", "source": "aws", "billed_cost": D("0.125"), "account_code": None}
               for i in range(8)]
    standard = layouts.build_standard(charges, make_settings(), "2025-01")
    assert [r["amount"] for r in standard.rows] == [D("0.13")] * 4 + [D("0.12")] * 4
    assert sum(r["amount"] for r in standard.rows) == D("1.00") == standard.approved_total
    assert standard.rows[0]["account"] == "54100"
    summary = layouts.build_summary([group("0.125", pi="a"), group("0.125", pi="b"), group("1", pi="a", charges=3)],
                               "2025-01")
    assert [(r["pi_email"], r["amount"], r["charge_count"]) for r in summary.rows] == [
        ("a", D("1.13"), 4), ("b", D("0.12"), 1)]
