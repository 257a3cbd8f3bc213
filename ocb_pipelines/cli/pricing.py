"""`ocb pricing check`: read the configured rate, fee, account and split files as pricing will, before month end."""

from __future__ import annotations

import click

from ocb_pipelines.cli.common import CliError, config_option, emit_json, json_option, settings_or_exit
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
