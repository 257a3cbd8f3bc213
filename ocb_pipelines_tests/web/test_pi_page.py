"""The PI page: a PI's projects in the month (charges, money imported and billable, review statuses) beside their
recent months as billed, reached from the review queue and the charge page."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import quote

from ocb_pipelines.review.approve import build_approved
from ocb_pipelines.services.pi_view import pi_page
from ocb_pipelines.services.review import decide_charges, review_queue
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.web.conftest import MONTH

FEB = "2025-02"
ADA = "ada.lovelace@example.edu"


def _cells(html: str, table_id: str) -> list[list[str]]:
    """The text of each body row's cells of one table of the page."""
    table = re.search(rf'<table class="data" id="{table_id}">(.*?)</table>', html, re.S).group(1)
    body = re.search(r"<tbody>(.*?)</tbody>", table, re.S).group(1)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_the_pi_page_shows_each_project_its_money_statuses_and_recent_months(desk):
    queue = review_queue(desk.context(), MONTH, status="all", pi=ADA)
    (test_box,) = [c for c in queue.charges if c["resource_id"] == "i-test-1"]
    (bad_fund,) = [c for c in queue.charges if c["resource_id"] == "i-fund-1"]
    decide_charges(desk.context("rita"), MONTH, "reject", "not ours", ids=[test_box["charge_id"]], rebuild=False)
    decide_charges(desk.context("rita"), MONTH, "correct", "the second survey", ids=[bad_fund["charge_id"]],
                   corrections={"fund_org": "ASTR-100234", "project_id": "astro-ii"}, rebuild=False)
    page = desk.client("vic").get(f"/months/{MONTH}/pi?email={quote(ADA.upper())}")  # any case
    assert page.status_code == 200
    html = page.text
    assert f"PI <span class=\"wrap\">{ADA}</span> in {MONTH}" in html
    # January: 100.00 + 50.25 + 20.00 + 4.44 (storage) billable; 3.00 (a bad fund) pending; 9.99 rejected; the
    # 30.00 corrected to the project the reviewer gave it
    assert _cells(html, "pi-projects") == [
        ["astro-ii", "1", "$30.00", "$30.00", "corrected 1"],
        ["astro-survey", "6", "$187.68", "$174.69", "pending 1 rejected 1 unflagged 4"]]
    assert re.search(r'<tfoot><tr><th scope="row">Total</th><td class="num">7</td>\s*<td class="num">\$217.68</td>'
                     r'<td class="num">\$204.69</td>', html)
    assert f'href="/months/{MONTH}/review?pi={quote(ADA, safe="")}"' in html  # their pending charges
    assert "No charges" not in html and "Nothing billed to this PI from 2025-01 to 2025-01." in html  # none approved


def test_the_pi_page_shows_their_recent_months_as_billed_and_no_one_elses(desk):
    queue = review_queue(desk.context(), MONTH, status="all", pi=ADA)
    (test_box,) = [c for c in queue.charges if c["resource_id"] == "i-test-1"]
    decide_charges(desk.context("rita"), MONTH, "approve", "a real box", ids=[test_box["charge_id"]], rebuild=False)
    with wh.connect(desk.settings.warehouse_path) as con:
        for month in (MONTH, FEB):
            build_approved(con, month)
    html = desk.client("vic").get(f"/months/{FEB}/pi", params={"email": ADA}).text
    assert _cells(html, "pi-projects") == [["astro-survey", "1", "$8.88", "$8.88", "unflagged 1"]]
    # January as approved: 100.00 + 50.25 + 20.00 + 4.44 unflagged, 9.99 approved (list price 12.00 a line, as
    # the rows say); the bad funds are still pending, so not billed
    assert _cells(html, "pi-history") == [
        ["2025-01", "astro-survey", "$60.00", "-$124.68", "$184.68", "5"],
        ["2025-02", "astro-survey", "$12.00", "$3.12", "$8.88", "1"],
    ]
    assert _cells(html, "pi-month-totals") == [["2025-01", "$60.00", "-$124.68", "$184.68", "5"],
                                               ["2025-02", "$12.00", "$3.12", "$8.88", "1"]]
    assert "grace.hopper" not in html and "navy-cobol" not in html  # approved in January too, but not this PI
    grace = pi_page(desk.context(), FEB, "Grace.Hopper@example.edu ")
    assert [(r.month, r.billed_total) for r in grace.by_project["navy-cobol"]] == [
        ("2025-01", Decimal("80.15")), ("2025-02", Decimal(0))]  # February: a gap
    assert grace.by_project["navy-cobol"][1].gap and grace.view.projects == []

def test_the_review_queue_and_the_charge_page_link_to_the_pi_page(desk):
    client = desk.client("vic")
    link = f'href="/months/{MONTH}/pi?email={quote(ADA, safe="")}"'
    assert link in client.get(f"/months/{MONTH}/review").text
    (charge,) = [c for c in review_queue(desk.context(), MONTH, status="all", pi=ADA).charges
                 if c["resource_id"] == "i-fund-1"]
    assert link in client.get(f"/charges/{charge['charge_id']}?month={MONTH}").text


def test_a_hostile_pi_email_is_text_and_an_unknown_pi_has_no_charges(desk):
    client = desk.client("vic")
    hostile = "<script>alert(1)</script>@example.edu"
    html = client.get(f"/months/{MONTH}/pi", params={"email": hostile}).text
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;@example.edu" in html
    assert "=HYPERLINK(&#34;http://x&#34;)" in html  # its project, a formula, stays text
    nobody = client.get(f"/months/{MONTH}/pi", params={"email": "nobody@example.edu"})
    assert nobody.status_code == 200 and "No charges for this PI in 2025-01." in nobody.text
    assert client.get(f"/months/{MONTH}/pi").status_code == 400  # no email
    assert client.get("/months/2025-13/pi", params={"email": ADA}).status_code == 400
    assert desk.client().get(f"/months/{MONTH}/pi", params={"email": ADA}, follow_redirects=False).status_code in (
        303, 401)  # signed out: the login page, never the PI's money
