"""`ocb generate`, `ocb send`, `ocb resend`: statements and their delivery.

The commands call the services (services/statements.py, services/deliveries.py): `generate` and `send` run the
same Dagster jobs as the UI (statements_job, send_job, generate_and_send_job) in the shared instance, tagged with
the actor, so every run shows in the UI; what was rendered and sent is read back by the services.
`generate --dry-run` writes nothing to the warehouse and materialises nothing: it renders every statement into a
preview folder and shows what would be sent.
"""

from __future__ import annotations

from typing import Any

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
from ocb_pipelines.cli.progress import displaying, progress_option, quiet_option, wanted
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.core.money import format_money


def _context(settings: OcbSettings):
    from ocb_pipelines.app import app_context  # imported late: it loads the Definitions

    return app_context(settings)


def _report(report) -> tuple[dict[str, Any], list[str]]:
    """(JSON fields, human lines) of a send: anything uncertain, failed or not sent makes the command fail (cron
    notices), with what to do for each."""
    from ocb_pipelines.delivery.outcome import next_steps

    month, totals, left = report.month, report.totals, report.not_delivered
    lines = []
    if report.states:
        lines.append(f"{month}: {len(report.states)} PI(s): {totals['delivered']} delivered, {totals['uncertain']} "
                     f"uncertain, {totals['failed']} failed, {totals['not_sent']} not sent")
    if left:
        lines.append("not delivered; what to do:")
        lines += [f"  - {step}" for step in next_steps(month, left)]
        lines.append(f"  (`ocb deliveries list -p {month}` shows every attempt)")
    elif report.ok and not report.emails:
        lines.append(f"{month}: nothing to send: every PI already has this month's email")
    fields = {"delivery_counts": totals, "not_delivered": [plain(r) for r in left]}
    return fields, lines


def _not_ok(error: str, fields: dict[str, Any], month: str) -> CliError:
    totals = fields["delivery_counts"]
    left = ", ".join(f"{totals[k]} {k.replace('_', ' ')}" for k in ("uncertain", "failed", "not_sent") if totals[k])
    message = error or f"{len(fields['not_delivered'])} email(s) for {month} not delivered ({left})"
    return CliError(message, reported=True)


def _echo_deliveries(items: list[dict[str, Any]], symbol: str) -> None:
    for i in items:
        extra = i.get("error") or i.get("note") or i.get("destination") or ""
        total = f" {format_money(i['billed_total'], symbol)}" if "billed_total" in i else ""
        click.echo(f"  {i.get('to') or i.get('recipient')}: {i['status']}{total} {extra}".rstrip())


def _dry_run(settings: OcbSettings, month: str, as_json: bool) -> None:
    from ocb_pipelines.services.statements import StatementsRefused, preview_statements

    symbol = settings.currency.symbol
    try:
        preview = preview_statements(_context(settings), month)
    except StatementsRefused as exc:
        raise CliError(str(exc)) from None
    generated, emails, note = preview.generated, preview.emails, preview.note
    payload = {"ok": True, **generated.as_dict(), "emails": emails, "note": note}
    if as_json:
        emit_json(payload)
        return
    click.echo(f"dry run: rendered {len(generated.outcomes)} statement(s) for {month} into {generated.output_dir} "
               f"({format_money(generated.billed_total, symbol)} billed); nothing was recorded or sent")
    if note:
        click.echo(f"  note: {note}")
    click.echo(f"would email {sum(1 for e in emails if e['status'] == 'would_send')} PI(s):")
    _echo_deliveries(emails, symbol)


@click.command("generate")
@period_option
@click.option("--dry-run", is_flag=True, help="Render into a preview folder and show what would be sent; "
                                             "record and send nothing.")
