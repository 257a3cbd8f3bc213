"""`ocb unbilled -p M`: what the month imported and did not bill, by source and reason, with the totals."""

from __future__ import annotations

import click

from ocb_pipelines.app import app_context
from ocb_pipelines.cli.common import (
    CliError,
    config_option,
    emit_json,
    json_option,
    period_key,
    period_option,
    settings_or_exit,
)
from ocb_pipelines.core.money import format_money
from ocb_pipelines.services import unbilled as svc


@click.command("unbilled")
@period_option
@click.option("--csv", "write_csv", is_flag=True,
              help="Also write the detailed lines as unbilled_<month>.csv into output.journal_dir (as the "
                   "unbilled_report asset does): never overwritten, nothing written when identical to the latest.")
@config_option
@json_option
def unbilled_command(period, write_csv, config_path, as_json):
    """Every charge of the month that was imported but not billed to a PI's project (rejected, pending, ownerless,
    zero-priced), with its money and reason, grouped by source and reason; the totals show imported = approved +
    pending + rejected."""
    settings = settings_or_exit(config_path)
    month = period_key(period)
    ctx = app_context(settings)
    try:
        if write_csv:
            report, written = svc.write_unbilled_csv(ctx, month)
        else:
            report, written = svc.unbilled_report(ctx, month), None
    except svc.UnbilledRefused as exc:
        raise CliError(str(exc)) from None
    csv_info = {"file": written.path, "status": written.status, "sha256": written.sha256} if written else None
    if as_json:
        emit_json({"ok": True, **report.as_dict(), "currency": settings.currency.code, "csv": csv_info})
        return
    symbol = settings.currency.symbol
    click.echo(f"{month} ({report.period_status}): unbilled charges by source and reason")
    groups = report.groups
    if not groups:
        click.echo("  (none: every imported charge is billed to a PI's project)")
    for g in groups:
        click.echo(f"  {g.source:<16} {g.reason:<12} {g.charges:>6} charge(s)  billed "
                   f"{format_money(g.billed, symbol):>14}  list {format_money(g.list_total, symbol):>14}")
    for line in report.describe(symbol):
        click.echo(f"  {line}")
    for problem in report.problems(symbol):
        click.echo(f"  warning: {problem}")
    if written:
        verb = "unchanged (identical to the latest)" if written.status == "unchanged" else "written"
        click.echo(f"  CSV {verb}: {written.path}")
