"""`ocb audit`: who did what, when (imports, decisions, sheets, period changes)."""

from __future__ import annotations

import click

from ocb_pipelines.app import app_context
from ocb_pipelines.cli.common import CliError, config_option, emit_json, json_option, period_key, settings_or_exit
from ocb_pipelines.services.audit_log import audit_events


@click.command("audit")
@click.option("-p", "--period", default=None, help="Only events of this billing month.")
@click.option("--action", default=None, help="Only this action (e.g. review_approve, period_close).")
@click.option("--limit", type=int, default=None, help="Only the newest N events.")
@config_option
@json_option
def audit_command(period, action, limit, config_path, as_json):
    """List audit events, oldest first."""
    settings = settings_or_exit(config_path)
    try:
        page = audit_events(app_context(settings), period=period_key(period) if period else None, action=action,
                            limit=limit or None)
    except ValueError as exc:
        raise CliError(f"--limit: {exc}") from None
    events = page.events
    if as_json:
        emit_json({"events": events})
        return
    for ev in events:
        details = ", ".join(f"{k}={v}" for k, v in ev["details"].items() if k not in ("problems",))
        click.echo(f"{ev['occurred_at'][:19]}  {ev['actor']:12} {ev['action']:22} {ev['period'] or '-':8} "
                   f"{ev['subject'] or ''}  {details}")
        for problem in ev["details"].get("problems", []):
            click.echo(f"      {problem}")
    if not events:
        click.echo("no audit events")
