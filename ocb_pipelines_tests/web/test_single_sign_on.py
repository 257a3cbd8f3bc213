"""Single sign-on behind a reverse proxy: with `web.trusted_user_header` set, the user the proxy names is signed
in (an existing, enabled user only); without the setting the header means nothing."""

from __future__ import annotations

from ocb_pipelines.core.config import load_config
from ocb_pipelines.core.config_file import DESK_WEB_KEYS
from ocb_pipelines.services import desk_users
from ocb_pipelines.web.settings import DeskSettings
from ocb_pipelines_tests.conftest import REPO
from ocb_pipelines_tests.web.conftest import MONTH, csrf

HEADER = "X-Remote-User"


def test_the_proxys_user_is_signed_in_and_acts_as_themselves(desk):
    client = desk.client(trusted_user_header=HEADER)
    client.headers[HEADER] = "ada"
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 200 and "ada" in page.text and "(admin)" in page.text
    assert client.get("/api/v1/months").json()["ok"]
    answer = client.post(f"/api/v1/months/{MONTH}/reopen", json={"reason": "x"}, headers={"X-CSRF-Token": csrf(client)})
    assert answer.status_code == 409  # signed in as an admin: the role and the form token pass, the open month refuses
    client.headers[HEADER] = "vic"
    refused = client.post(f"/api/v1/months/{MONTH}/reopen", json={"reason": "x"},
                          headers={"X-CSRF-Token": csrf(client)})
    assert refused.status_code == 403 and "vic is a viewer" in refused.json()["error"]


def test_a_user_without_a_password_signs_in_through_the_proxy(desk):
    desk_users.add_user(desk.settings, "grace", "reviewer", None)
    client = desk.client(trusted_user_header=HEADER)
    assert client.get("/", headers={HEADER: " grace "}, follow_redirects=False).status_code == 200


def test_an_unknown_or_disabled_user_named_by_the_proxy_is_not_signed_in(desk):
    client = desk.client(trusted_user_header=HEADER)
    desk_users.disable_user(desk.settings, "rita")
    for name in ("mallory", "rita", ""):
        page = client.get("/", headers={HEADER: name}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login"), name
        assert client.get("/api/v1/months", headers={HEADER: name}).status_code == 401, name


def test_without_the_setting_the_header_is_ignored(desk):
    client = desk.client()
    assert desk.app().state.desk.trusted_user_header is None  # the example configuration does not set it
    page = client.get("/", headers={HEADER: "ada"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert client.get("/api/v1/months", headers={HEADER: "ada"}).status_code == 401
    other = desk.client(trusted_user_header="X-Forwarded-User")  # only the header configured counts
    assert other.get("/", headers={HEADER: "ada"}, follow_redirects=False).status_code == 303


def test_the_desk_reads_its_web_keys_from_the_config_and_does_not_call_them_ignored(tmp_path):
    """`web.trusted_user_header` and the desk's other keys come from config.yaml (the secret from the environment,
    as OpenChargeback's file has it); OpenChargeback's other `web:` keys are still reported as having no effect."""
    text = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    web = ("\nweb:\n  secret_key: ${WEB_SECRET_KEY}\n  session_lifetime_hours: 2\n"
           "  trusted_user_header: X-Remote-User\n  dagster_url: http://dagster:3000/\n  port: 8000\n"
           "  secure_cookie: true\n")
    (tmp_path / "config.yaml").write_text(text + web, encoding="utf-8")
    settings = load_config(tmp_path / "config.yaml", environ={"WEB_SECRET_KEY": "s" * 40})
    desk = DeskSettings.from_settings(settings)
    assert (desk.secret_key, desk.session_hours, desk.trusted_user_header, desk.dagster_url) == (
        "s" * 40, 2.0, "X-Remote-User", "http://dagster:3000")
    assert not desk.secret_generated and desk.secure_cookie
    assert settings.ignored_keys == ("web.port",) and set(DESK_WEB_KEYS) < set(settings.web)
    unset = DeskSettings.from_settings(load_config(tmp_path / "config.yaml", environ={}))
    assert unset.secret_generated and len(unset.secret_key) == 64  # a random key: sessions end at a restart
