"""The desk's JSON API (/api/v1) for scripts: bearer tokens, the months, the queue, a charge, period actions,
the journal export and the statements; money as exact text; refusals as {"ok": false, "error"} with a status."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ocb_pipelines.services import desk_users
from ocb_pipelines.services.audit_log import audit_events
from ocb_pipelines_tests.web.conftest import MONTH, csrf

FEB = "2025-02"


def bearer(desk, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {desk_users.issue_token(desk.settings, user)}"}


def test_months_and_one_month_carry_money_as_exact_text(desk):
    client, auth = desk.client(), bearer(desk, "vic")
    months = client.get("/api/v1/months", headers=auth).json()
    assert months["ok"] and [m["period"] for m in months["months"]] == [FEB, MONTH]
    january = client.get(f"/api/v1/months/{MONTH}", headers=auth).json()
    assert january["imported"] == {"rows": 12, "billed": "318.840000000000"}
    assert january["pending"] == {"rows": 6, "billed": "64.000000000000"}
    assert january["period"]["status"] == "open" and january["period"]["opened_by"] == "setup"
    assert Decimal(january["approved"]["billed"]) + Decimal(january["pending"]["billed"]) == Decimal("318.84")


def test_the_queue_filters_and_pages_like_the_queue_page(desk):
    client, auth = desk.client(), bearer(desk, "vic")
    everything = client.get(f"/api/v1/months/{MONTH}/queue", headers=auth).json()
    assert (everything["total"], everything["billed_total"], everything["next_offset"]) == (6, "64.000000000000", None)
    billed = [Decimal(c["billed_cost"]) for c in everything["charges"]]
    assert billed == sorted(billed, reverse=True)  # largest money first
    ownerless = client.get(f"/api/v1/months/{MONTH}/queue", headers=auth,
                           params={"reason": "missing_pi_email", "limit": 1, "offset": 0, "source": ""}).json()
    assert (ownerless["total"], ownerless["billed_total"], len(ownerless["charges"])) == (2, "20.000000000000", 1)
    assert ownerless["next_offset"] == 1 and ownerless["charges"][0]["resource_id"] == "i-nopi-1"
    second = client.get(f"/api/v1/months/{MONTH}/queue", headers=auth,
                        params={"reason": "missing_pi_email", "limit": 1, "offset": 1}).json()
    assert [c["resource_id"] for c in second["charges"]] == ["i-nopi-2"] and second["next_offset"] is None
    text = client.get(f"/api/v1/months/{MONTH}/queue", headers=auth, params={"text": "I-TEST"}).json()
    assert [c["resource_id"] for c in text["charges"]] == ["i-test-1"]
    smallest = client.get(f"/api/v1/months/{MONTH}/queue", headers=auth, params={"sort": "asc", "limit": 1}).json()
    assert smallest["charges"][0]["billed_cost"] == "1.010000000000" and smallest["next_offset"] == 1
    assert client.get(f"/api/v1/months/{MONTH}/queue", headers=auth, params={"service": "Amazon S3"}).json()[
        "total"] == 0  # S3's one line is not pending


def test_a_charge_with_its_lineage(desk):
    client, auth = desk.client(), bearer(desk, "vic")
    [charge] = client.get(f"/api/v1/months/{MONTH}/queue", headers=auth, params={"text": "i-hostile"}).json()["charges"]
    detail = client.get(f"/api/v1/charges/{charge['charge_id']}", params={"month": MONTH}, headers=auth).json()
    assert detail["ok"] and detail["charge"]["billed_cost"] == "1.010000000000"
    assert detail["lineage"]["file_name"] == "aws_2025-01.csv" and len(detail["lineage"]["file_sha256"]) == 64
    assert detail["tags"]["pi_email"] == "<script>alert(1)</script>@example.edu"  # data, as the file wrote it
    looked_up = client.get(f"/api/v1/charges/{charge['charge_id']}", headers=auth).json()  # no ?month=
    assert looked_up["month"] == MONTH and looked_up["lineage"] == detail["lineage"]


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/api/v1/months/2025-13", 400, "not a billing month"),
    ("/api/v1/months/2024-06", 404, "nothing imported"),
    (f"/api/v1/months/{MONTH}/queue?limit=0", 400, "limit must be 1 to"),
    (f"/api/v1/months/{MONTH}/queue?limit=many", 400, "query.limit"),
    (f"/api/v1/months/{MONTH}/queue?reason=nosuch", 400, "unknown review reason 'nosuch'"),
    (f"/api/v1/months/{MONTH}/queue?status=maybe", 400, "unknown review status"),
    (f"/api/v1/months/{MONTH}/queue?sort=up", 400, "unknown sort order"),
    ("/api/v1/charges/0000?month=2025-01", 404, "no such charge"),
    ("/api/v1/charges/0000", 404, "no such charge in any billing month"),
    ("/api/v1/charges/0000?month=2025-1", 400, "not a billing month"),
])
def test_bad_requests_are_refused_in_json_with_their_status(desk, path, status, words):
    answer = desk.client().get(path, headers=bearer(desk, "vic"))
    assert answer.status_code == status and answer.json()["ok"] is False and words in answer.json()["error"]


def test_period_actions_and_the_journal_as_an_admin_with_a_token(desk):
    """No CSRF token with a bearer token; every action audited as the token's user."""
    client, auth = desk.client(), bearer(desk, "ada")
    refused = client.post(f"/api/v1/months/{MONTH}/close", headers=auth)
    assert refused.status_code == 409 and "pending review" in refused.json()["error"]
    closed = client.post(f"/api/v1/months/{FEB}/close", headers=auth, json={"notes": "all in"}).json()
    assert closed["status"] == "closed" and closed["closed_by"] == "ada"
    assert closed["reconciliation"]["approved_billed"] == "8.880000000000" and closed["reconciliation"]["balanced"]
    finalize = client.post(f"/api/v1/months/{FEB}/finalize", headers=auth)
    assert finalize.status_code == 409 and "generate statements first" in finalize.json()["error"]
    export = client.post(f"/api/v1/months/{FEB}/journal", headers=auth, json={"format": "standard"}).json()
    assert export["status"] == "written" and export["approved_total"] == "8.88" and export["charges"] == 1
    assert Path(export["file"]).is_file() and Path(export["file"]).parent == desk.settings.output.journal_dir
    bad = client.post(f"/api/v1/months/{FEB}/journal", headers=auth, json={"format": "excel"})
    assert bad.status_code == 400 and "unknown journal format 'excel'" in bad.json()["error"]
    no_reason = client.post(f"/api/v1/months/{FEB}/reopen", headers=auth, json={"reason": "  "})
    assert no_reason.status_code == 400 and "needs a reason" in no_reason.json()["error"]
    reopened = client.post(f"/api/v1/months/{FEB}/reopen", headers=auth, json={"reason": "late file"}).json()
    assert reopened["status"] == "open" and reopened["reopen_reason"] == "late file"
    events = audit_events(desk.context(), period=FEB).events
    assert {e["action"]: e["actor"] for e in events if e["actor"] != "setup"} == {
        "period_close": "ada", "journal_export": "ada", "period_reopen": "ada"}


