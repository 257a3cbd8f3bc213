"""`ocb periods`: list billing months and move them through open -> closed -> finalized (or reopen)."""

from __future__ import annotations

import click

from ocb_pipelines.app import app_context
from ocb_pipelines.cli.common import (
    CliError,
    config_option,
    emit_json,
    json_option,
    settings_or_exit,
)
from ocb_pipelines.services import periods as svc

notes_option = click.option("--notes", "-n", default=None, help="A note kept with the month (appended, never lost).")


def _show(period: svc.Period, as_json: bool, verb: str) -> None:
    if as_json:
        emit_json({"ok": True, **period.as_dict()})
    else:
        click.echo(f"billing month {period.period} {verb} (status: {period.status})")


def _run(config_path: str | None, as_json: bool, verb: str, call) -> None:
    ctx = app_context(settings_or_exit(config_path))
    try:
        result = call(ctx)
    except svc.PeriodTransitionError as exc:
        raise CliError(str(exc)) from None
    _show(result, as_json, verb)


@click.group("periods")
def periods_group() -> None:
    """Billing months: open -> closed -> finalized; reopen a closed month with a reason."""


@periods_group.command("list")
@config_option
@json_option
def list_command(config_path, as_json):
    """Every billing month with its status, who changed it and when, and its notes."""
    periods = svc.list_periods(app_context(settings_or_exit(config_path)))
    if as_json:
        emit_json({"periods": [p.as_dict() for p in periods]})
        return
    if not periods:
        click.echo("no billing months yet")
    for p in periods:
        who = f"opened {p.opened_at:%Y-%m-%d} by {p.opened_by}"
        if p.closed_at:
            who += f"; closed {p.closed_at:%Y-%m-%d} by {p.closed_by}"
        if p.reopened_at:
            who += f"; reopened {p.reopened_at:%Y-%m-%d} by {p.reopened_by} ({p.reopen_reason})"
        if p.finalized_at:
            who += f"; finalized {p.finalized_at:%Y-%m-%d} by {p.finalized_by}"
        click.echo(f"{p.period}  {p.status:9}  {who}")
        for line in (p.notes or "").splitlines():
            click.echo(f"           {line}")


@periods_group.command("open")
@click.argument("period")
@notes_option
@config_option
@json_option
def open_command(period, notes, config_path, as_json):
    """Create a billing month (open). A closed month needs `reopen` with a reason."""
    _run(config_path, as_json, "is open", lambda ctx: svc.open_period(ctx, period, notes))


@periods_group.command("close")
@click.argument("period")
@notes_option
@click.option("--allow-provisional", is_flag=True, default=False,
              help="Close although provisional rows (FOCUS 1.4 BillingPeriodStatus Open) remain; needs --reason.")
@click.option("--reason", "-r", default=None, help="Why the month closes with provisional rows (kept and audited).")
@config_option
@json_option
def close_command(period, notes, allow_provisional, reason, config_path, as_json):
    """Close a billing month: nothing may be pending review and no row provisional (FOCUS 1.4 BillingPeriodStatus
    Open) unless --allow-provisional --reason "..."; imports and decisions stop. Its approved charges are rebuilt
    first, so statements and the journal see every import and decision made before the close."""
    if allow_provisional and not (reason or "").strip():
        raise CliError(f"--allow-provisional needs a reason: ocb periods close {period} --allow-provisional "
                       "--reason \"why the month closes before the provider's final data\"")
    if reason and not allow_provisional:
        raise CliError("--reason goes with --allow-provisional (a note on the close is --notes)")
    ctx = app_context(settings_or_exit(config_path))
    try:
        closed = svc.close_period(ctx, period, notes, provisional_reason=reason if allow_provisional else None)
    except svc.PeriodTransitionError as exc:
        raise CliError(str(exc)) from None
    if as_json:  # the reconciliation the close was checked on, in its own transaction
        emit_json({"ok": True, **closed.as_dict()})
        return
    click.echo(f"billing month {closed.period.period} is closed (status: {closed.period.status})")
    click.echo(f"reconciled: {closed.reconciliation.describe(ctx.settings.currency.symbol)}")


@periods_group.command("reopen")
@click.argument("period")
@click.option("--reason", "-r", default=None, help="Why the month is reopened (required).")
@config_option
@json_option
def reopen_command(period, reason, config_path, as_json):
    """Reopen a closed billing month (a reason is required and kept)."""
    _run(config_path, as_json, "is open again", lambda ctx: svc.reopen_period(ctx, period, reason))


@periods_group.command("finalize")
@click.argument("period")
@notes_option
@config_option
@json_option
def finalize_command(period, notes, config_path, as_json):
    """Finalize a closed billing month (statements generated; it never changes again)."""
    _run(config_path, as_json, "is finalized", lambda ctx: svc.finalize_period(ctx, period, notes))
