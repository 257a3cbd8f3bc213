"""`ocb generate --dry-run`, `ocb generate --send --json`, `ocb send`, `ocb resend` (dev-mode outbox)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ocb_pipelines.cli.main import cli

from .conftest import MONTH


def _run(settings, *args):
    result = CliRunner().invoke(cli, [*args, "-c", str(settings.config_path)], catch_exceptions=False)
    return result


def test_generate_dry_run_send_and_resend(closed_month):
    dry = _run(closed_month, "generate", "-p", MONTH, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    payload = json.loads(dry.output)
    assert payload["dry_run"] and len(payload["statements"]) == 2
    assert [e["status"] for e in payload["emails"]] == ["would_send", "would_send"]
    assert not (closed_month.output.email_dir / MONTH).exists()

    sent = _run(closed_month, "generate", "-p", MONTH, "--send", "--json")
    assert sent.exit_code == 0, sent.output
    payload = json.loads(sent.output)
    assert payload["rendered"] == 2 and sorted(e["status"] for e in payload["emails"]) == ["written", "written"]
    assert len(list((closed_month.output.email_dir / MONTH).glob("*.eml"))) == 2

    again = _run(closed_month, "send", "-p", MONTH)
    assert again.exit_code == 0 and "nothing to send" in again.output
    blank = _run(closed_month, "resend", "--pi", "pi.two@example.edu", "-p", MONTH, "--reason", " ")
    assert blank.exit_code == 1 and "a resend needs a note" in blank.output  # refused before any run
    resend = _run(closed_month, "resend", "--pi", "pi.two@example.edu", "-p", MONTH, "--json")
    assert resend.exit_code == 0, resend.output
    assert [e["status"] for e in json.loads(resend.output)["emails"]] == ["written"]
    assert len(list((closed_month.output.email_dir / MONTH).glob("*.eml"))) == 3

    finalize = _run(closed_month, "periods", "finalize", MONTH)
    assert finalize.exit_code == 0, finalize.output


def test_generate_refuses_an_open_month(settings):
    from .conftest import load_month, month_rows

    load_month(settings, month_rows(), close=False)
    result = _run(settings, "generate", "-p", MONTH)
    assert result.exit_code == 1 and "close it first" in result.output
