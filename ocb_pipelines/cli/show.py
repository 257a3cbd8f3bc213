"""`ocb show PI -p`: one PI's month, by project and review status; `--history`: their last six months as billed
too (the desk's PI page, in the terminal)."""

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
from ocb_pipelines.services.pi_view import PiPage, pi_page, pi_view


@click.command("show")
@click.argument("pi_email")
@period_option
@click.option("--history", is_flag=True,
              help="Also their last six months as billed (approved charges), per project and in all.")
@config_option
@json_option
def show_command(pi_email, period, history, config_path, as_json):
    """A PI's charges for the month, by project, with their review status."""
    settings = settings_or_exit(config_path)
    month = period_key(period)
    ctx = app_context(settings)
    page = pi_page(ctx, month, pi_email) if history else None  # the history query only when asked for
    view = page.view if page else pi_view(ctx, month, pi_email)
    rows = view.projects
    if not rows:  # the same exit code with or without --json
        raise CliError(f"no charges for {pi_email} in {month}")
    if as_json:
        emit_json(page.as_dict() if page else view.as_dict())
        return
    symbol = settings.currency.symbol
    click.echo(f"{pi_email} in {month}")
    for r in rows:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(r["statuses"].items()))
        money = format_money(r["billed"], symbol)
        click.echo(f"  {r['project']:<30} {r['charges']:>6} charge(s) {money:>14}  {statuses}")
    click.echo(f"  {'Total':<30} {view.charges:>6} charge(s) {format_money(view.billed_total, symbol):>14}  "
               f"billable {format_money(view.billable_total, symbol)} (pending and rejected excluded)")
    if page:
        _echo_history(page, symbol)


def _echo_history(page: PiPage, symbol: str) -> None:
    months = page.history.months
    if not page.history.rows:
        click.echo(f"Nothing billed to them from {months[0] if months else page.view.period} to {page.view.period}.")
        return
    click.echo(f"As billed, {months[0]} to {page.view.period} (approved charges):")
    for project, rows in sorted(page.by_project.items()):
        for r in rows:
            money = ("no charges" if r.gap else f"{format_money(r.billed_total, symbol):>14}  list "
                     f"{format_money(r.list_total, symbol)}, subsidy {format_money(r.subsidy_total, symbol)}, "
                     f"{r.lines} line(s)")
            click.echo(f"  {r.month}  {project:<30} {money}")
    for t in page.history.month_totals():
        click.echo(f"  {t['month']}  {'All projects':<30} {format_money(t['billed'], symbol):>14}")
