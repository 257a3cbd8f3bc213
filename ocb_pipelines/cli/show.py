"""`ocb show PI -p` and `ocb sources list`: read-only views an operator asks for at month end."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import click

from ocb_pipelines.cli.common import CliError, config_option, emit_json, json_option, settings_or_exit
from ocb_pipelines.core import warehouse as wh
from ocb_pipelines.core.money import format_money
from ocb_pipelines.periods.lifecycle import PeriodTransitionError, check_period_key
from ocb_pipelines.review import decisions as rd

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
@click.option("-p", "--period", required=True, help="Billing month YYYY-MM.")
@config_option
@json_option
def show_command(pi_email, period, config_path, as_json):
    """A PI's charges for the month, by project, with their review status."""
    settings = settings_or_exit(config_path)
    try:
        month = check_period_key(period)
    except PeriodTransitionError as exc:
        raise CliError(str(exc)) from None
    with wh.connect(settings.warehouse_path) as con:
        rows = pi_summary(con, month, pi_email.strip().lower())
    total = sum((r["billed"] for r in rows), Decimal(0))
    billable = sum((r["billable"] for r in rows), Decimal(0))
    if as_json:
        emit_json({"pi_email": pi_email.strip().lower(), "period": month, "projects": rows, "billed_total": total,
                   "billable_total": billable, "currency": settings.currency.code})
        return
    if not rows:
        raise CliError(f"no charges for {pi_email} in {month}")
    symbol = settings.currency.symbol
    click.echo(f"{pi_email} in {month}")
    for r in rows:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(r["statuses"].items()))
        money = format_money(r["billed"], symbol)
        click.echo(f"  {r['project']:<30} {r['charges']:>6} charge(s) {money:>14}  {statuses}")
    count = sum(r["charges"] for r in rows)
    click.echo(f"  {'Total':<30} {count:>6} charge(s) {format_money(total, symbol):>14}  "
               f"billable {format_money(billable, symbol)} (pending and rejected excluded)")


@click.group("sources")
def sources_group() -> None:
    """The sources of billing data (imports.known_sources in the config)."""


@sources_group.command("list")
@config_option
@json_option
def sources_list_command(config_path, as_json):
    """Configured sources with what was imported from each (files, rows, months, last import)."""
    settings = settings_or_exit(config_path)
    with wh.connect(settings.warehouse_path) as con:
        stats = {
            s: {"files": f, "rows": n, "months": m, "last_import": str(last) if last else None}
            for s, f, n, m, last in con.execute(
                "SELECT source, count(DISTINCT file_name), sum(row_count), list(DISTINCT billing_month ORDER BY "
                "billing_month), max(imported_at) FROM import_files GROUP BY source"
            ).fetchall()
        }
    names = [s.name.lower() for s in settings.imports.known_sources]
    rows = []
    for source in settings.imports.known_sources:
        rows.append({"name": source.name, "display_name": source.display_name, "pattern": source.pattern,
                     "fund_org": source.fund_org, "account_code": source.account_code, "configured": True,
                     **stats.get(source.name.lower(), {"files": 0, "rows": 0, "months": [], "last_import": None})})
    for name, stat in sorted(stats.items()):
        if name not in names:  # imported with -s but not configured: its journal credit has no fund
            rows.append({"name": name, "display_name": "", "pattern": "", "fund_org": "", "account_code": "",
                         "configured": False, **stat})
    if as_json:
        emit_json({"sources": rows})
        return
    for r in rows:
        note = "" if r["configured"] else "  (not in imports.known_sources: add it, with a fund_org for the journal)"
        click.echo(f"{r['name']:<10} {r['display_name'] or '-':<26} files={r['files']:<4} rows={r['rows'] or 0:<8} "
                   f"months={','.join(r['months']) or '-'}  last={r['last_import'] or '-'}{note}")
