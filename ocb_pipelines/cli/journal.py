"""`ocb export-journal`: the month's GL journal for accounting, through the same asset as the Dagster UI.

Runs `journal_job` (the `gl_journal` asset) in the shared Dagster instance, so every export shows in
the UI's run list and the asset's history; then reports the export recorded for that run.
"""

from __future__ import annotations

import json

import click

from ocb_pipelines.cli.common import (
    CliError,
    config_option,
    emit_json,
    json_option,
    period_key,
    run_job,
    settings_or_exit,
)
from ocb_pipelines.core.money import format_money
from ocb_pipelines.ledger.journal import FORMATS
from ocb_pipelines.ledger.targets import as_option
from ocb_pipelines.warehouse import database as wh


@click.command("export-journal")
@click.option("-p", "--period", required=True, help="Billing month YYYY-MM (closed or finalized).")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="gl", show_default=True,
              help="gl: the balanced journal from journal.template; standard: one line per charge; "
                   "summary: one line per PI, project and fund; openchargeback: OpenChargeback's default "
                   "columns (one line per PI, project and service, with a resource count).")
@click.option("-o", "--output", "output_dir", type=click.Path(), default=None,
              help="A file to write (a name with a suffix, e.g. journal.csv; refused if it exists) or a folder "
                   "to write into (an existing folder, a name ending in /, or a name without a suffix). "
                   "Default: output.journal_dir.")
@config_option
@json_option
def export_journal_command(period, fmt, output_dir, config_path, as_json):
    """Export a month's journal. Never overwrites: in a folder a new export gets the next free name (_2, _3, ...),
    and a named file that exists is refused; an export identical to the last one is reported as unchanged and
    writes nothing."""
    settings = settings_or_exit(config_path)
    month = period_key(period)
    actor = wh.current_actor()
    out = as_option(output_dir) if output_dir else ""
    run = run_job(settings, "journal_job", month, actor, run_config={
        "ops": {"gl_journal": {"config": {"format": fmt, "output_dir": out, "actor": actor}}}})
    with wh.connect(settings.warehouse_path) as con:
        if not run["success"]:
            refusal = con.execute(
                "SELECT details FROM audit_events WHERE run_id = ? AND action = 'journal_export_refused' "
                "ORDER BY event_id DESC LIMIT 1",
                [run["run_id"]],
            ).fetchall()
            message = run["error"]
            problems = json.loads(refusal[0][0])["problems"] if refusal else message.splitlines()[1:]
            raise CliError(message, [p.strip().removeprefix("- ") for p in problems])
        rows = con.execute(
            "SELECT details FROM audit_events WHERE run_id = ? AND action = 'journal_export' "
            "ORDER BY event_id DESC LIMIT 1",
            [run["run_id"]],
        ).fetchall()
    details = json.loads(rows[0][0])
    if as_json:
        emit_json({"ok": True, "period": month, "run_id": run["run_id"], "currency": settings.currency.code,
                   **details})
        return
    symbol = settings.currency.symbol
    verb = "unchanged (identical to the last export)" if details["status"] == "unchanged" else "written"
    click.echo(f"{month} {fmt} journal {verb}: {details['file']}")
    click.echo(f"  {details['lines']} line(s) from {details['charges']} charge(s); approved total "
               f"{format_money(details['approved_total'], symbol)}")
    if details.get("debit_total") is not None:
        click.echo(f"  debits {format_money(details['debit_total'], symbol)} = credits "
                   f"{format_money(details['credit_total'], symbol)}")
    click.echo(f"  sha256 {details['sha256']}")
