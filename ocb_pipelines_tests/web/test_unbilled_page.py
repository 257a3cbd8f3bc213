"""The unbilled page: a closed month's money that reached no PI's project statement, by source and reason, each
line linked to its charge, the totals it reconciles with, and every line as a safe CSV; for any desk user."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from ocb_pipelines_tests.web.conftest import MONTH
from ocb_pipelines_tests.web.month_end import APPROVED, REJECTED, closed_project, copy_desk, dagster_home, table

PAGE = f"/months/{MONTH}/unbilled"


@pytest.fixture(scope="module")
def desk(desk_template, tmp_path_factory):
    desk = copy_desk(closed_project(desk_template, tmp_path_factory), tmp_path_factory.mktemp("unbilled") / "p")
    with dagster_home(desk.root):
        yield desk


def _money(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", ""))


def test_the_page_shows_the_totals_the_groups_and_each_line_linked_to_its_charge(desk):
    client = desk.client("vic")  # a viewer: reading the report changes nothing
    assert f'href="{PAGE}"' in client.get(f"/months/{MONTH}").text
    answer = client.get(PAGE)
    assert answer.status_code == 200
    totals = {row[0]: (int(row[1].replace(",", "")), _money(row[2])) for row in table(answer.text, "totals")[1:]}
    assert totals["Imported"][1] == APPROVED + REJECTED
    assert totals["Approved"][1] == totals["Billed to a PI's project statement"][1] == APPROVED
    assert totals["Rejected"][1] == totals["Not billed"][1] == REJECTED
    assert totals["Pending"] == (0, Decimal(0))
    groups = table(answer.text, "groups")[1:]
    assert {(g[0], g[1]) for g in groups} == {("aws", "rejected")}
    assert sum(_money(g[3]) for g in groups) == REJECTED
    lines = table(answer.text, "lines")[1:]
    assert len(lines) == totals["Rejected"][0] and sum(_money(x[6]) for x in lines) == REJECTED
    assert all(x[7] == "rejected" and x[8] == "no owner or no valid fund" for x in lines)
    first = lines[0][0]
    assert f'<a href="/charges/{first}">' in answer.text and client.get(f"/charges/{first}").status_code == 200


def test_the_csv_holds_every_line_and_adds_up(desk):
    answer = desk.client("rita").get(f"{PAGE}.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == f'attachment; filename="unbilled_{MONTH}.csv"'
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert {r["reason"] for r in rows} == {"rejected"} and sum(Decimal(r["billed"]) for r in rows) == REJECTED


def test_an_unknown_or_malformed_month_is_refused_and_signing_in_is_required(desk):
    client = desk.client("vic")
    assert client.get("/months/2031-01/unbilled").status_code == 404
    assert client.get("/months/2025-13/unbilled").status_code == 400
    anonymous = desk.client()
    assert anonymous.get(PAGE, follow_redirects=False).status_code in (303, 401)
