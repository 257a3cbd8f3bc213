"""Delivery: a real SMTP server on 127.0.0.1, the outbox in dev mode, no double send, resend, failures."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json

import dagster as dg
import pytest
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.delivery import log
from ocb_pipelines.delivery.deliver import deliver_month
from ocb_pipelines.delivery.email import DeliveryError, SmtpTransport
from ocb_pipelines.periods.lifecycle import finalize_period, reopen_period
from ocb_pipelines.statements.generate import StatementPeriodError, generate_statements
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines.warehouse.schema import delivery as delivery_schema

from .conftest import MONTH, load_month, month_rows


def _generate(settings):
    load_month(settings, month_rows())
    with wh.connect(settings.warehouse_path) as con:
        return generate_statements(con, settings, MONTH, workers=1)


def _deliver(settings, **kwargs):
    with wh.connect(settings.warehouse_path) as con:
        return deliver_month(con, settings, MONTH, **kwargs)


def _log(settings):
    with wh.connect(settings.warehouse_path) as con:
        log.ensure_tables(con)
        return log.month_log(con, MONTH)


def test_smtp_delivery_recipients_attachments_and_bodies(smtp_settings, smtp_server):
    sink, _port = smtp_server
    generated = _generate(smtp_settings)
    result = _deliver(smtp_settings)
    assert result.summary() == {"sent": 2}, result.items
    assert sorted(r for rcpts, _ in sink.messages for r in rcpts) == ["pi.one@example.edu", "pi.two@example.edu"]
    msg = next(m for rcpts, m in sink.messages if rcpts == ["pi.one@example.edu"])
    assert msg["Subject"] == "Research Computing Charges - 2025-01"
    assert msg["From"] == "Research Computing Billing <rc-billing@example.edu>"
    assert msg["Message-ID"].startswith("<ocb.2025-01.")
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "proj-a" in text and "$94.50" in text and "ABC-123456 (78.84%)" in text
    assert "<table" in html and "proj-a" in html and "$94.50" in html
    attachments = {a.get_filename(): a.get_content() for a in msg.iter_attachments()}
    outcome = next(o for o in generated.outcomes if o.statement.project_id == "proj-a")
    assert set(attachments) == {outcome.pdf_path.name, outcome.csv_path.name}
    assert hashlib.sha256(attachments[outcome.pdf_path.name]).hexdigest() == outcome.pdf_sha256
    rows = _log(smtp_settings)
    assert {r["status"] for r in rows} == {"sent"} and all(r["finished_at"] for r in rows)
    assert any(outcome.pdf_sha256 in r["attachments"] for r in rows)


def test_smtp_lines_end_in_crlf_and_a_default_aiosmtpd_takes_every_email(smtp_settings, smtp_server):
    """Regression: smtplib sends bytes as given, so `msg.as_bytes()` went out with bare LFs and aiosmtpd with its
    default settings (RFC 5321 line limit) refused every email as "500 Line too long"."""
    import smtplib

    sink, port = smtp_server
    _generate(smtp_settings)
    assert _deliver(smtp_settings).summary() == {"sent": 2}
    assert len(sink.raw) == 2
    for raw in sink.raw:
        lines = raw.split(b"\r\n")
        assert all(b"\n" not in line and b"\r" not in line for line in lines)  # no bare LF or CR anywhere
        assert max(len(line) for line in lines) <= 998
    # The server really is strict: the bare-LF form of the same email is refused.
    msg = email.message_from_bytes(sink.raw[0], policy=email.policy.default)
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client, pytest.raises(smtplib.SMTPDataError, match="too long"):
        client.sendmail("rc-billing@example.edu", ["pi.one@example.edu"], msg.as_bytes().replace(b"\r\n", b"\n"))


def test_no_second_send_on_retry_and_resend_works(smtp_settings, smtp_server):
    sink, _port = smtp_server
    _generate(smtp_settings)
    _deliver(smtp_settings)
    again = _deliver(smtp_settings)
    assert again.summary() == {"already_sent": 2} and len(sink.messages) == 2
    resent = _deliver(smtp_settings, resend_pis=["pi.two@example.edu"], resend_reason="PI lost it")
    assert resent.summary() == {"sent": 1} and len(sink.messages) == 3
    assert sink.messages[-1][0] == ["pi.two@example.edu"]
    rows = _log(smtp_settings)
    assert [r["resend"] for r in rows if r["recipient"] == "pi.two@example.edu"] == [False, True]
    with pytest.raises(DeliveryError, match="no statements"):
        _deliver(smtp_settings, resend_pis=["nobody@example.edu"], resend_reason="x")


def test_crash_between_send_and_log_never_sends_twice(smtp_settings, smtp_server, monkeypatch):
    sink, _port = smtp_server
    _generate(smtp_settings)

    def crash(*args, **kwargs):  # the message went out, then the process died before logging the outcome
        raise SystemExit("killed")

    monkeypatch.setattr(log, "record_outcome", crash)
    with pytest.raises(SystemExit):
        _deliver(smtp_settings)
    monkeypatch.undo()
    assert len(sink.messages) == 1
    assert [r["status"] for r in _log(smtp_settings)] == ["sending"]  # the intent was committed first
    retry = _deliver(smtp_settings)
    assert retry.summary() == {"uncertain": 1, "sent": 1}
    assert len(sink.messages) == 2  # only the PI that had not been attempted
    uncertain = next(i for i in retry.items if i["status"] == "uncertain")
    assert "ocb resend" in uncertain["note"]
    _deliver(smtp_settings, resend_pis=[uncertain["pi_email"]], resend_reason="not in the mail log")
    assert len(sink.messages) == 3


def _cli(settings, *args):
    result = CliRunner().invoke(cli, [*args, "-c", str(settings.config_path), "--json"])
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


def test_uncertain_delivery_confirmed_as_delivered_is_never_sent_again(smtp_settings, smtp_server, monkeypatch):
    sink, _port = smtp_server
    _generate(smtp_settings)
    monkeypatch.setattr(log, "record_outcome", lambda *a, **k: (_ for _ in ()).throw(SystemExit("killed")))
    with pytest.raises(SystemExit):
        _deliver(smtp_settings)  # handed to the server, then killed before the outcome was logged
    monkeypatch.undo()
    assert "ocb deliveries confirm" in next(i for i in _deliver(smtp_settings).items
                                            if i["status"] == "uncertain")["note"]
    result, listed = _cli(smtp_settings, "deliveries", "list", "-p", MONTH, "--status", "uncertain")
    assert result.exit_code == 0, result.output
    [uncertain] = listed["deliveries"]
    assert uncertain["status"] == "sending" and uncertain["confirmed_by"] is None

    monkeypatch.setenv("OCB_ACTOR", "mail-admin")
    result, confirmed = _cli(smtp_settings, "deliveries", "confirm", "-p", MONTH, "--message-id",
                             uncertain["message_id"], "--reason", "postfix log: status=sent (250 2.0.0 Ok)")
    assert result.exit_code == 0, result.output
    assert confirmed["delivery"]["status"] == "sent" and confirmed["delivery"]["was"] == "sending"
    assert confirmed["delivery"]["confirmed_by"] == "mail-admin"

    before = len(sink.messages)
    again = _deliver(smtp_settings)
    assert again.summary() == {"already_sent": 2} and len(sink.messages) == before  # skipped, not re-sent
    with wh.connect(smtp_settings.warehouse_path) as con:
        [(details,)] = con.execute("SELECT details FROM audit_events WHERE action = 'delivery_confirmed'").fetchall()
    assert json.loads(details)["reason"].startswith("postfix log") and json.loads(details)["was"] == "sending"

    # Only an uncertain attempt can be confirmed, and the refusal is one line that changes nothing.
    result, refused = _cli(smtp_settings, "deliveries", "confirm", "-p", MONTH, "--message-id",
                           uncertain["message_id"], "--reason", "again")
    assert result.exit_code != 0 and refused["ok"] is False and "'sent', not uncertain" in refused["error"]
    result, refused = _cli(smtp_settings, "deliveries", "confirm", "-p", MONTH, "--message-id", "<nope@x>",
                           "--reason", "r")
    assert result.exit_code != 0 and "no delivery with Message-ID <nope@x>" in refused["error"]


def test_smtp_failure_is_logged_and_retried(smtp_settings, smtp_server):
    sink, _port = smtp_server
    _generate(smtp_settings)
    sink.fail_next = 1
    first = _deliver(smtp_settings)
    assert first.summary() == {"failed": 1, "sent": 1}
    failed = next(i for i in first.items if i["status"] == "failed")
    assert "554" in failed["error"]
    retry = _deliver(smtp_settings)
    assert retry.summary() == {"sent": 1, "already_sent": 1}
    assert sorted(r for rcpts, _ in sink.messages for r in rcpts) == ["pi.one@example.edu", "pi.two@example.edu"]
    assert [r["status"] for r in _log(smtp_settings)] == ["failed", "sent", "sent"]


def test_unreachable_server_fails_without_leaking_the_password(smtp_settings):
    _generate(smtp_settings)
    smtp = smtp_settings.smtp.model_copy(update={"port": 1, "username": "user", "password": "s3cret-pw"})
    settings = smtp_settings.model_copy(update={"smtp": smtp})
    result = _deliver(settings)
    assert result.summary() == {"failed": 2}
    rows = _log(settings)
    assert all("s3cret-pw" not in (r["error"] or "") for r in rows)
    assert "s3cret-pw" not in repr(settings.smtp)
    assert SmtpTransport(smtp, "a@example.edu").use_ssl is False
    assert SmtpTransport(smtp.model_copy(update={"port": 465}), "a@example.edu").use_ssl is True


def test_dev_mode_writes_eml_files_once(closed_month):
    settings = closed_month
    assert settings.dev_mode
    with wh.connect(settings.warehouse_path) as con:
        generate_statements(con, settings, MONTH, workers=1)
    first = _deliver(settings)
    assert first.summary() == {"written": 2}
    files = sorted((settings.output.email_dir / MONTH).glob("*.eml"))
    assert len(files) == 2
    data = files[0].read_bytes()
    assert b"\r" not in data  # a local mail file: LF line endings throughout (the SMTP wire form has CRLF)
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg.get_body(("plain",)).get_content().startswith("Research Computing Charges - 2025-01\n")
    assert msg["To"] in ("pi.one@example.edu", "pi.two@example.edu")
    assert len(list(msg.iter_attachments())) == 2
    assert _deliver(settings).summary() == {"already_sent": 2}
    assert len(list((settings.output.email_dir / MONTH).glob("*.eml"))) == 2
    assert _deliver(settings, dry_run=True).summary() == {"already_sent": 2}


def test_changed_content_is_sent_again_and_stale_statements_are_refused(closed_month):
    settings = closed_month
    with wh.connect(settings.warehouse_path) as con:
        generate_statements(con, settings, MONTH, workers=1)
    assert _deliver(settings).summary() == {"written": 2}
    with wh.connect(settings.warehouse_path) as con:
        reopen_period(con, MONTH, "tester", "late credit")
    load_month(settings, [*month_rows(), *[r | {"ResourceId": "late", "BilledCost": "-1.00"}
                                           for r in month_rows()[:1]]])
    with pytest.raises(DeliveryError, match="out of date"):
        _deliver(settings)
    with wh.connect(settings.warehouse_path) as con:
        generate_statements(con, settings, MONTH, workers=1)
    # new content (the corrected file's lines and sha256 are on both statements): sent once more, then never again
    assert _deliver(settings).summary() == {"written": 2}
    assert _deliver(settings).summary() == {"already_sent": 2}


def test_send_job_in_dagster_and_failed_send_fails_the_run(smtp_settings, smtp_server, tmp_path):
    sink, port = smtp_server
    _generate(smtp_settings)
    text = smtp_settings.config_path.read_text(encoding="utf-8").replace("dev_mode: true", "dev_mode: false")
    text = text.replace("port: 587", f"port: {port}").replace("use_tls: true", "use_tls: false")
    smtp_settings.config_path.write_text(text, encoding="utf-8")
    defs = build_definitions(smtp_settings.config_path)
    job = defs.resolve_job_def("send_job")
    with dg.instance_for_test() as instance:
        sink.fail_next = 1
        failed = job.execute_in_process(partition_key=MONTH, instance=instance, raise_on_error=False)
        ok = job.execute_in_process(partition_key=MONTH, instance=instance)
    assert not failed.success and len(sink.messages) == 2
    (event,) = ok.get_asset_materialization_events()
    assert event.materialization.metadata["sent"].value == 1
    assert event.materialization.metadata["already_sent"].value == 1


def test_a_delivery_log_from_before_confirmations_gains_the_columns_and_keeps_its_rows(tmp_path):
    db = tmp_path / "w.duckdb"
    with wh.connect(db) as con:
        con.execute("DROP TABLE delivery_log")
        con.execute(delivery_schema.DDL)  # the table as the first release created it
        con.execute(
            "INSERT INTO delivery_log (billing_month, pi_email, recipient, content_key, attempt, message_id, subject, "
            "attachments, statement_count, transport, status, resend, requested_by, started_at) VALUES ('2025-01', "
            "'a@x.edu', 'a@x.edu', 'k', 1, '<m@x>', 's', '[]', 1, 'smtp', 'unknown', false, 'ops', now())")
        assert "confirmed_by" not in [c[0] for c in con.execute("DESCRIBE delivery_log").fetchall()]
    with wh.connect(db) as con:  # opening the warehouse upgrades it
        log.ensure_tables(con)  # idempotent
        [row] = log.month_log(con, "2025-01")
        assert row["status"] == "unknown" and row["confirmed_by"] is None
        done = log.confirm_delivered(con, "2025-01", "<m@x>", actor="ops", reason="in the mail log")
        assert done["status"] == "sent" and log.month_log(con, "2025-01")[0]["confirmed_reason"] == "in the mail log"


def test_a_finalized_month_is_sent_as_generated_after_the_configuration_changed(closed_month):
    """A finalized month cannot be generated again, so a change since (configuration, template, an upgrade's
    statement hash) must not strand it: its stored statements go out, byte for byte, and a resend works."""
    settings = closed_month
    with wh.connect(settings.warehouse_path) as con:
        generated = generate_statements(con, settings, MONTH, workers=1)
        finalize_period(con, MONTH, "tester")
    changed = settings.model_copy(update={"email": settings.email.model_copy(
        update={"organization_address": "1 New Building, Campus"})})
    with wh.connect(settings.warehouse_path) as con, pytest.raises(StatementPeriodError, match="finalized"):
        generate_statements(con, changed, MONTH, workers=1)
    assert _deliver(changed).summary() == {"written": 2}
    assert _deliver(changed).summary() == {"already_sent": 2}
    resent = _deliver(changed, resend_pis=["pi.one@example.edu"], resend_reason="the PI lost the email")
    assert resent.summary() == {"written": 1}
    sent = {o.pdf_sha256 for o in generated.outcomes}
    for eml in (changed.output.email_dir / MONTH).glob("*.eml"):
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        pdfs = [a.get_content() for a in message.iter_attachments() if a.get_filename().endswith(".pdf")]
        assert pdfs and all(hashlib.sha256(pdf).hexdigest() in sent for pdf in pdfs)
