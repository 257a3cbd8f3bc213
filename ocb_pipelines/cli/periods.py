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
@click.option("--allow-invoice-difference", is_flag=True, default=False,
              help="Close although an imported invoice (FOCUS 1.4 InvoiceDetail) differs from our charges of its "
                   "InvoiceId; needs --reason.")
@click.option("--reason", "-r", default=None,
              help="Why the month closes with provisional rows or an invoice difference (kept and audited).")
@config_option
@json_option
def close_command(period, notes, allow_provisional, allow_invoice_difference, reason, config_path, as_json):
    """Close a billing month: nothing may be pending review, no row provisional (FOCUS 1.4 BillingPeriodStatus
    Open) unless --allow-provisional --reason "...", and no imported invoice different from our charges unless
    --allow-invoice-difference --reason "..."; imports and decisions stop. Its approved charges are rebuilt first,
    so statements and the journal see every import and decision made before the close."""
    allowing = [flag for flag, on in (("--allow-provisional", allow_provisional),
                                      ("--allow-invoice-difference", allow_invoice_difference)) if on]
    if allowing and not (reason or "").strip():
        raise CliError(f"{' and '.join(allowing)} needs a reason: ocb periods close {period} {' '.join(allowing)} "
                       "--reason \"why the month closes anyway\"")
    if reason and not allowing:
        raise CliError("--reason goes with --allow-provisional or --allow-invoice-difference (a note on the close "
                       "is --notes)")
    ctx = app_context(settings_or_exit(config_path))
    try:
        closed = svc.close_period(ctx, period, notes, provisional_reason=reason if allow_provisional else None,
                                  invoice_reason=reason if allow_invoice_difference else None)
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
