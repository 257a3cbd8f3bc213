"""The desk's skeleton: sign-in, roles, CSRF, the months page, and a busy warehouse answered at once."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import ocb_pipelines.web
from ocb_pipelines_tests.web.conftest import MONTH, PASSWORD, csrf, csrf_of, holding_the_warehouse


def test_pages_need_a_signed_in_user(desk):
    client = desk.client()
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/"
    assert client.get("/api/v1/months").status_code == 401


def test_months_page_lists_each_month_with_its_money(desk):
    page = desk.client("vic").get("/")
    assert page.status_code == 200
    assert f'href="/months/{MONTH}"' in page.text and 'href="/months/2025-02"' in page.text
    assert "$318.84" in page.text  # January: 11 aws lines and 1 storage line, exact to the cent


def test_a_wrong_password_is_refused_and_repeated_failures_are_throttled(desk):
    client = desk.client()
    token = csrf_of(client.get("/login").text)
    for _ in range(5):
        answer = client.post("/login", data={"username": "rita", "password": "nope", "csrf_token": token})
        assert answer.status_code == 401 and "wrong user name or password" in answer.text
    answer = client.post("/login", data={"username": "rita", "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 429 and "too many failed sign-ins" in answer.text


def test_a_form_post_without_its_csrf_token_is_refused(desk):
    client = desk.client("ada")
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False).status_code == 403
    assert client.post("/logout", data={"csrf_token": csrf(client)}, follow_redirects=False).status_code == 303


def test_a_busy_warehouse_answers_at_once_with_what_is_running(desk):
    """Another process holds DuckDB's write lock (as an import does): the page answers 503 at once, says so,
    and refreshes itself; when the holder is gone the same page shows the months."""
    with holding_the_warehouse(desk.settings.warehouse_path):
        client = desk.client("vic")
        started = time.monotonic()
        page = client.get("/")
        assert time.monotonic() - started < 5  # never the 60 s lock wait of the CLI
        assert page.status_code == 503 and page.headers["retry-after"] == "5"
        assert "The warehouse is busy" in page.text and 'http-equiv="refresh"' in page.text
    assert client.get("/").status_code == 200


def test_htmx_is_the_pinned_npm_release_served_by_the_desk_itself(desk):
    """Air-gapped sites: the page loads htmx from the desk, and the file is the version package.json pins."""
    vendor = Path(ocb_pipelines.web.__file__).parent / "static" / "vendor"
    pinned = json.loads((vendor / "package.json").read_text())["dependencies"]["htmx.org"]
    client = desk.client("vic")
    page = client.get("/").text
    assert '<script src="/static/vendor/htmx.min.js"' in page
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"(https?:)?//", page)  # nothing from another host
    served = client.get("/static/vendor/htmx.min.js")
    assert served.status_code == 200 and f'version:"{pinned}"' in served.text


def test_the_session_cookie_is_signed_http_only_strict_and_secure_when_asked(desk):
    """Behind a TLS proxy `web.secure_cookie: true` keeps the session off plain HTTP."""
    cookie = desk.client().get("/login").headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and "secure" not in cookie.lower()
    secure = desk.client(secure_cookie=True)
    cookie = secure.get("/login").headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie
