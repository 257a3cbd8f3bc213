"""The charge page: every FOCUS column, tags as text, lineage down to the file's row, decisions, Dagster links."""

from __future__ import annotations

import hashlib

from ocb_pipelines.services.charge_detail import charge_detail
from ocb_pipelines.services.review import decide_charges, review_queue
from ocb_pipelines_tests.web.conftest import MONTH


def charge_of(desk, resource_id: str) -> dict:
    """The month's charge of that resource, through the services."""
    queue = review_queue(desk.context(), MONTH, status="all")
    (charge,) = [c for c in queue.charges if c["resource_id"] == resource_id]
    return charge


def test_charge_page_shows_lineage_columns_and_dagster_links(desk):
    charge = charge_of(desk, "i-nopi-1")
    decide_charges(desk.context("rita"), MONTH, "reject", "nobody owns it", ids=[charge["charge_id"]],
                   rebuild=False)
    page = desk.client("vic").get(f"/charges/{charge['charge_id']}?month={MONTH}")
    assert page.status_code == 200
    sha256 = hashlib.sha256((desk.root / "aws_2025-01.csv").read_bytes()).hexdigest()
    html = page.text
    assert sha256 in html and "aws_2025-01.csv" in html
    assert "<dt>Row</dt><dd>6</dd>" in html  # the sixth data row of the file
    assert "<th scope=\"row\">BillingAccountName</th><td class=\"wrap\">Example University</td>" in html
    assert "no PI (pi_email tag missing)" in html  # the reason, in words
    assert "rita" in html and "nobody owns it" in html and "reject" in html  # the decision history
    assert f'/assets/charges_validated?view=partitions&amp;partition={MONTH}"' in html
    run_id = charge_detail(desk.context(), MONTH, charge["charge_id"]).lineage["run_id"]
    assert f'href="http://127.0.0.1:3000/runs/{run_id}"' in html  # the import run the row came from


def test_a_corrected_charge_shows_the_fund_it_is_billed_to_and_the_one_imported(desk):
    charge = charge_of(desk, "i-fund-1")
    decide_charges(desk.context("rita"), MONTH, "correct", "fund from the grant office", ids=[charge["charge_id"]],
                   corrections={"fund_org": "ASTR-100234"}, rebuild=False)
    html = desk.client("vic").get(f"/charges/{charge['charge_id']}?month={MONTH}").text
    assert "<dt>Fund</dt><dd class=\"wrap\">ASTR-100234 <span class=\"muted\">(corrected; imported as bad fund)" in html


def test_hostile_tags_are_shown_as_text(desk):
    charge = charge_of(desk, "i-hostile")
    html = desk.client("vic").get(f"/charges/{charge['charge_id']}").text  # no month: looked up
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@example.edu" in html
    assert "=HYPERLINK(&#34;http://x&#34;)" in html  # a formula stays text
    assert "../../etc/passwd" in html


def test_an_unknown_charge_is_a_404_page(desk):
    client = desk.client("vic")
    missing = client.get(f"/charges/00000000000000000000?month={MONTH}")
    assert missing.status_code == 404 and "no such charge" in missing.text
    assert client.get("/charges/00000000000000000000").status_code == 404
    assert client.get("/charges/x?month=2025-13").status_code == 400
