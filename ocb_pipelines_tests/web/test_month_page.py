"""The month page: January's figures to the cent, pending by reason linked to the queue, and the period actions
(close, reopen with a reason, finalize) as the signed-in admin, refused in the services' words."""

from __future__ import annotations

import dagster as dg
import pytest

from ocb_pipelines.services import statements
from ocb_pipelines.services.audit_log import audit_events
from ocb_pipelines.services.periods import list_periods
from ocb_pipelines_tests.web.conftest import MONTH, csrf
from ocb_pipelines_tests.web.month_end import closed_project, copy_desk, decide_pending, table

ACTIONS = ("close", "reopen", "finalize")


@pytest.fixture
def closed(desk_template, tmp_path_factory, tmp_path, monkeypatch):
    """A copy of the project with January decided and closed."""
    desk = copy_desk(closed_project(desk_template, tmp_path_factory), tmp_path / "project")
    monkeypatch.setenv("DAGSTER_HOME", str(desk.root / "data" / "dagster_home"))
    return desk


def status_of(desk, month: str = MONTH) -> str:
    return next(p.status for p in list_periods(desk.context()) if p.period == month)


def test_month_page_shows_the_figures_to_the_cent(desk):
    page = desk.client("vic").get(f"/months/{MONTH}")
    assert page.status_code == 200
    assert table(page.text, "totals")[1:] == [["Imported", "12", "$318.84"], ["Approved", "6", "$254.84"],
                                              ["Pending", "6", "$64.00"], ["Rejected", "0", "$0.00"]]
    assert "Reconciles: imported = approved + pending + rejected" in page.text
    assert table(page.text, "by-source")[1:] == [["aws", "$314.40 (11)", "$250.40 (5)", "$64.00 (6)", "$0.00 (0)"],
                                                 ["storage", "$4.44 (1)", "$4.44 (1)", "$0.00 (0)", "$0.00 (0)"]]
    reasons = sorted(tuple(row[1:]) for row in table(page.text, "pending-by-reason")[1:])
    assert reasons == [("1", "$1.01"), ("1", "$9.99"), ("2", "$20.00"), ("2", "$33.00")]
    for code in ("invalid_fund_org", "missing_pi_email", "missing_fund_org", "pattern_match%3A%5Etest-"):
        assert f'href="/months/{MONTH}/review?reason={code}"' in page.text
    for target in ("review", "statements", "journal"):
        assert f'href="/months/{MONTH}/{target}"' in page.text
    assert 'class="status status-open">open<' in page.text
    assert 'action="/months/2025-01/close"' not in page.text  # a viewer is shown no action


def test_a_month_path_that_is_not_a_billing_month_is_refused(desk):
    client = desk.client("vic")
    answer = client.get("/months/2025-13")
    assert answer.status_code == 400 and "&#39;2025-13&#39; is not a billing month" in answer.text
    assert client.get("/months/2031-07").status_code == 404  # well formed, but nothing imported or opened


def test_close_is_refused_while_charges_are_pending_then_the_admin_closes_the_month(desk):
    client = desk.client("ada")
    page = client.get(f"/months/{MONTH}")
    assert f'action="/months/{MONTH}/close"' in page.text
    refused = client.post(f"/months/{MONTH}/close", data={"csrf_token": csrf(client), "note": ""})
    assert refused.status_code == 409
    assert "has 6 charge(s) ($64.00) pending review; decide them first" in refused.text
    assert status_of(desk) == "open"

    decide_pending(desk.context("ada"))
    answer = client.post(f"/months/{MONTH}/close", data={"csrf_token": csrf(client), "note": "all decided"},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/months/{MONTH}"
    page = client.get(answer.headers["location"])
    assert "Billing month 2025-01 is closed by ada." in page.text
    assert 'class="status status-closed">closed<' in page.text
    assert table(page.text, "totals")[1:] == [["Imported", "12", "$318.84"], ["Approved", "7", "$264.83"],
                                              ["Pending", "0", "$0.00"], ["Rejected", "5", "$54.01"]]
    assert "Nothing is pending review." in page.text
    assert "all decided" in page.text  # the note, kept in the period's notes

    (event,) = audit_events(desk.context(), period=MONTH, action="period_close").events
    assert event["actor"] == "ada" and event["details"]["notes"] == "all decided"
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs(filters=dg.RunsFilter(job_name="review_job"), limit=1)
        assert run.tags["ocb/actor"] == "ada" and run.tags["ocb/trigger"] == "desk"
        assert run.status == dg.DagsterRunStatus.SUCCESS


def test_reopen_needs_a_reason(closed):
    client = closed.client("ada")
    page = client.get(f"/months/{MONTH}")
    assert f'action="/months/{MONTH}/reopen"' in page.text and f'action="/months/{MONTH}/finalize"' in page.text
    refused = client.post(f"/months/{MONTH}/reopen", data={"csrf_token": csrf(client), "reason": "  "})
    assert refused.status_code == 409 and "reopening 2025-01 needs a reason" in refused.text
    assert status_of(closed) == "closed"

    answer = client.post(f"/months/{MONTH}/reopen", data={"csrf_token": csrf(client), "reason": "late AWS credit"})
    assert answer.status_code == 200 and "Billing month 2025-01 is open again by ada." in answer.text
    assert "late AWS credit" in answer.text
    assert status_of(closed) == "open"
    (event,) = audit_events(closed.context(), period=MONTH, action="period_reopen").events
    assert event["actor"] == "ada" and event["details"]["reason"] == "late AWS credit"


def test_finalize_needs_statements_then_the_month_is_final(closed):
    client = closed.client("ada")
    refused = client.post(f"/months/{MONTH}/finalize", data={"csrf_token": csrf(client)})
    assert refused.status_code == 409 and "generate statements first" in refused.text

    assert statements.render_statements(closed.context("ada"), MONTH).ok
    answer = client.post(f"/months/{MONTH}/finalize", data={"csrf_token": csrf(client), "note": "sent to AP"})
    assert answer.status_code == 200 and "Billing month 2025-01 is finalized by ada." in answer.text
    assert "it never changes again" in answer.text
    assert f'action="/months/{MONTH}/reopen"' not in answer.text
    assert status_of(closed) == "finalized"


@pytest.mark.parametrize("user", ["rita", "vic"])
def test_a_reviewer_or_a_viewer_gets_403_on_every_period_action(desk, user):
    client = desk.client(user)
    token = csrf(client)
    for action in ACTIONS:
        answer = client.post(f"/months/{MONTH}/{action}", data={"csrf_token": token, "note": "x", "reason": "x"})
        assert answer.status_code == 403, action
        assert "this needs the admin role" in answer.text
    assert status_of(desk) == "open"
    assert not audit_events(desk.context(), period=MONTH, actor=user).events
