"""`ocb show PI -p`: one PI's month, by project and review status."""

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
from ocb_pipelines.services.pi_view import pi_view


@click.command("show")
@click.argument("pi_email")
@period_option
@config_option
@json_option
def show_command(pi_email, period, config_path, as_json):
    """A PI's charges for the month, by project, with their review status."""
    settings = settings_or_exit(config_path)
    month = period_key(period)
    view = pi_view(app_context(settings), month, pi_email)
    rows = view.projects
    if not rows:  # the same exit code with or without --json
        raise CliError(f"no charges for {pi_email} in {month}")
    if as_json:
        emit_json(view.as_dict())
        return
    symbol = settings.currency.symbol
    click.echo(f"{pi_email} in {month}")
    for r in rows:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(r["statuses"].items()))
        money = format_money(r["billed"], symbol)
        click.echo(f"  {r['project']:<30} {r['charges']:>6} charge(s) {money:>14}  {statuses}")
    click.echo(f"  {'Total':<30} {view.charges:>6} charge(s) {format_money(view.billed_total, symbol):>14}  "
               f"billable {format_money(view.billable_total, symbol)} (pending and rejected excluded)")
