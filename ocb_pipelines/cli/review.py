"""`ocb review`: the review queue, decisions (approve, reject, correct) and review sheets.

Every command calls the review service (ocb_pipelines.services.review), as the review desk and the Dagster
definitions do, with the OS user (or $OCB_ACTOR) as the actor. After recording, the service rebuilds the month's
decision state and approved charges by running `review_job` in the shared Dagster instance, tagged with the
actor, so the UI shows the new state (`--no-rebuild` skips that, e.g. to decide many batches and rebuild once).
"""

from __future__ import annotations

from typing import Any

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
from ocb_pipelines.periods.reconcile import Reconciliation
from ocb_pipelines.services import review as svc
from ocb_pipelines.services.context import RunOutcome

ids_option = click.option("--id", "ids", multiple=True, help="Charge id (repeatable).")
source_option = click.option("--source", default=None, help="Only charges of this source.")
reason_option = click.option(
    "--reason", default=None,
    help="Only charges with this reason: " + ", ".join(r["code"] for r in svc.list_review_reasons()) + ".")
pi_option = click.option("--pi", default=None, help="Only charges of this PI email.")
all_option = click.option("--all", "everything", is_flag=True, help="Every charge pending review in the month.")
note_option = click.option("--note", required=True, help="Why (mandatory for every decision).")
rebuild_option = click.option("--no-rebuild", is_flag=True, help="Record only; do not rebuild charges_approved.")
strict_option = click.option(
    "--strict", is_flag=True,
    help="All or nothing: refuse a bulk selection (--all, --source, --reason, --pi) when any of its charges cannot "
         "be decided. Default: decide every charge that can be, leave the rest pending and say why.")


def _rebuild_json(run: RunOutcome | None) -> dict[str, Any] | None:
    """The review_job run as the commands report it."""
    return None if run is None else {"run_id": run.run_id, "success": run.success, "error": run.error}


def _validation_warning(figures: Reconciliation, symbol: str) -> str:
    """What `review list` says first when the month's charges are not those of its imported rows."""
    return (f"{figures.month} needs validating again ({'; '.join(figures.problems(symbol))}): the charges below are "
            f"from its last validation, and approving, closing, statements and the journal are refused until "
            f"`ocb ingest` of its files (or charges_validated for {figures.month}) validates it")


@click.group("review")
def review_group() -> None:
    """See what needs review and decide it: approve, reject or correct (always with a note)."""


@review_group.command("list")
@period_option
@ids_option
@source_option
@reason_option
@pi_option
@click.option("--status", type=click.Choice([*svc.STATUSES, "all"]), default="pending", show_default=True)
@click.option("--limit", type=int, default=None, help="Show at most N charges (totals still count all).")
@config_option
@json_option
def list_command(period, ids, source, reason, pi, status, limit, config_path, as_json):
    """Charges of a month by review status (default: the queue), largest first, with reasons and money."""
    settings = settings_or_exit(config_path)
    month = period_key(period)
    queue = svc.review_queue(app_context(settings), month, status=status, ids=ids, source=source, reason=reason,
                             pi=pi, limit=limit)
    summary, figures, shown = queue.summary, queue.reconciliation, queue.charges
    symbol = settings.currency.symbol
    if as_json:
        emit_json({
            "period": month, "status": status, "count": queue.total, "billed_total": queue.billed_total,
            "currency": settings.currency.code, "needs_validation": figures.needs_validation,
            "reconciliation": figures.as_dict(),
            **({"warning": _validation_warning(figures, symbol)} if figures.needs_validation else {}),
            "by_status": {s: {"rows": summary.rows(s), "billed": summary.billed(s)} for s in svc.STATUSES},
            "pending_by_reason": summary.pending_by_reason,
            "charges": shown,
        })  # fmt: skip
        return
    if figures.needs_validation:
        click.echo(f"WARNING: {_validation_warning(figures, symbol)}")
    click.echo(f"{month}: {queue.total} charge(s) {status}, {format_money(queue.billed_total, symbol)}")
    for s in shown:
        attribution = f"{s['pi_email'] or '-'} / {s['project_id'] or '-'} / {s['fund_org'] or '-'}"
        click.echo(f"  {s['charge_id']}  {s['source']:8} {format_money(s['billed_cost'], symbol):>14}  {attribution}")
        reasons = ", ".join(s["queue_reasons"]) or "-"
        click.echo(f"      {s['file_name']} row {s['file_row_number']}  reasons: {reasons}")
        if s["stale"]:
            click.echo(f"      stale: {s['stale_explanation']}")
        elif s["decision_id"] and status != "pending":
            click.echo(f"      {s['decision']} by {s['decided_by']}: {s['decision_note']}")
    if len(shown) < queue.total:
        click.echo(f"  ... {queue.total - len(shown)} more (use --limit or --json)")
    parts = [f"{s} {summary.rows(s)} ({format_money(summary.billed(s), symbol)})" for s in svc.STATUSES]
    click.echo("Month: " + ", ".join(parts))


