"""`ocb audit`: who did what, when (imports, decisions, sheets, period changes)."""

from __future__ import annotations

import json

import click

from ocb_pipelines.cli.common import config_option, emit_json, json_option, period_key, settings_or_exit
from ocb_pipelines.warehouse import database as wh


@click.command("audit")
@click.option("-p", "--period", default=None, help="Only events of this billing month.")
@click.option("--action", default=None, help="Only this action (e.g. review_approve, period_close).")
@click.option("--limit", type=int, default=None, help="Only the newest N events.")
@config_option
@json_option
def audit_command(period, action, limit, config_path, as_json):
    """List audit events, oldest first."""
    settings = settings_or_exit(config_path)
    where, params = ["TRUE"], []
    if period:
        period = period_key(period)
        where.append("period = ?")
        params.append(period)
    if action:
        where.append("action = ?")
        params.append(action)
    sql = (f"SELECT event_id, occurred_at, actor, action, period, run_id, subject, details FROM audit_events "
           f"WHERE {' AND '.join(where)} ORDER BY event_id DESC" + (f" LIMIT {int(limit)}" if limit else ""))
    with wh.connect(settings.warehouse_path) as con:
        rows = list(reversed(con.execute(sql, params).fetchall()))
    events = [
        {"event_id": e, "occurred_at": at.isoformat(sep=" "), "actor": who, "action": what, "period": p,
         "run_id": run, "subject": subject, "details": json.loads(details) if details else {}}
        for e, at, who, what, p, run, subject, details in rows
    ]
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
