"""`ocb export-journal`: the month's GL journal for accounting, or another layout of it, via the journal service.

The GL journal runs `journal_job` (the `gl_journal` asset) in the shared Dagster instance, so every GL export
shows in the UI's run list and the asset's history; the other layouts are exports made by the service
(services/journal.py) and leave the asset alone.
"""

from __future__ import annotations

import click

from ocb_pipelines.app import app_context
from ocb_pipelines.cli.common import (
    CliError,
    config_option,
    emit_json,
    json_option,
    period_key,
    settings_or_exit,
)
from ocb_pipelines.core.money import format_money
from ocb_pipelines.services import journal as svc


@click.command("export-journal")
@click.option("-p", "--period", required=True, help="Billing month YYYY-MM (closed or finalized).")
@click.option("-f", "--format", "fmt", type=click.Choice(svc.FORMATS), default="gl", show_default=True,
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
    try:
        export = svc.export_journal_file(app_context(settings), month, fmt, output_dir)
    except svc.JournalExportRefused as exc:
        raise CliError(str(exc), exc.problems) from None
    if as_json:
        emit_json({"ok": True, "period": month, "run_id": export.run_id, "currency": settings.currency.code,
                   **export.details()})
        return
    symbol = settings.currency.symbol
    verb = "unchanged (identical to the last export)" if export.status == "unchanged" else "written"
    click.echo(f"{month} {fmt} journal {verb}: {export.file}")
    click.echo(f"  {export.lines} line(s) from {export.charges} charge(s); approved total "
               f"{format_money(export.approved_total, symbol)}")
    if export.debit_total is not None:
        click.echo(f"  debits {format_money(export.debit_total, symbol)} = credits "
                   f"{format_money(export.credit_total, symbol)}")
    click.echo(f"  sha256 {export.sha256}")
