"""`ocb send`, `ocb resend` and `ocb generate --send` fail while any email is left undelivered (issue 18, point 8).

Regression: `ocb send` exited 0 with `"ok": true` while deliveries were uncertain (and so undelivered), so cron
never noticed, and its human output printed a Python dict. Real aiosmtpd on 127.0.0.1 with its defaults.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.delivery import log
from ocb_pipelines.delivery.deliver import deliver_month
from ocb_pipelines.statements.generate import generate_statements
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH, load_month, month_rows


@pytest.fixture
def smtp_month(smtp_settings, smtp_server):
    """A closed month with statements, and the config file pointed at the test server (as the CLI reads it)."""
    _sink, port = smtp_server
    load_month(smtp_settings, month_rows())
    with wh.connect(smtp_settings.warehouse_path) as con:
        generate_statements(con, smtp_settings, MONTH, workers=1)
    path = smtp_settings.config_path
    text = path.read_text(encoding="utf-8").replace("dev_mode: true", "dev_mode: false")
    path.write_text(text.replace("port: 587", f"port: {port}").replace("use_tls: true", "use_tls: false"),
                    encoding="utf-8")
    return smtp_settings


def _ocb(settings, *args):
    return CliRunner().invoke(cli, [*args, "-c", str(settings.config_path)])


def _leave_one_uncertain(settings, monkeypatch) -> None:
    """The first email goes out, then the process dies before logging it: its attempt stays `sending`."""
    def crash(*args, **kwargs):
        raise SystemExit("killed")

    monkeypatch.setattr(log, "record_outcome", crash)
    with wh.connect(settings.warehouse_path) as con, pytest.raises(SystemExit):
        deliver_month(con, settings, MONTH)
    monkeypatch.undo()


def test_send_with_an_uncertain_delivery_fails_and_says_what_to_do(smtp_month, smtp_server, monkeypatch):
    sink, _port = smtp_server
    _leave_one_uncertain(smtp_month, monkeypatch)
    (uncertain,) = [r for r in _log_rows(smtp_month) if r["status"] == "sending"]

    result = _ocb(smtp_month, "send", "-p", MONTH, "--json")
    assert result.exit_code == 1, result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    assert payload["delivery_counts"] == {"delivered": 1, "uncertain": 1, "failed": 0, "not_sent": 0}
    assert [(r["pi_email"], r["state"], r["message_id"]) for r in payload["not_delivered"]] == [
        (uncertain["recipient"], "uncertain", uncertain["message_id"])]
    assert len(sink.messages) == 2  # the other PI was sent; the uncertain one was not sent again

    human = _ocb(smtp_month, "send", "-p", MONTH)
    assert human.exit_code == 1
    assert f"{MONTH}: 2 PI(s): 1 delivered, 1 uncertain, 0 failed, 0 not sent" in human.stdout
    assert "ocb deliveries confirm" in human.stdout and "ocb resend" in human.stdout
    assert uncertain["message_id"] in human.stdout
    assert "{" not in human.stdout  # no Python dict
    assert "1 email(s) for 2025-01 not delivered" in human.stderr
    assert len(sink.messages) == 2

    confirmed = _ocb(smtp_month, "deliveries", "confirm", "-p", MONTH, "--message-id", uncertain["message_id"],
                     "--reason", "postfix log: status=sent")
    assert confirmed.exit_code == 0, confirmed.output
    done = _ocb(smtp_month, "send", "-p", MONTH)
    assert done.exit_code == 0, done.output
    assert "nothing to send" in done.stdout.strip().splitlines()[-1] and "{" not in done.stdout


def test_failed_delivery_fails_send_and_generate_send_until_it_is_sent(smtp_month, smtp_server):
    sink, _port = smtp_server
    sink.fail_next = 1
    result = _ocb(smtp_month, "generate", "-p", MONTH, "--send", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False and payload["delivery_counts"]["failed"] == 1
    assert payload["not_delivered"][0]["state"] == "failed" and "554" in payload["not_delivered"][0]["error"]
    retried = _ocb(smtp_month, "send", "-p", MONTH)
    assert retried.exit_code == 0, retried.output
    assert f"{MONTH}: 2 PI(s): 2 delivered, 0 uncertain, 0 failed, 0 not sent" in retried.stdout
    assert len(sink.messages) == 2


def test_generate_send_with_an_uncertain_delivery_fails(smtp_month, smtp_server, monkeypatch):
    _leave_one_uncertain(smtp_month, monkeypatch)
    result = _ocb(smtp_month, "generate", "-p", MONTH, "--send")
    assert result.exit_code == 1
    assert "1 uncertain" in result.stdout and "ocb deliveries confirm" in result.stdout


def test_resend_reports_only_the_pis_it_was_asked_for(smtp_month, smtp_server, monkeypatch):
    sink, _port = smtp_server
    _leave_one_uncertain(smtp_month, monkeypatch)
    (uncertain,) = [r for r in _log_rows(smtp_month) if r["status"] == "sending"]
    resend = _ocb(smtp_month, "resend", "-p", MONTH, "--pi", uncertain["recipient"], "--reason", "not in the log",
                  "--json")
    assert resend.exit_code == 0, resend.output
    assert json.loads(resend.stdout)["delivery_counts"] == {"delivered": 1, "uncertain": 0, "failed": 0,
                                                            "not_sent": 0}
    assert len(sink.messages) == 2  # the resend only; the other PI was never attempted yet
    assert _ocb(smtp_month, "send", "-p", MONTH).exit_code == 0 and len(sink.messages) == 3


def _log_rows(settings):
    with wh.connect(settings.warehouse_path) as con:
        log.ensure_tables(con)
        return log.month_log(con, MONTH)
