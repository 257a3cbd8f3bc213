"""`ocb pricing check`: read the configured rate, fee, account and split files as pricing will, before month end.
`ocb pricing months`: the months a change to them (or to the subsidy rules) affects; `--reprice` re-prices the
open ones."""

from __future__ import annotations

import click

from ocb_pipelines.app import app_context
from ocb_pipelines.cli.common import CliError, config_option, emit_json, json_option, settings_or_exit
from ocb_pipelines.services.pricing import pricing_months, reprice_open_months
from ocb_pipelines.services.pricing_files import check_pricing_files

NONE = ("no pricing files configured (pricing.rates_file, pricing.fees_file, pricing.accounts_file, "
        "funding.splits_file)")


@click.group("pricing")
def pricing_group() -> None:
    """The pricing files: rates, fixed fees, Slurm accounts and funding splits (pricing: and funding: in the config)."""


@pricing_group.command("check")
@config_option
@json_option
def pricing_check_command(config_path, as_json):
    """Read and check each configured pricing file (lines, sha256); exit 1 naming the line of any refusal."""
    settings = settings_or_exit(config_path, new_warehouse_ok=True)  # files only: no warehouse needed
    checks = check_pricing_files(settings)
    refused = [check for check in checks if not check.ok]
    if as_json:
        emit_json({"ok": not refused, "config": str(settings.config_path),
                   "files": [check.as_dict() for check in checks], **({} if checks else {"note": NONE})})
    elif not checks:
        click.echo(NONE)
    for check in [] if as_json else checks:
        status = (f"{check.lines} line{'' if check.lines == 1 else 's'}, sha256 {check.sha256[:12]}"
                  if check.ok and check.sha256 else f"REFUSED: {check.error}")
        click.echo(f"{check.kind:<9} {check.path}  {status}")
    if refused:
        what = "a pricing file was refused" if len(refused) == 1 else f"{len(refused)} pricing files were refused"
        raise CliError(what, [check.error or "" for check in refused],
                       reported=as_json)


@pricing_group.command("months")
@config_option
@click.option("--reprice", is_flag=True, help="Price every open month listed again (a pricing_job run each).")
@json_option
def pricing_months_command(config_path, reprice, as_json):
    """The months priced with other inputs than the current files and rules (or not priced yet), with status."""
    settings = settings_or_exit(config_path)
    ctx = app_context(settings)
    report = reprice_open_months(ctx) if reprice else pricing_months(ctx)
    failed = [run for run in report.get("runs", []) if not run["success"]]
    if as_json:
        emit_json({"inputs_sha256": report["inputs_sha256"], "affected": report["affected"],
                   "runs": report.get("runs", [])})
    else:
        click.echo(f"pricing inputs sha256 {report['inputs_sha256'][:12]}")
        if not report["affected"]:
            click.echo("every month is priced with the current inputs")
        for month in report["affected"]:
            action = ("" if month["status"] == "open" else
                      "  (not re-priced: reopen it, or book the difference in an open month)")
            click.echo(f"{month['month']}  {month['status']:<9}  {month['reason']}{action}")
        for run in report.get("runs", []):
            click.echo(f"{run['month']}: re-priced in run {run['run_id']}" if run["success"]
                       else f"{run['month']}: run {run['run_id']} failed: {run['error']}")
    if failed:
        raise CliError(f"{len(failed)} month(s) could not be re-priced",
                       [f"{r['month']}: {r['error']}" for r in failed], reported=as_json)