def _refusal(exc: Exception) -> CliError:
    """A refused decision as one line and its culprits, at most MAX_LISTED of them, then a count."""
    problems = list(getattr(exc, "problems", None) or [])
    if len(problems) > svc.MAX_LISTED:
        problems = [*problems[: svc.MAX_LISTED], f"... and {len(problems) - svc.MAX_LISTED:,} more"]
    return CliError(str(exc), problems or None)


def _decide(kind: str, period, ids, source, reason, pi, everything, note, fixes: dict[str, str | None],
            no_rebuild: bool, strict: bool, config_path, as_json) -> None:
    """--id names charges: all of them are decided, or none. A bulk selection (--all, --source, --reason, --pi)
    decides every charge it can and leaves the rest pending, reported by cause (--strict: all or nothing)."""
    settings = settings_or_exit(config_path)
    month = period_key(period)
    try:
        result = svc.decide_charges(app_context(settings), month, kind, note, ids=ids, source=source, reason=reason,
                                    pi=pi, everything=everything, corrections=fixes, strict=strict,
                                    rebuild=not no_rebuild)
    except svc.Refused as exc:
        raise _refusal(exc) from None
    outcome, actor, total, held_total = result.outcome, result.actor, result.billed_total, result.held_billed
    rebuild = _rebuild_json(result.rebuild)
    symbol = settings.currency.symbol
    held = {
        "count": len(outcome.held_ids), "billed_total": held_total,
        "summary": outcome.summary() if outcome.held else "", "by_cause": result.held_by_cause(),
    }  # fmt: skip
    payload = {"ok": result.ok, "period": month, "decision": kind, "actor": actor, "strict": strict,
               "charges": outcome.recorded, "decision_ids": outcome.decision_ids, "billed_total": total,
               "held": held, "rebuild": rebuild}
    past = svc.PAST[kind]
    if as_json:
        emit_json(payload)
    else:
        click.echo(f"{past} {len(outcome.recorded):,} charge(s) in {month} ({format_money(total, symbol)}) as {actor}")
        if outcome.held:
            click.echo(f"left {held['count']:,} charge(s) pending ({format_money(held_total, symbol)}): "
                       f"{outcome.summary()}")
            for line in outcome.listing():
                click.echo(f"  {line}")
            click.echo(f"  (`ocb review list -p {month}` shows them; --json lists every id)")
        if rebuild and rebuild["success"]:
            click.echo(f"charges_approved rebuilt (run {rebuild['run_id'][:8]})")
        elif rebuild:
            click.echo("decisions recorded, but charges_approved was not rebuilt")
    if not result.decided:
        raise CliError(f"nothing was {past}: all {held['count']:,} selected charge(s) were left pending "
                       f"({outcome.summary()})", reported=True)
    if rebuild and not rebuild["success"]:
        raise CliError(f"rebuilding charges_approved failed: {rebuild['error']}", reported=True)