@click.option("--send", "send", is_flag=True, help="Email the statements after rendering them.")
@click.option("--workers", type=int, default=2, show_default=True, help="Rendering processes.")
@progress_option
@quiet_option
@config_option
@json_option
def generate_command(period, dry_run, send, workers, show_progress, quiet, config_path, as_json):
    """Render the statements of a closed month (one PDF + CSV per PI and project); --send emails them."""
    settings = settings_or_exit(config_path)
    month = period_key(period)
    show = wanted(show_progress, as_json, quiet)
    if dry_run:
        with displaying(show):
            _dry_run(settings, month, as_json)
        return
    from ocb_pipelines.services.statements import render_statements

    with displaying(show):
        rendered = render_statements(_context(settings), month, workers=workers, send=send)
    run, meta, rows = rendered.run, rendered.metadata, rendered.statements
    deliveries = [plain(e) for e in rendered.send.emails] if rendered.send else []
    fields, report = _report(rendered.send) if rendered.send else ({}, [])
    ok = rendered.ok
    symbol = settings.currency.symbol
    payload = {
        "ok": ok, "period": month, "run_id": run.run_id, "error": run.error,
        "rendered": meta.get("rendered"), "unchanged": meta.get("unchanged"), "removed": meta.get("removed"),
        "statements": [plain({k: v for k, v in r.items() if k != "funds"}) | {"funds": r["funds"]} for r in rows],
        "emails": deliveries, **fields,
    }  # fmt: skip
    if as_json:
        emit_json(payload)
    elif not quiet:
        if meta:
            total = sum((r["billed_total"] for r in rows), start=0)
            click.echo(f"{month}: {len(rows)} statement(s), {format_money(total, symbol)} billed: rendered "
                       f"{meta.get('rendered')}, unchanged {meta.get('unchanged')}, removed {meta.get('removed')} "
                       f"({meta.get('output_dir')})")
        if send and deliveries:
            click.echo(f"emails ({len(deliveries)}):")
            _echo_deliveries(deliveries, symbol)
        for line in report:
            click.echo(line)
    if send and not ok:
        raise _not_ok(run.error, fields, month)
    if not run.success:
        raise CliError(run.error or "the run failed", reported=True)


def _send(settings: OcbSettings, month: str, as_json: bool, pis: tuple[str, ...] = (),
          reason: str = "") -> None:
    """Send (or resend `pis`), then report every PI in scope: exit 0 only when all of them have the email."""
    from ocb_pipelines.services.deliveries import DeliveryError, send_statements

    try:
        sent = send_statements(_context(settings), month, resend=pis, reason=reason)
    except DeliveryError as exc:  # refused before any run (a resend without a reason)
        raise CliError(str(exc)) from None
    run, deliveries = sent.run, [plain(e) for e in sent.emails]
    fields, report = _report(sent)
    if as_json:
        emit_json({"ok": sent.ok, "period": month, "run_id": run.run_id, "error": run.error,
                   "emails": deliveries, "summary": run.metadata.get("statement_deliveries", {}), **fields})
    else:
        if deliveries:
            click.echo(f"{month}: {len(deliveries)} email(s) attempted:")
            _echo_deliveries(deliveries, settings.currency.symbol)
        for line in report:
            click.echo(line)
    if not sent.ok:
        raise _not_ok(run.error, fields, month)


@click.command("send")
@period_option
@config_option
@json_option
def send_command(period, config_path, as_json):
    """Email the month's statements that were not sent yet (and retry failed sends)."""
    settings = settings_or_exit(config_path)
    _send(settings, period_key(period), as_json)


@click.command("resend")
@period_option
@click.option("--pi", "pis", multiple=True, required=True, help="PI email to send again (repeatable).")
@click.option("--reason", default="requested by operator", show_default=True, help="Why (kept in the log).")
@config_option
@json_option
def resend_command(period, pis, reason, config_path, as_json):
    """Send a PI's email for the month again, on purpose (logged as a resend)."""
    settings = settings_or_exit(config_path)
    _send(settings, period_key(period), as_json, tuple(pis), reason)
