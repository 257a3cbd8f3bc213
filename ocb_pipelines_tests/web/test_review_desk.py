"""The review queue page and its decisions: filters, paging, sort, hostile tags as text, the reviewer's workflow
(reject the ownerless charges by filter, correct one fund, approve the rest by filter), who may decide, CSRF,
and a double submit deciding once."""

from __future__ import annotations

import re
from decimal import Decimal

import dagster as dg

from ocb_pipelines.services import desk_decisions, review
from ocb_pipelines.services.audit_log import audit_events
from ocb_pipelines.services.month_summary import month_summaries
from ocb_pipelines.web.routes import review as review_route
from ocb_pipelines_tests.web.conftest import MONTH, csrf

QUEUE = f"/months/{MONTH}/review"
# The prepared month's pending charges, largest first: resource, reasons, billed
PENDING = ["i-fund-1", "i-nopi-1", "i-test-1", "i-nopi-2", "i-fund-2", "i-hostile"]


def resources(html: str) -> list[str]:
    """The resource ids of the queue's rows, in the page's order."""
    return re.findall(r'<td class="wrap">(i-[\w-]+)</td>', html)


def charge_id(desk, resource: str) -> str:
    queue = review.review_queue(desk.context(), MONTH, status="all")
    (charge,) = [c for c in queue.charges if c["resource_id"] == resource]
    return charge["charge_id"]


def decide(client, form: dict, page: str = QUEUE):
    """Send the queue page's decision form as a browser would: the page's CSRF token and idempotency key."""
    html = client.get(page).text
    key = re.search(r'name="request_key" value="([^"]+)"', html).group(1)
    return client.post(f"/months/{MONTH}/review/decide", data={"csrf_token": csrf(client, page), "request_key": key,
                                                                **form}, follow_redirects=False)


def test_filter_by_reason_shows_only_those_charges_and_the_total_of_every_page(desk):
    page = desk.client("vic").get(QUEUE, params={"reason": "missing_pi_email"})
    assert page.status_code == 200
    assert resources(page.text) == ["i-nopi-1", "i-nopi-2"]
    assert "2 charges, $20.00" in page.text and "no PI (pi_email tag missing)" in page.text
    assert f'href="/charges/{charge_id(desk, "i-nopi-1")}?month={MONTH}"' in page.text
    assert 'name="ids"' not in page.text and "/review/decide" not in page.text  # a viewer looks, never decides
    everything = desk.client("vic").get(QUEUE)
    assert resources(everything.text) == PENDING and "6 charges, $64.00" in everything.text
    assert desk.client("vic").get(QUEUE, params={"reason": "no_such_reason"}).status_code == 400


def test_the_other_filters_service_source_project_and_text(desk):
    client = desk.client("rita")
    assert resources(client.get(QUEUE, params={"text": "i-fund"}).text) == ["i-fund-1", "i-fund-2"]
    assert resources(client.get(QUEUE, params={"service": "amazon ec2", "source": "aws"}).text) == PENDING
    assert "0 charges, $0.00" in client.get(QUEUE, params={"service": "Amazon S3"}).text
    assert resources(client.get(QUEUE, params={"project": "ASTRO-SURVEY", "pi": "ada.lovelace@example.edu"}).text) \
        == ["i-fund-1", "i-test-1", "i-fund-2"]


def test_pages_of_the_queue_keep_the_filter_and_sort_by_money(desk, monkeypatch):
    monkeypatch.setattr(review_route, "PAGE_SIZE", 2)
    client = desk.client("rita")
    first = client.get(QUEUE, params={"source": "aws"}).text
    assert resources(first) == PENDING[:2] and "Page 1 of 3" in first and "6 charges, $64.00" in first
    assert 'href="/months/2025-01/review?source=aws&amp;page=2" rel="next"' in first
    second = client.get(QUEUE, params={"source": "aws", "page": 2}).text
    assert resources(second) == PENDING[2:4] and "6 charges, $64.00" in second
    assert 'href="/months/2025-01/review?source=aws" rel="prev"' in second
    assert 'href="/months/2025-01/review?source=aws&amp;page=3" rel="next"' in second
    ascending = client.get(QUEUE, params={"source": "aws", "sort": "asc", "page": 2}).text
    assert resources(ascending) == PENDING[::-1][2:4]
    assert 'href="/months/2025-01/review?source=aws&amp;sort=asc&amp;page=3"' in ascending
    assert client.get(QUEUE, params={"sort": "sideways"}).status_code == 400


def test_hostile_tag_values_are_shown_as_text(desk):
    page = desk.client("rita").get(QUEUE, params={"text": "i-hostile"}).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@example.edu" in page
    assert "<script>alert" not in page and "&lt;/script&gt;" in page
    assert "=HYPERLINK(&#34;http://x&#34;)" in page and "../../etc/passwd" in page
    assert "<script" not in page.replace('<script src="/static/', "")  # only the desk's own scripts