def selection_options(command):
    """Which charges (--id, --source, --reason, --pi, --all) of which month, and the mandatory note."""
    for option in (note_option, all_option, pi_option, reason_option, source_option, ids_option, period_option):
        command = option(command)
    return command


@review_group.command("approve")
@selection_options
@rebuild_option
@strict_option
@config_option
@json_option
def approve_command(period, ids, source, reason, pi, everything, note, no_rebuild, strict, config_path, as_json):
    """Approve charges as imported: by --id, by filter, or --all pending ones (a bulk selection approves every
    charge it can and leaves the rest, e.g. those with no fund_org, pending)."""
    _decide("approve", period, ids, source, reason, pi, everything, note, {}, no_rebuild, strict, config_path,
            as_json)


@review_group.command("reject")
@selection_options
@rebuild_option
@strict_option
@config_option
@json_option
def reject_command(period, ids, source, reason, pi, everything, note, no_rebuild, strict, config_path, as_json):
    """Reject charges: they are not billed (the decision is logged and can be changed later)."""
    _decide("reject", period, ids, source, reason, pi, everything, note, {}, no_rebuild, strict, config_path,
            as_json)


@review_group.command("correct")
@selection_options
@click.option("--set-pi", "new_pi", default=None, help="New PI email.")
@click.option("--set-project", "new_project", default=None, help="New project id.")
@click.option("--set-fund", "new_fund", default=None, help="New fund/org.")
@rebuild_option
@strict_option
@config_option
@json_option
def correct_command(period, ids, source, reason, pi, everything, note, new_pi, new_project, new_fund, no_rebuild,
                    strict, config_path, as_json):
    """Correct the PI, project or fund of charges and approve them (the imported values are kept for audit)."""
    fixes = {"pi_email": new_pi, "project_id": new_project, "fund_org": new_fund}
    _decide("correct", period, ids, source, reason, pi, everything, note, fixes, no_rebuild, strict, config_path,
            as_json)


@review_group.command("export")
@period_option
@source_option
@reason_option
@pi_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Sheet path (default: <review_dir>/exports/review_<period>_<time>.csv).")
@click.option("--reviewer", default="", help="Pre-fill the reviewer line.")
@config_option
@json_option
def export_command(period, source, reason, pi, output, reviewer, config_path, as_json):
    """Write the month's review queue as a CSV review sheet (fill in decision and note, drop it in review_dir)."""
    settings = settings_or_exit(config_path)
    month = period_key(period)
    sheet = svc.export_review_sheet(app_context(settings), month, output=output, source=source, reason=reason, pi=pi,
                                    reviewer=reviewer)
    if as_json:
        emit_json({"ok": True, "period": month, "path": sheet.path, "charges": sheet.charges})
    else:
        click.echo(f"wrote {sheet.charges} charge(s) pending review in {month} to {sheet.path}")
        click.echo(f"fill in reviewer, decision and note, then save it into {settings.review_dir} "
                   f"(or run `ocb review apply FILE`)")


@review_group.command("apply")
@click.argument("sheet", type=click.Path(dir_okay=False))
@rebuild_option
@config_option
@json_option
def apply_command(sheet, no_rebuild, config_path, as_json):
    """Apply a filled-in review sheet: all its decisions, or none with a message per line."""
    settings = settings_or_exit(config_path)
    try:
        applied = svc.apply_review_sheet(app_context(settings), sheet, rebuild=not no_rebuild)
    except svc.SheetRefused as exc:
        raise CliError(str(exc), exc.problems) from None
    result, rebuild = applied.result, _rebuild_json(applied.rebuild)
    if as_json:
        emit_json({"ok": applied.ok, "sheet": result.file_name, "period": result.period, "reviewer": result.reviewer,
                   "status": result.status, "decision_ids": result.decision_ids, "message": result.message,
                   "rebuild": rebuild})
    else:
        click.echo(f"{result.file_name}: {result.message}")
    if not applied.ok:
        raise CliError(f"sheet applied, but rebuilding charges_approved failed: {rebuild['error']}", reported=True)
