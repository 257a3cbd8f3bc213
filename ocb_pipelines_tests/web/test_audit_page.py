"""The audit page: every event, filtered by month, actor and action, paged on the server, newest first."""

from __future__ import annotations

import re

from ocb_pipelines.services.review import decide_charges, review_queue
from ocb_pipelines.web.routes import audit
from ocb_pipelines_tests.web.conftest import MONTH


def subjects(html: str) -> list[str]:
    """The Subject column of the events table, top to bottom."""
    return re.findall(r'<td class="wrap">([^<]*)</td>\s*<td class="wrap"><span class="muted">', html)


def test_audit_filters_by_actor_action_and_month(desk):
    (charge,) = [c for c in review_queue(desk.context(), MONTH).charges if c["resource_id"] == "i-nopi-1"]
    decide_charges(desk.context("rita"), MONTH, "reject", "nobody owns it", ids=[charge["charge_id"]], rebuild=False)
    client = desk.client("vic")

    everything = client.get("/audit")
    assert everything.status_code == 200
    assert {"aws_2025-01.csv", "aws_2025-02.csv", "storage_2025-01.csv"} <= set(subjects(everything.text))
    assert '<option value="rita">rita</option>' in everything.text  # the form offers the log's actors

    by_rita = client.get("/audit", params={"actor": "rita"}).text
    assert "nobody owns it" in by_rita and "aws_2025-01.csv" not in by_rita
    assert '<option value="rita" selected>' in by_rita

    imports_of_february = client.get("/audit", params={"action": "import", "month": "2025-02"}).text
    assert subjects(imports_of_february) == ["aws_2025-02.csv"]
    assert "1 event(s) matching" in imports_of_february

    assert client.get("/audit", params={"month": "January"}).status_code == 400


def test_audit_pages_newest_first(desk, monkeypatch):
    monkeypatch.setattr(audit, "PAGE_SIZE", 2)
    client = desk.client("vic")
    first = client.get("/audit", params={"action": "import"}).text
    assert "3 event(s) matching; page 1 of 2" in first
    assert 'href="/audit?action=import&amp;page=2">Older events' in first and "Newer events" not in first
    second = client.get("/audit", params={"action": "import", "page": 2}).text
    assert len(subjects(first)) == 2 and len(subjects(second)) == 1
    assert not set(subjects(first)) & set(subjects(second))
    assert 'href="/audit?action=import&amp;page=1">Newer events' in second and "Older events" not in second
    event_ids = [int(i) for i in re.findall(r'<td class="num">(\d+)</td>', first + second)]
    assert event_ids == sorted(event_ids, reverse=True)  # newest first, across pages
