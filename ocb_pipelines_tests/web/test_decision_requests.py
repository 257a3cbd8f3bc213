"""Decisions through the JSON API and the desk's request store: exactly once per Idempotency-Key, refused as a
whole with every problem, queued while another process holds the warehouse and applied in order afterwards, and
never applied twice when the desk stopped between recording the decisions and marking the request."""

from __future__ import annotations

import time
from decimal import Decimal

from fastapi.testclient import TestClient

from ocb_pipelines.desk import decision_requests as store
from ocb_pipelines.services import desk_decisions, desk_users, review
from ocb_pipelines.services.audit_log import audit_events
from ocb_pipelines_tests.web.conftest import MONTH, csrf, holding_the_warehouse

API = f"/api/v1/months/{MONTH}/decisions"


def charge_id(desk, resource: str) -> str:
    (charge,) = [c for c in review.review_queue(desk.context(), MONTH, status="all").charges
                 if c["resource_id"] == resource]
    return charge["charge_id"]


def bearer(desk, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {desk_users.issue_token(desk.settings, user)}"}


def decisions_of(desk, charge: str) -> list[str]:
    return [e["action"] for e in audit_events(desk.context(), subject=charge).events]


def test_a_decision_sent_twice_with_one_key_is_recorded_once(desk):
    client, auth = desk.client(), bearer(desk, "rita")
    test_box = charge_id(desk, "i-test-1")
    body = {"decision": "approve", "note": "a test box, but ours", "ids": [test_box]}
    first = client.post(API, json=body, headers={**auth, "Idempotency-Key": "k-1"})
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["ok"] and answer["state"] == "applied" and not answer["replayed"] and answer["user"] == "rita"
    assert answer["result"]["recorded"] == 1 and answer["result"]["recorded_billed"] == "9.990000000000"
    again = client.post(API, json=body, headers={**auth, "Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.json()["replayed"] and again.json()["result"] == answer["result"]
    assert decisions_of(desk, test_box) == ["review_approve"]
    assert review.decision_state(desk.context(), MONTH).logged == 1
    other = client.post(API, json={**body, "note": "changed my mind"}, headers={**auth, "Idempotency-Key": "k-1"})
    assert other.status_code == 409 and "already used for another decision request" in other.json()["error"]
    status = client.get(f"{API}/k-1", headers=auth)
    assert status.status_code == 200 and status.json()["result"]["rebuild"] == {"pending": True}


def test_the_api_decides_by_filter_and_reports_the_ownerless_by_cause_with_their_money(desk):
    client, auth = desk.client(), bearer(desk, "rita")
    held = client.post(API, json={"decision": "approve", "note": "ok", "filter": {"reason": "missing_pi_email"}},
                       headers={**auth, "Idempotency-Key": "k-2"}).json()
    assert not held["ok"] and held["result"]["recorded"] == 0 and held["result"]["held_billed"] == "20.000000000000"
    (cause,) = held["result"]["held"]
    assert (cause["cause"], cause["count"], cause["billed"]) == ("2 have no pi_email", 2, "20.000000000000")
    assert sorted(cause["charges"]) == sorted([charge_id(desk, "i-nopi-1"), charge_id(desk, "i-nopi-2")])
    fund = client.post(API, json={"decision": "correct", "note": "the grant office", "filter": {
        "service": "Amazon EC2", "text": "i-hostile"}, "corrections": {"fund_org": "ASTR-100234"}},
        headers={**auth, "Idempotency-Key": "k-3"}).json()
    assert fund["ok"] and fund["result"]["recorded"] == 1 and fund["result"]["recorded_billed"] == "1.010000000000"
    assert review.review_queue(desk.context(), MONTH, text="i-hostile").total == 0


def test_a_refused_decision_records_nothing_and_answers_the_same_again(desk):
    client, auth = desk.client(), bearer(desk, "rita")
    nopi = charge_id(desk, "i-nopi-1")
    body = {"decision": "approve", "note": "x", "ids": [nopi, "no-such-charge"]}
    refused = client.post(API, json=body, headers={**auth, "Idempotency-Key": "k-4"})
    assert refused.status_code == 422 and refused.json()["state"] == "refused"
    problems = refused.json()["problems"]
    assert any("no-such-charge: no such charge" in p for p in problems)
    again = client.post(API, json=body, headers={**auth, "Idempotency-Key": "k-4"})
    assert again.status_code == 422 and again.json()["replayed"]
    assert review.decision_state(desk.context(), MONTH).logged == 0


def test_the_api_checks_its_caller_and_its_request(desk):
    body = {"decision": "reject", "note": "x", "ids": [charge_id(desk, "i-test-1")]}
    client = desk.client()
    assert client.post(API, json=body, headers={"Idempotency-Key": "k"}).status_code == 401
    viewer = client.post(API, json=body, headers={**bearer(desk, "vic"), "Idempotency-Key": "k"})
    assert viewer.status_code == 403 and "needs the reviewer role" in viewer.json()["error"]
    auth = bearer(desk, "rita")
    assert "Idempotency-Key header is required" in client.post(API, json=body, headers=auth).json()["error"]
    odd = client.post(API, json=body, headers={**auth, "Idempotency-Key": "../../x y"})
    assert odd.status_code == 400 and "idempotency key '../../x y'" in odd.json()["error"]
    for wrong, words in (({**body, "note": " "}, "a note is required"),
                         ({**body, "filter": {}}, "not both"),
                         ({"decision": "approve", "note": "x", "filter": {"colour": "red"}}, "unknown filter"),
                         ({**body, "decision": "maybe"}, "use approve, reject or correct"),
                         ({**body, "corrections": {"fund_org": "X"}}, "use correct")):
        answer = client.post(API, json=wrong, headers={**auth, "Idempotency-Key": "bad"})
        assert answer.status_code == 400 and words in answer.json()["error"], (wrong, answer.text)
    session = desk.client("rita")  # a browser session calling the API needs its CSRF token
    assert session.post(API, json=body, headers={"Idempotency-Key": "s-1"}).status_code == 403
    sent = session.post(API, json=body, headers={"Idempotency-Key": "s-1", "X-CSRF-Token": csrf(session)})
    assert sent.status_code == 200 and sent.json()["user"] == "rita"
    assert review.decision_state(desk.context(), MONTH).logged == 1


def test_a_decision_sent_while_another_process_holds_the_warehouse_is_queued_then_applied_once_in_order(desk):
    """An import holds DuckDB's lock: both requests are answered at once as queued; when the holder is gone,
    apply_queued applies them in the order they came (the approval last, so it stands), each exactly once."""
    test_box = charge_id(desk, "i-test-1")
    client, auth = desk.client(), bearer(desk, "rita")
    with holding_the_warehouse(desk.settings.warehouse_path):
        started = time.monotonic()
        first = client.post(API, json={"decision": "reject", "note": "a test box", "ids": [test_box]},
                            headers={**auth, "Idempotency-Key": "q-1"})
        browser = desk.client("rita")
        second = browser.post(f"/months/{MONTH}/review/decide", follow_redirects=False, data={
            "csrf_token": csrf(browser, "/login"), "request_key": "q-2", "scope": "selected", "ids": [test_box],
            "decision": "approve", "note": "it is ours after all"})
        assert time.monotonic() - started < 5  # answered at once, never the lock wait
        assert first.status_code == 202 and first.json()["state"] == "queued"
        assert first.json()["status_url"] == f"{API}/q-1"
        assert second.status_code == 303
        page = browser.get(second.headers["location"])
        assert "Decision queued" in page.text and 'http-equiv="refresh"' in page.text
        again = client.post(API, json={"decision": "reject", "note": "a test box", "ids": [test_box]},
                            headers={**auth, "Idempotency-Key": "q-1"})
        assert again.status_code == 202 and again.json()["replayed"]
        assert desk_decisions.apply_queued(desk.context()) == []  # still held: both stay queued
        assert [q.key for q in desk_decisions.queued_decisions(desk.context(), MONTH)] == ["q-1", "q-2"]
    done = desk_decisions.apply_queued(desk.context())
    assert [(d.key, d.state, d.stored.username) for d in done] == [("q-1", "applied", "rita"),
                                                                     ("q-2", "applied", "rita")]
    assert desk_decisions.apply_queued(desk.context()) == []
    assert decisions_of(desk, test_box) == ["review_reject", "review_approve"]
    (charge,) = review.review_queue(desk.context(), MONTH, status="approved").charges
    assert charge["charge_id"] == test_box and charge["decided_by"] == "rita"
    status = client.get(f"{API}/q-2", headers=auth).json()
    assert status["state"] == "applied" and status["result"]["rebuild"]["success"] and not status["rebuild_pending"]


def test_a_request_recorded_in_the_warehouse_but_not_marked_applied_is_never_applied_again(desk):
    """The desk stopped between recording a request's decisions and marking it applied: the script's retry (same
    key) finds its decisions by their origin and marks it applied, deciding nothing again."""
    test_box = charge_id(desk, "i-test-1")
    body = {"decision": "approve", "note": "ours", "ids": [test_box]}
    path = desk_users.desk_file(desk.settings)
    store.record_request(path, "crash-1", "rita", MONTH, desk_decisions.decision_request(body).canonical())
    recorded = review.decide_charges(desk.context("rita"), MONTH, "approve", "ours", ids=[test_box], rebuild=False,
                                     origin=desk_decisions.ORIGIN_PREFIX + "crash-1")
    assert recorded.recorded == [test_box]
    retried = desk.client().post(API, json=body, headers={**bearer(desk, "rita"), "Idempotency-Key": "crash-1"})
    assert retried.status_code == 200 and retried.json()["replayed"]
    result = retried.json()["result"]
    assert result["recovered"] and result["recorded"] == 1 and Decimal(result["recorded_billed"]) == Decimal("9.99")
    assert decisions_of(desk, test_box) == ["review_approve"]
    assert desk_decisions.queued_decisions(desk.context()) == []


def test_the_desk_starts_and_stops_its_queued_decision_thread(desk):
    app = desk.app()
    with TestClient(app, base_url="http://127.0.0.1"):
        worker = app.state.decision_worker
        assert worker.running
    assert not worker.running
