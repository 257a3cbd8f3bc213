"""`ocb import-history`: OpenChargeback's past months (its billing.db) as finalized billing months."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from ocb_pipelines.app import app_context
from ocb_pipelines.cli.common import CliError, config_option, emit_json, json_option, period_key, settings_or_exit
from ocb_pipelines.core.money import format_money
from ocb_pipelines.history.openchargeback import HistoryResult
from ocb_pipelines.history.openchargeback_db import HistoryError
from ocb_pipelines.services.history import import_openchargeback_history


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CliError(f"--timezone {name!r} is not an IANA time zone (e.g. UTC, America/New_York)") from None


def _report(result: HistoryResult, symbol: str) -> None:
    version = f"schema v{result.schema_version}" if result.schema_version else "schema version unknown"
    click.echo(f"{result.database} (OpenChargeback, {version}): {len(result.months)} month(s)")
    for m in result.months:
        if m.status == "imported":
            click.echo(f"  {m.period}  imported   {m.charges:,} charge(s) {format_money(m.billed_total, symbol)} = "
                       f"approved {format_money(m.approved_total, symbol)} + pending "
                       f"{format_money(m.pending_total, symbol)} + rejected {format_money(m.rejected_total, symbol)}; "
                       f"{m.decisions} decision(s), {m.statements} statement(s), {m.emails} email(s), "
                       f"{m.journal_exports} journal export(s); {m.message}")
        else:
            click.echo(f"  {m.period}  {m.status:9}  {m.message}")
        for warning in m.warnings:
            click.echo(f"      note: {warning}")
    if result.unplaced_emails:
        click.echo(f"note: {result.unplaced_emails} email log row(s) name no statement or month of their recipient; "
                   "they stay in OpenChargeback")
    if result.months and all(m.status in ("unchanged", "skipped") for m in result.months):
        click.echo("nothing changed: every past month was already imported")


@click.command("import-history")
@click.argument("database", type=click.Path(dir_okay=False))
@click.option("-p", "--period", "periods", multiple=True,
              help="Only this month (repeatable; default: every closed or finalized month).")
@click.option("--timezone", "zone", default="UTC", show_default=True,
              help="The time zone OpenChargeback's server wrote its local times in (IANA name).")
@click.option("--init", "init", is_flag=True, help="Create the warehouse first if it does not exist yet.")
@config_option
@json_option
def import_history_command(database, periods, zone, init, config_path, as_json):
    """Bring OpenChargeback's history (its billing.db, opened read-only) in: each closed or finalized month becomes
    a finalized month here with its charges, review decisions, statements, email log and journal exports."""
    settings = settings_or_exit(config_path, new_warehouse_ok=init)
    months = tuple(period_key(p) for p in periods)
    tz = _zone(zone)
    try:
        result = import_openchargeback_history(app_context(settings), database, periods=months, zone=tz)
    except HistoryError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        emit_json(result.as_dict())
    else:
        _report(result, settings.currency.symbol)
    if result.refused:
        names = ", ".join(m.period for m in result.refused)
        raise CliError(f"{len(result.refused)} month(s) refused: {names} (the others were imported)", reported=True)
