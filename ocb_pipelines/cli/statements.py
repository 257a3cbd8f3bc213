"""`ocb generate`, `ocb send`, `ocb resend`: statements and their delivery.

`generate` and `send` run the same Dagster jobs as the UI (statements_job, send_job,
generate_and_send_job) in the shared instance, so every run shows in the UI; what was rendered and
sent is then read back from the warehouse (`statements`, `delivery_log`). `generate --dry-run` writes
nothing to the warehouse: it renders every statement into a preview folder and shows what would be sent.
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
    run_job,
    settings_or_exit,
)
from ocb_pipelines.cli.progress import displaying, progress_option, quiet_option, wanted
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.core.money import format_money
from ocb_pipelines.warehouse import database as wh


def _statement_rows(settings: OcbSettings, month: str) -> list[dict[str, Any]]:
    from ocb_pipelines.statements.generate import ensure_tables, month_statement_rows

    with wh.connect(settings.warehouse_path) as con:
        ensure_tables(con)
        return month_statement_rows(con, month)


def _deliveries(settings: OcbSettings, month: str, run_id: str) -> list[dict[str, Any]]:
    from ocb_pipelines.delivery import log

    with wh.connect(settings.warehouse_path) as con:
        log.ensure_tables(con)
        rows = log.month_log(con, month, run_id=run_id)
    return [plain({k: r[k] for k in ("recipient", "subject", "status", "message_id", "attempt", "resend", "error",
                                      "destination", "started_at", "finished_at")}) for r in rows]


def _outcome(settings: OcbSettings, month: str, pis: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Where each PI in scope stands after the run (every PI of the month, or the resent ones)."""
    from ocb_pipelines.delivery.outcome import month_outcome

    with wh.connect(settings.warehouse_path) as con:
        return month_outcome(con, month, "outbox" if settings.dev_mode else "smtp", pis)


def _report(settings: OcbSettings, month: str, run: dict[str, Any], deliveries: list[dict[str, Any]],
            pis: tuple[str, ...] = ()) -> tuple[bool, dict[str, Any], list[str]]:
    """(ok, JSON fields, human lines) of a send: ok only when the run succeeded and every PI in scope has the
    month's email; anything uncertain, failed or not sent makes the command fail (cron notices)."""
    from ocb_pipelines.delivery.outcome import counts, next_steps

    states = _outcome(settings, month, pis) if _statement_rows(settings, month) else []
    totals = counts(states)
    left = [r for r in states if r["state"] != "delivered"]
    ok = bool(run["success"]) and not left
    lines = []
    if states:
        lines.append(f"{month}: {len(states)} PI(s): {totals['delivered']} delivered, {totals['uncertain']} uncertain, "
                     f"{totals['failed']} failed, {totals['not_sent']} not sent")
    if left:
        lines.append("not delivered; what to do:")
        lines += [f"  - {step}" for step in next_steps(month, left)]
        lines.append(f"  (`ocb deliveries list -p {month}` shows every attempt)")
    elif ok and not deliveries:
        lines.append(f"{month}: nothing to send: every PI already has this month's email")
    fields = {"delivery_counts": totals, "not_delivered": [plain(r) for r in left]}
    return ok, fields, lines


def _not_ok(run: dict[str, Any], fields: dict[str, Any], month: str) -> CliError:
    totals = fields["delivery_counts"]
    left = ", ".join(f"{totals[k]} {k.replace('_', ' ')}" for k in ("uncertain", "failed", "not_sent") if totals[k])
    message = run["error"] or f"{len(fields['not_delivered'])} email(s) for {month} not delivered ({left})"
    return CliError(message, reported=True)


def _echo_deliveries(items: list[dict[str, Any]], symbol: str) -> None:
    for i in items:
        extra = i.get("error") or i.get("note") or i.get("destination") or ""
        total = f" {format_money(i['billed_total'], symbol)}" if "billed_total" in i else ""
        click.echo(f"  {i.get('to') or i.get('recipient')}: {i['status']}{total} {extra}".rstrip())