def test_the_reviewer_rejects_the_ownerless_corrects_a_fund_and_approves_the_rest_by_filter(desk):
    """The acceptance workflow, as rita, through the page's one form; every decision carries her name in the
    audit, and the month's rebuild runs as her."""
    client = desk.client("rita")
    # Approving the ownerless charges cannot be done: they are reported with their money, not skipped silently.
    held = decide(client, {"scope": "filter", "reason": "missing_pi_email", "decision": "approve", "note": "ok?"})
    assert held.status_code == 303 and "/review/decisions/" in held.headers["location"]
    result = client.get(held.headers["location"]).text
    assert "Nothing was approved" in result and "2 have no pi_email" in result and "$20.00" in result
    assert charge_id(desk, "i-nopi-1") in result
    rejected = decide(client, {"scope": "filter", "reason": "missing_pi_email", "decision": "reject",
                               "note": "nobody owns these"})
    assert "2 charge(s) rejected ($20.00) as rita" in client.get(rejected.headers["location"]).text
    fixed = decide(client, {"scope": "selected", "ids": [charge_id(desk, "i-hostile")], "decision": "correct",
                            "fund_org": "ASTR-100234", "note": "fund from the grant office"})
    assert "1 charge(s) corrected ($1.01) as rita" in client.get(fixed.headers["location"]).text
    rest = decide(client, {"scope": "filter", "decision": "approve", "note": "checked the rest"})
    assert "3 charge(s) approved ($42.99) as rita" in client.get(rest.headers["location"]).text
    assert "0 charges, $0.00" in client.get(QUEUE).text and "Nothing is waiting for review" in client.get(QUEUE).text

    ctx = desk.context("test")
    figures = month_summaries(ctx, [MONTH])[0].figures
    assert (figures.pending_rows, figures.pending_billed, figures.rejected_billed) == (0, 0, Decimal("20.00"))
    assert figures.imported_billed == figures.approved_billed + figures.pending_billed + figures.rejected_billed
    events = [e for e in audit_events(ctx, period=MONTH).events if e["action"].startswith("review_")]
    assert [e["action"] for e in events].count("review_reject") == 2 and len(events) == 6
    assert {e["actor"] for e in events} == {"rita"}

    done = desk_decisions.apply_queued(ctx)  # the desk's background pass: the month's rebuild, as rita
    assert done == []  # nothing was queued; only the rebuild was left
    rebuilt = desk_decisions.decision_status(ctx, rest.headers["location"].rsplit("/", 1)[1])
    run_id = rebuilt.result["rebuild"]["run_id"]
    assert rebuilt.result["rebuild"]["success"] and not rebuilt.stored.rebuild_pending
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
    assert run.job_name == "review_job" and run.tags["ocb/actor"] == "rita" and run.tags["ocb/trigger"] == "desk"
    assert desk_decisions.queued_decisions(ctx) == [] and f"/runs/{run_id}" in client.get(
        rest.headers["location"]).text


def test_a_viewer_gets_403_and_a_post_without_csrf_is_refused(desk):
    form = {"scope": "filter", "decision": "approve", "note": "x", "request_key": "k1"}
    viewer = desk.client("vic")
    assert viewer.post(f"/months/{MONTH}/review/decide", data={**form, "csrf_token": csrf(viewer)},
                       follow_redirects=False).status_code == 403
    reviewer = desk.client("rita")
    assert reviewer.post(f"/months/{MONTH}/review/decide", data=form, follow_redirects=False).status_code == 403
    assert reviewer.post(f"/months/{MONTH}/review/decide", data={**form, "csrf_token": "forged"},
                         follow_redirects=False).status_code == 403
    assert review.decision_state(desk.context(), MONTH).logged == 0
    assert desk_decisions.decision_status(desk.context(), "k1") is None


def test_a_double_submit_decides_once(desk):
    client = desk.client("rita")
    form = {"csrf_token": csrf(client, QUEUE), "request_key": "form-key-1", "scope": "selected",
            "ids": [charge_id(desk, "i-test-1")], "decision": "approve", "note": "a test box, but ours"}
    first = client.post(f"/months/{MONTH}/review/decide", data=form, follow_redirects=False)
    again = client.post(f"/months/{MONTH}/review/decide", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303 and first.headers["location"] == again.headers["location"]
    assert review.decision_state(desk.context(), MONTH).logged == 1
    assert len(audit_events(desk.context(), action="review_approve").events) == 1
    changed = client.post(f"/months/{MONTH}/review/decide", data={**form, "note": "another note"},
                          follow_redirects=False)
    assert changed.status_code == 409 and "already used for another decision request" in changed.text


def test_a_form_without_a_note_or_a_charge_decides_nothing_and_says_why(desk):
    client = desk.client("rita")
    nothing = decide(client, {"scope": "selected", "decision": "approve", "note": "fine", "reason": "pattern_match"})
    assert nothing.status_code == 303 and nothing.headers["location"] == f"{QUEUE}?reason=pattern_match"
    assert "check at least one charge" in client.get(nothing.headers["location"]).text
    no_note = decide(client, {"scope": "filter", "decision": "approve", "note": "  "})
    assert "a note is required" in client.get(no_note.headers["location"]).text
    assert review.decision_state(desk.context(), MONTH).logged == 0
