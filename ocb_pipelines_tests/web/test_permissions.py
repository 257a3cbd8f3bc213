"""Every action of the desk is guarded: found from the app's own routes, so a route added later is covered too.

A viewer gets 403 on every POST (with a valid CSRF token, so it is the role that refuses); a cookie POST without
its CSRF token gets 403 on every one; a disabled user's session ends at the next request; a bearer token works
for reading and acting without a CSRF token.
"""

from __future__ import annotations

import re

from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from ocb_pipelines.services import desk_users
from ocb_pipelines_tests.web.conftest import MONTH, csrf, login

EVERYONE = {"/login", "/logout"}  # any user, of any role, may sign in and out
SAMPLE_VALUES = {"month": MONTH}  # any other path value will do: the role and the token are checked first


def action_paths(app) -> list[str]:
    """Every POST route of the app but sign-in and sign-out, its path values filled in."""
    paths = {r.path for r in iter_route_contexts(app.routes) if "POST" in (r.methods or ()) and r.path}
    return [re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLE_VALUES.get(m.group(1), "x"), p)
            for p in sorted(paths - EVERYONE)]


def test_the_enumeration_sees_the_actions_of_every_page_and_the_api(desk):
    paths = action_paths(desk.app())
    assert {f"/months/{MONTH}/close", f"/api/v1/months/{MONTH}/close", f"/api/v1/months/{MONTH}/journal"} <= set(
        paths)
    assert len(paths) >= 8 and not any("{" in p for p in paths)


def viewer_not_refused(client) -> dict[str, tuple[int, str]]:
    """The actions a signed-in viewer, sending a valid CSRF token, is not refused (403 for the role) on."""
    token = csrf(client)
    wrong = {}
    for path in action_paths(client.app):
        answer = client.post(path, data={"csrf_token": token}, headers={"X-CSRF-Token": token},
                             follow_redirects=False)
        if answer.status_code != 403 or "vic is a viewer" not in answer.text:
            wrong[path] = (answer.status_code, answer.text[:200])
    return wrong


def test_a_viewer_gets_403_on_every_action(desk):
    assert viewer_not_refused(desk.client("vic")) == {}


def test_an_action_added_without_its_guard_would_be_caught(desk):
    app = desk.app()
    app.post("/unguarded")(lambda: {"ok": True})
    client = TestClient(app, base_url="http://127.0.0.1")
    login(client, "vic")
    assert list(viewer_not_refused(client)) == ["/unguarded"]


def test_a_cookie_post_without_its_csrf_token_gets_403_on_every_action(desk):
    client = desk.client("ada")  # an admin: the role would let every action through
    wrong = {}
    for path in action_paths(client.app):
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            answer = client.post(path, headers=headers, follow_redirects=False)
            if answer.status_code != 403 or "CSRF token missing or wrong" not in answer.text:
                wrong[(path, str(headers))] = (answer.status_code, answer.text[:200])
    assert not wrong, wrong
    assert client.post("/logout", follow_redirects=False).status_code == 403  # sign-out needs its token too


def test_a_disabled_users_session_ends_at_the_next_request(desk):
    client = desk.client("rita")
    token = csrf(client)
    assert client.get("/", follow_redirects=False).status_code == 200
    desk_users.disable_user(desk.settings, "rita")
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert client.get("/api/v1/months").status_code == 401
    action = client.post(f"/months/{MONTH}/review/decide", data={"csrf_token": token}, follow_redirects=False)
    assert action.status_code == 303 and action.headers["location"].startswith("/login")
    assert client.post("/login", data={"username": "rita", "password": "correct-horse-9", "csrf_token": token},
                       follow_redirects=False).status_code == 401  # nor can she sign in again


def test_a_bearer_token_reads_and_acts_without_a_csrf_token(desk):
    client = desk.client()  # no cookie, no session: only the token
    auth = {"Authorization": f"Bearer {desk_users.issue_token(desk.settings, 'ada')}"}
    assert client.get("/api/v1/months", headers=auth).status_code == 200
    assert client.get(f"/months/{MONTH}", headers=auth).status_code == 200  # a page too
    answer = client.post(f"/api/v1/months/{MONTH}/reopen", headers=auth, json={"reason": "check"})
    assert answer.status_code == 409 and "open" in answer.json()["error"]  # past role and CSRF: the month refuses
    viewer = {"Authorization": f"Bearer {desk_users.issue_token(desk.settings, 'vic')}"}
    refused = client.post(f"/api/v1/months/{MONTH}/reopen", headers=viewer, json={"reason": "check"})
    assert refused.status_code == 403 and refused.json() == {
        "ok": False, "error": "vic is a viewer: this needs the admin role"}
