"""`ocb ingest`: import FOCUS files through the same assets, in the same Dagster instance, as the UI."""

from __future__ import annotations

from pathlib import Path

import click

from ocb_pipelines.app import app_context
from ocb_pipelines.cli.common import CliError, config_option, emit_json, json_option, settings_or_exit
from ocb_pipelines.cli.progress import displaying, progress_option, quiet_option, wanted
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.core.money import format_money
from ocb_pipelines.ingest.focus import month_key
from ocb_pipelines.ingest.legacy_layout import describe_fills
from ocb_pipelines.services.imports import import_files, plan_import


def _print_summary(summary: dict, settings: OcbSettings) -> None:
    symbol = settings.currency.symbol
    title = "Import summary (dry run: nothing written)" if summary.get("dry_run") else "Import summary"
    click.echo(title)
    for f in summary["files"]:
        if "refused" in f["status"]:
            click.echo(f"  REFUSED  {f['file']}")
            for line in f["errors"][:12]:
                click.echo(f"           {line}")
            continue
        if f["status"] == ["duplicate"]:
            click.echo(f"  {'skipped':9} {f['file']}  source={f['source']}  periods={','.join(f['periods'])}  "
                       f"duplicate of {', '.join(f['duplicate_of'])} (same content): skipped, not doubled")
            continue
        twins = f"  (duplicate of {', '.join(f['duplicate_of'])} in some periods)" if f["duplicate_of"] else ""
        click.echo(
            f"  {'/'.join(f['status']):9} {f['file']}  source={f['source']}  periods={','.join(f['periods'])}  "
            f"rows={f['rows']:,}  billed={format_money(f['billed_total'], symbol)}  "
            f"flagged={f['flagged_rows']:,} ({format_money(f['flagged_billed'], symbol)}){twins}"
        )
        if f["filled_columns"]:
            click.echo(f"{'':11}filled (OpenChargeback layout): {'; '.join(describe_fills(f['filled_columns']))}")
        for note in f["notes"]:
            click.echo(f"{'':11}{note}")
    booked = sorted({a["booked_month"] for f in summary["files"] for a in f.get("adjustments", ())})
    click.echo(
        f"Total: {summary['rows']:,} rows, billed {format_money(summary['billed_total'], symbol)}, "
        f"list {format_money(summary['list_total'], symbol)}, flagged {summary['flagged_rows']:,} rows "
        f"({format_money(summary['flagged_billed'], symbol)}) in {', '.join(summary['periods']) or 'no period'}"
        + (f" (late data: its adjustment lines in {', '.join(booked)})" if booked else "")
    )
    for f in summary["files"]:
        if "refused" not in f["status"]:
            for line in f.get("errors", []):
                click.echo(f"  PROBLEM  {line}")
    refused = sum(1 for f in summary["files"] if "refused" in f["status"])
    if refused:
        click.echo(f"{refused} file(s) refused; nothing of them was imported.")


@click.command("ingest")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-s", "--source", default=None, help="Source name (default: from imports.known_sources patterns).")
@click.option("-p", "--period", default=None, help="Expected billing month YYYY-MM; other months' rows are flagged.")
@click.option("--dry-run", is_flag=True, help="Read, gate and validate, but write nothing.")
@click.option("--init", "init", is_flag=True,
              help="First run: create the warehouse at database.path (refused without it when it does not exist).")
@progress_option
@quiet_option
@config_option
@json_option
def ingest_command(files, source, period, dry_run, init, show_progress, quiet, config_path, as_json):
    """Import FOCUS files (CSV, CSV.gz, Parquet) into their billing months and validate them.

    Exit code 0 only when every file was imported (or was already there)."""
    settings = settings_or_exit(config_path, new_warehouse_ok=init or dry_run)
    if period:
        try:
            month_key(period)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    ctx = app_context(settings)
    plan = plan_import(ctx, [Path(f) for f in files], source)
    with displaying(wanted(show_progress, as_json, quiet), files_total=plan.steps(dry_run)):
        summary = import_files(ctx, plan, expected_period=period, dry_run=dry_run)
    if as_json:
        emit_json(summary)
    elif not quiet:
        _print_summary(summary, settings)
    if summary.get("error"):
        raise CliError(summary["error"], reported=True)