def _dry_run(settings: OcbSettings, month: str, as_json: bool) -> None:
    from ocb_pipelines.delivery.deliver import deliver_month
    from ocb_pipelines.delivery.email import DeliveryError, plan_emails, transport_for
    from ocb_pipelines.statements.generate import StatementPeriodError, generate_statements
    from ocb_pipelines.statements.render import TemplateRefused
    from ocb_pipelines.statements.schemas import StatementGateError

    symbol = settings.currency.symbol
    with wh.connect(settings.warehouse_path) as con:
        try:
            generated = generate_statements(con, settings, month, dry_run=True)
        except (StatementGateError, StatementPeriodError) as exc:
            raise CliError(str(exc)) from None
        except TemplateRefused as exc:
            raise CliError(f"{exc}; no statement was rendered") from None
        emails: list[dict[str, Any]] = []
        note = ""
        try:
            emails = deliver_month(con, settings, month, dry_run=True).items
        except DeliveryError as exc:
            # No current statements recorded yet: show the plan from the preview instead.
            note = str(exc)
            preview_rows = [
                {"pi_email": o.statement.pi_email, "project_id": o.statement.project_id,
                 "pdf_path": str(o.pdf_path), "csv_path": str(o.csv_path), "pdf_sha256": o.pdf_sha256,
                 "csv_sha256": o.csv_sha256, "content_sha256": o.statement.content_sha256,
                 "list_total": o.statement.list_total, "discount_total": o.statement.discount_total,
                 "billed_total": o.statement.billed_total,
                 "funds": [{"fund_org": f.fund_org, "percent": f.percent} for f in o.statement.funds]}
                for o in generated.outcomes
            ]  # fmt: skip
            try:
                plans = plan_emails(settings, month, preview_rows)
                transport = transport_for(settings).name
            except DeliveryError as inner:
                plans, transport = [], f"none ({inner})"
            emails = [{"to": p.recipient, "subject": p.subject, "status": "would_send", "transport": transport,
                       "projects": [s["project_id"] for s in p.statements], "billed_total": p.billed_total,
                       "attachments": [a.as_dict() for a in p.attachments]} for p in plans]
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
    actor = wh.current_actor()
    job = "generate_and_send_job" if send else "statements_job"
    with displaying(show):
        run = run_job(settings, job, month, actor, {"ops": {"statements": {"config": {"workers": workers}}}})
    meta = run["metadata"].get("statements", {})
    rows = _statement_rows(settings, month) if meta else []
    deliveries = _deliveries(settings, month, run["run_id"]) if send else []
    ok, fields, report = _report(settings, month, run, deliveries) if send else (run["success"], {}, [])
    symbol = settings.currency.symbol
    payload = {
        "ok": ok, "period": month, "run_id": run["run_id"], "error": run["error"],
        "rendered": meta.get("rendered"), "unchanged": meta.get("unchanged"), "removed": meta.get("removed"),
        "statements": [plain({k: r[k] for k in ("pi_email", "project_id", "pdf_path", "csv_path", "billed_total",
                                                 "list_total", "discount_total", "content_sha256", "generated_at")})
                       | {"funds": r["funds"]} for r in rows],
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
        raise _not_ok(run, fields, month)
    if not run["success"]:
        raise CliError(run["error"] or "the run failed", reported=True)


def _send(settings: OcbSettings, month: str, as_json: bool, run_config: dict[str, Any] | None,
          pis: tuple[str, ...] = ()) -> None:
    """Run the send job, then report every PI in scope: exit 0 only when all of them have the email."""
    actor = wh.current_actor()
    run = run_job(settings, "send_job", month, actor, run_config)
    deliveries = _deliveries(settings, month, run["run_id"])
    ok, fields, report = _report(settings, month, run, deliveries, pis)
    if as_json:
        emit_json({"ok": ok, "period": month, "run_id": run["run_id"], "error": run["error"],
                   "emails": deliveries, "summary": run["metadata"].get("statement_deliveries", {}), **fields})
    else:
        if deliveries:
            click.echo(f"{month}: {len(deliveries)} email(s) attempted:")
            _echo_deliveries(deliveries, settings.currency.symbol)
        for line in report:
            click.echo(line)
    if not ok:
        raise _not_ok(run, fields, month)


@click.command("send")
@period_option
@config_option
@json_option
def send_command(period, config_path, as_json):
    """Email the month's statements that were not sent yet (and retry failed sends)."""
    settings = settings_or_exit(config_path)
    _send(settings, period_key(period), as_json, None)


@click.command("resend")
@period_option
@click.option("--pi", "pis", multiple=True, required=True, help="PI email to send again (repeatable).")
@click.option("--reason", default="requested by operator", show_default=True, help="Why (kept in the log).")
@config_option
@json_option
def resend_command(period, pis, reason, config_path, as_json):
    """Send a PI's email for the month again, on purpose (logged as a resend)."""
    settings = settings_or_exit(config_path)
    config = {"ops": {"statement_deliveries": {"config": {"resend": list(pis), "resend_reason": reason}}}}
    _send(settings, period_key(period), as_json, config, tuple(pis))
