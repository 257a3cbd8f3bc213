"""Subsidy rules on priced months: each applied rule a credit line naming the rule, attributed like what it
discounts, in whole cents, and a row in subsidy_applications."""

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
from ocb_pipelines.pricing.engine import months_affected, price_month
from ocb_pipelines.pricing.subsidies import largest_remainder
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.pricing.pricing_helpers import add_job, focus, priced_settings, usage_import

MONTH = "2026-03"
RATES = ["hpc,*,billing-hour,0.02,0.01,2026-01-01,,,,", "hpc,*,cpu-hour,0.02,0.01,2026-01-01,,,,"]


@pytest.fixture
def con(workdir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with wh.connect(workdir / "data" / "warehouse.duckdb") as connection:
        yield connection


def jobs(con, month: str, *specs: tuple[str, str, str], file_name: str = "jobs.txt") -> None:
    """Jobs of (account, day, billing units x 10 hours) in a new usage import of the month."""
    key = usage_import(con, month, file_name=file_name)
    for line, (account, day, units) in enumerate(specs, start=2):
        add_job(con, key, month, line, account=account, start=f"{month}-{day} 00:00:00",
                end=f"{month}-{day} 10:00:00", hours="10", billing=units, job_id=f"{file_name}:{line}")


def credits(con, month: str = MONTH) -> list[dict]:
    return focus(con, month, '"ChargeDescription", "BilledCost", "ListCost", "Tags", x_columns, "PricingQuantity"',
                 "\"ChargeCategory\" = 'Credit'")


def applied(con) -> list[tuple]:
    return con.execute("SELECT billing_month, rule_id, project_id, amount FROM subsidy_applications "
                       "ORDER BY billing_month, rule_id, project_id").fetchall()


def test_allowance_makes_the_first_units_free_at_their_billed_price(settings: OcbSettings, tmp_path: Path,
                                                                     con) -> None:
    priced = priced_settings(settings, tmp_path, rates=[
        "hpc,*,billing-hour,0.02,0.01,2026-01-01,2026-03-09,,,", "hpc,*,billing-hour,0.04,0.03,2026-03-10,,,,"],
        subsidies=[{"id": "free-1k", "kind": "allowance", "unit": "billing-hour", "quantity": "250"}])
    # astro: 160 units at 0.01, then 160 at 0.03 (90 of them still free); bio: 40 units, all free
    jobs(con, MONTH, ("astro", "12", "16"), ("astro", "05", "16"), ("bio", "06", "4"))
    summary = price_month(con, priced, MONTH)
    astro, bio = credits(con)
    assert astro["ChargeDescription"] == "free-1k: first 250 billing-hour per project per month free"
    assert (astro["BilledCost"], astro["ListCost"], astro["PricingQuantity"]) == ("-4.3", "0", "250")
    assert json.loads(astro["Tags"]) == {"pi_email": "ada@example.edu", "project_id": "astro-survey",
                                         "fund_org": "ASTR-100100"}
    assert json.loads(astro["x_columns"])["x_ocb_rule"] == "free-1k"
    assert (bio["BilledCost"], bio["PricingQuantity"]) == ("-0.4", "40")
    assert summary.by_rule == [{"rule": "free-1k", "kind": "allowance", "lines": 2, "amount": Decimal("4.7")}]
    assert summary.subsidy_total == Decimal("4.7")
    assert summary.billed_total == Decimal("1.6") + Decimal("4.8") + Decimal("0.4") - Decimal("4.7")


def test_percent_by_group_applies_after_the_allowance(settings: OcbSettings, tmp_path: Path, con) -> None:
    priced = priced_settings(settings, tmp_path, rates=RATES, subsidies=[
        {"id": "ext-half", "kind": "percent", "percent": "50", "group": "external"},
        {"id": "free", "kind": "allowance", "unit": "billing-hour", "quantity": "100"},  # listed later, runs first
    ])
    jobs(con, MONTH, ("bio", "03", "33.3"), ("astro", "03", "20"))  # bio is external: 333 units, 3.33 billed
    price_month(con, priced, MONTH)
    assert [(c["ChargeDescription"].split(":")[0], c["BilledCost"]) for c in credits(con)] == [
        ("free", "-1"), ("free", "-1"), ("ext-half", "-1.16")]  # half of 2.33 is 1.165: to the even cent
    assert applied(con) == [(MONTH, "ext-half", "bio-lab", Decimal("1.16")), (MONTH, "free", "astro-survey", 1),
                            (MONTH, "free", "bio-lab", 1)]


def test_cap_credits_what_goes_beyond_it(settings: OcbSettings, tmp_path: Path, con) -> None:
    priced = priced_settings(settings, tmp_path, rates=RATES, subsidies=[
        {"id": "cap-5", "kind": "cap", "amount": "5", "description": "monthly cap of 5.00 per project"}])
    jobs(con, MONTH, ("astro", "02", "30"), ("astro", "04", "30"), ("chem", "02", "40"))  # astro 6.00, chem 4.00
    summary = price_month(con, priced, MONTH)
    (cap,) = credits(con)
    assert (cap["ChargeDescription"], cap["BilledCost"]) == ("cap-5: monthly cap of 5.00 per project", "-1")
    assert json.loads(cap["Tags"])["project_id"] == "astro-survey"
    assert (summary.billed_total, summary.list_total, summary.subsidy_total) == (Decimal(9), Decimal(20), Decimal(1))


def test_a_credit_is_spent_over_three_months(settings: OcbSettings, tmp_path: Path, con) -> None:
    priced = priced_settings(settings, tmp_path, rates=RATES, subsidies=[
        {"id": "new-faculty", "kind": "credit", "amount": "10", "pi_email": "ADA@example.edu"}])
    jobs(con, "2026-01", ("astro", "10", "40"), ("chem", "10", "40"))  # ada 4.00
    jobs(con, "2026-02", ("astro", "10", "50"))  # 5.00
    jobs(con, "2026-03", ("astro", "10", "30"))  # 3.00, of which 1.00 is left to credit
    jobs(con, "2026-04", ("astro", "10", "30"))
    for month in ("2026-01", "2026-02", "2026-03", "2026-04"):
        price_month(con, priced, month)
    assert applied(con) == [("2026-01", "new-faculty", "astro-survey", 4),
                            ("2026-02", "new-faculty", "astro-survey", 5),
                            ("2026-03", "new-faculty", "astro-survey", 1)]
    assert [c["BilledCost"] for c in credits(con, "2026-03")] == ["-1"]
    assert credits(con, "2026-04") == []
    assert months_affected(con, priced) == []

    # January re-priced with more of ada's usage spends more of the credit there: the later months are affected
    jobs(con, "2026-01", ("astro", "20", "10"), file_name="late.txt")
    assert [m["month"] for m in months_affected(con, priced)] == ["2026-01"]
    price_month(con, priced, "2026-01")
    assert [(m["month"], m["reason"]) for m in months_affected(con, priced)] == [
        ("2026-02", "the credits earlier months applied"), ("2026-03", "the credits earlier months applied"),
        ("2026-04", "the credits earlier months applied")]


def test_credit_lines_are_attributed_and_validate(settings: OcbSettings, tmp_path: Path, con) -> None:
    priced = priced_settings(settings, tmp_path, rates=RATES, subsidies=[
        {"id": "free", "kind": "allowance", "unit": "billing-hour", "quantity": "10", "per": "pi"}])
    jobs(con, MONTH, ("astro", "03", "1"), ("ghost", "03", "1"))  # ghost: no accounts line
    price_month(con, priced, MONTH)
    summary = build_validated(con, MONTH, rules_from(priced))
    # ghost's job goes to review without a subsidy (it has no owner to give one to); astro's is credited
    (ghost_billed,) = con.execute("SELECT billed_cost FROM validated_lines WHERE needs_review").fetchall()[0]
    assert (summary.rows, summary.billed_total) == (3, ghost_billed)
    assert con.execute("SELECT charge_category, count(*) FILTER (WHERE needs_review) FROM validated_lines "
                       "GROUP BY ALL ORDER BY 1").fetchall() == [("Credit", 0), ("Usage", 1)]


def test_largest_remainder_keeps_the_rounded_total() -> None:
    parts = [Decimal("0.335"), Decimal("0.335"), Decimal("0.33")]
    assert largest_remainder(parts, Decimal("1.00")) == [Decimal("0.34"), Decimal("0.33"), Decimal("0.33")]
    assert sum(largest_remainder([Decimal("1.005")] * 3, Decimal("3.02"))) == Decimal("3.02")


def test_rule_filters_and_a_cap_per_pi(settings: OcbSettings, tmp_path: Path, con) -> None:
    accounts = ["astro,ada@example.edu,astro-survey,ASTR-100100,", "astro2,ada@example.edu,astro-deep,ASTR-100100,",
                "chem,carl@example.edu,chem-sim,CHEM-300300,"]
    priced = priced_settings(settings, tmp_path, rates=RATES, accounts=accounts, subsidies=[
        {"id": "other-cluster", "kind": "allowance", "unit": "billing-hour", "quantity": "1000", "sources": ["cryo"]},
        {"id": "chem-only", "kind": "percent", "percent": "10", "project_id": "chem-sim"},
        {"id": "pi-cap", "kind": "cap", "amount": "5", "per": "pi"},
        {"id": "later", "kind": "cap", "amount": "1", "valid_from": "2026-04"},
    ])
    jobs(con, MONTH, ("astro", "02", "30"), ("astro2", "03", "30"), ("chem", "02", "40"))  # ada 3 + 3, carl 4
    price_month(con, priced, MONTH)
    assert [(c["ChargeDescription"].split(":")[0], c["BilledCost"], json.loads(c["Tags"])["project_id"])
            for c in credits(con)] == [("chem-only", "-0.4", "chem-sim"), ("pi-cap", "-1", "astro-deep")]