def test_statements_of_a_month_and_its_delivery_log(desk):
    answer = desk.client().get(f"/api/v1/months/{MONTH}/statements", headers=bearer(desk, "vic")).json()
    assert answer == {"ok": True, "month": MONTH, "statements": [], "deliveries": []}


def test_a_browser_session_calls_the_api_with_its_csrf_header(desk):
    client = desk.client("ada")
    assert client.get("/api/v1/months").status_code == 200
    assert client.post(f"/api/v1/months/{FEB}/reopen", json={"reason": "x"}).status_code == 403
    answer = client.post(f"/api/v1/months/{FEB}/reopen", json={"reason": "x"}, headers={"X-CSRF-Token": csrf(client)})
    assert answer.status_code == 409 and "open" in answer.json()["error"]  # the role and token pass; the month refuses


def test_an_unknown_or_revoked_token_is_not_signed_in(desk):
    client = desk.client()
    assert client.get("/api/v1/months", headers={"Authorization": "Bearer nope"}).status_code == 401
    auth = bearer(desk, "rita")
    assert client.get("/api/v1/months", headers=auth).status_code == 200
    desk_users.disable_user(desk.settings, "rita")
    answer = client.get("/api/v1/months", headers=auth)
    assert answer.status_code == 401 and answer.json()["ok"] is False


def test_the_api_describes_itself_without_a_page_from_a_cdn(desk):
    client = desk.client()
    schema = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/months/{month}/queue", "/api/v1/months/{month}/close", "/api/v1/charges/{charge_id}"} <= set(
        schema["paths"])
    assert client.get("/api/docs").status_code == 404  # Swagger's page loads its script from a CDN: not served
