"""Delivery tests reuse the statement fixtures, plus a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy

import pytest

from ocb_pipelines_tests.smtp import running_smtp
from ocb_pipelines_tests.statements.conftest import MONTH, closed_month, load_month, make_settings, month_rows  # noqa: F401


class Sink:
    """Keeps every message; `fail_next` makes the server refuse the next N messages (554)."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.raw: list[bytes] = []  # each message's DATA as received on the wire
        self.fail_next = 0

    async def handle_DATA(self, server, session, envelope):
        if self.fail_next:
            self.fail_next -= 1
            return "554 Transaction failed: test refusal"
        self.raw.append(envelope.original_content)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


@pytest.fixture
def smtp_server():
    sink = Sink()
    with running_smtp(sink) as port:
        yield sink, port


@pytest.fixture
def smtp_settings(tmp_path, monkeypatch, smtp_server):
    _sink, port = smtp_server
    monkeypatch.setenv("OCB_SMTP_HOST", "127.0.0.1")
    settings = make_settings(tmp_path, monkeypatch)
    smtp = settings.smtp.model_copy(update={"port": port, "use_tls": False, "timeout_seconds": 5})
    return settings.model_copy(update={"dev_mode": False, "smtp": smtp})
