"""`ocb deliveries`: the month's email attempts, and confirming one that was interrupted but did arrive."""

from __future__ import annotations

import click

from ocb_pipelines.cli.common import (
    CliError,
    config_option,
    emit_json,
    json_option,
    period_key,
    period_option,
    plain,
    settings_or_exit,
)
from ocb_pipelines.delivery.log import STATUS_FILTERS


def _context(settings):
    from ocb_pipelines.app import app_context  # imported late: it loads the Definitions

    return app_context(settings)


@click.group("deliveries")
def deliveries_group() -> None:
    """Email attempts of a month (the delivery log), and confirming an uncertain one as delivered."""


@deliveries_group.command("list")
@period_option
@click.option("--status", type=click.Choice(STATUS_FILTERS),
              default=None, help="Only attempts with this status (uncertain = sending or unknown).")
@config_option
@json_option
def list_command(period, status, config_path, as_json):
    """Every email attempt of the month, oldest first, with its Message-ID and outcome."""
    from ocb_pipelines.services.deliveries import list_deliveries

    settings = settings_or_exit(config_path)
    month = period_key(period)
    attempts = [plain(r) for r in list_deliveries(_context(settings), month, status)]
    if as_json:
        emit_json({"period": month, "deliveries": attempts})
        return
    if not attempts:
        click.echo(f"{month}: no email attempts" + (f" with status {status}" if status else ""))
    for a in attempts:
        note = f"  confirmed by {a['confirmed_by']}: {a['confirmed_reason']}" if a["confirmed_by"] else ""
        error = f"  ({a['error']})" if a["error"] else ""
        click.echo(f"{a['started_at'][:19]}  {a['status']:8} {a['recipient']}  {a['message_id']}{error}{note}")


@deliveries_group.command("confirm")
@period_option
@click.option("--message-id", required=True, help="The Message-ID of the interrupted attempt (ocb deliveries list).")
@click.option("--reason", required=True, help="How you know it arrived, e.g. the mail server's log line.")
@config_option
@json_option
def confirm_command(period, message_id, reason, config_path, as_json):
    """Mark an uncertain (interrupted) email as delivered, once the mail server's log shows it was: later sends
    then skip it. If it did not arrive, use `ocb resend` instead."""
    from ocb_pipelines.delivery.log import DeliveryLogError
    from ocb_pipelines.services.deliveries import confirm_delivery

    settings = settings_or_exit(config_path)
    month = period_key(period)
    try:
        done = confirm_delivery(_context(settings), month, message_id, reason)
    except DeliveryLogError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        emit_json({"ok": True, "period": month, "delivery": plain(done)})
        return
    click.echo(f"{month}: the email to {done['recipient']} ({done['message_id']}) is now {done['status']} "
               f"(was {done['was']}); confirmed by {done['confirmed_by']}")
