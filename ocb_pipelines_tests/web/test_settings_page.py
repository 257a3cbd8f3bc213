"""The settings page: the configuration in effect with secrets masked, the sources, and the review pattern
tester (the real rule's semantics, before anyone edits the configuration)."""

from __future__ import annotations

import re

from ocb_pipelines.core.config import load_config
from ocb_pipelines_tests.web.conftest import MONTH, Desk

SECRET_KEY = "desk-signing-key-7f3a9c"
SMTP_PASSWORD = "smtp-pa55-word-e81b"
SMTP_USER = "billing-mailer-2209"


def with_secrets(desk: Desk) -> Desk:
    """The desk, its config.yaml now holding web.secret_key and smtp credentials."""
    path = desk.root / "config.yaml"
    text = path.read_text()
    text = re.sub(r"(?m)^  password: .*$", f"  password: {SMTP_PASSWORD}", text)
    text = re.sub(r"(?m)^  username: .*$", f"  username: {SMTP_USER}", text)
    path.write_text(text + f"\nweb:\n  secret_key: {SECRET_KEY}\n  dagster_url: http://127.0.0.1:3000\n")
    settings = load_config(path)
    assert settings.smtp.password == SMTP_PASSWORD and settings.web["secret_key"] == SECRET_KEY
    return Desk(desk.root, settings)


def test_settings_show_the_configuration_with_secrets_masked(desk):
    page = with_secrets(desk).client("vic").get("/settings")
    assert page.status_code == 200
    html = page.text
    for secret in (SECRET_KEY, SMTP_PASSWORD, SMTP_USER):
        assert secret not in html
    for key in ("web.secret_key", "smtp.password", "smtp.username"):
        assert re.search(rf"<code>{re.escape(key)}</code></th><td class=\"wrap\">\*{{8}}</td>", html), key
    assert '<code>smtp.host</code></th><td class="wrap">127.0.0.1</td>' in html  # not a secret: shown
    assert '<code>review.flag_patterns</code></th><td class="wrap">^test-, PROD-, Marketplace</td>' in html
    assert '<th scope="row">aws</th>' in html and "RCIT-900001" in html  # the sources, with what was imported


def resource_ids(html: str) -> set[str]:
    return set(re.findall(r'<td class="wrap">(i-[a-z0-9-]+|vol-[0-9]+)</td>', html))


def test_the_pattern_tester_flags_exactly_the_matching_charges(desk):
    page = desk.client("vic").get("/settings", params={"month": MONTH, "pattern": "good-[12]$|amazon s3"})
    assert page.status_code == 200
    # found anywhere, ignoring case, in the resource id (i-good-1, i-good-2) or the service (Amazon S3)
    assert resource_ids(page.text) == {"i-good-1", "i-good-2", "i-good-3"}
    assert "would flag 3 charge(s) of\n  2025-01, billed $170.25; 3 of them\n  ($170.25) are not flagged" in page.text

    flagged_already = desk.client("vic").get("/settings", params={"month": MONTH, "pattern": "^TEST-"}).text
    assert resource_ids(flagged_already) == {"i-test-1"}  # resource name test-box: the configured pattern's hit
    assert "0 of them\n  ($0.00) are not flagged" in flagged_already
    assert "pattern_match:^test-" in flagged_already


def test_the_pattern_tester_reports_a_pattern_re2_refuses(desk):
    page = desk.client("vic").get("/settings", params={"month": MONTH, "pattern": "(?<=i-)good"})
    assert page.status_code == 400
    assert "invalid regular expression &#39;(?&lt;=i-)good&#39;" in page.text and "no backreferences" in page.text
    assert 'value="(?&lt;=i-)good"' in page.text  # the form keeps it, to be corrected
    bad_month = desk.client("vic").get("/settings", params={"month": "01/2025", "pattern": "x"})
    assert bad_month.status_code == 400 and "is not a billing month" in bad_month.text
