"""`ocb show PI -p`: one PI's month, by project and review status."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import click

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
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.warehouse import database as wh

BILLABLE = ("unflagged", "approved", "corrected")  # what reaches statements; pending and rejected do not


def pi_summary(con, month: str, pi: str) -> list[dict]:
    """One PI's charges in a month, by project and review status (money exact)."""
    projects: dict[str, dict] = defaultdict(
        lambda: {"charges": 0, "billed": Decimal(0), "billable": Decimal(0), "statuses": defaultdict(int)}
    )
    for state in rd.charge_states(con, month, pi=pi, statuses=None):
        project = state["new_project_id"] or state["project_id"] or "(no project)"
        entry = projects[project]
        entry["charges"] += 1
        entry["billed"] += state["billed_cost"]
        if state["review_status"] in BILLABLE:
            entry["billable"] += state["billed_cost"]
        entry["statuses"][state["review_status"]] += 1
    return [{"project": p, "charges": e["charges"], "billed": e["billed"], "billable": e["billable"],
             "statuses": dict(e["statuses"])} for p, e in sorted(projects.items())]


@click.command("show")
@click.argument("pi_email")
@period_option
@config_option
@json_option
def show_command(pi_email, period, config_path, as_json):
    """A PI's charges for the month, by project, with their review status."""
    settings = settings_or_exit(config_path)
    month = period_key(period)
    with wh.connect(settings.warehouse_path) as con:
        rows = pi_summary(con, month, pi_email.strip().lower())
    total = sum((r["billed"] for r in rows), Decimal(0))
    billable = sum((r["billable"] for r in rows), Decimal(0))
    if not rows:  # the same exit code with or without --json
        raise CliError(f"no charges for {pi_email} in {month}")
    if as_json:
        emit_json({"pi_email": pi_email.strip().lower(), "period": month, "projects": rows, "billed_total": total,
                   "billable_total": billable, "currency": settings.currency.code})
        return
    symbol = settings.currency.symbol
    click.echo(f"{pi_email} in {month}")
    for r in rows:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(r["statuses"].items()))
        money = format_money(r["billed"], symbol)
        click.echo(f"  {r['project']:<30} {r['charges']:>6} charge(s) {money:>14}  {statuses}")
    count = sum(r["charges"] for r in rows)
    click.echo(f"  {'Total':<30} {count:>6} charge(s) {format_money(total, symbol):>14}  "
               f"billable {format_money(billable, symbol)} (pending and rejected excluded)")
