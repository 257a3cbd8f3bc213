"""The `ocb` command line: the same assets as the Dagster UI, for cron jobs and scripts."""

from __future__ import annotations

from importlib.metadata import version as package_version

import click

from ocb_pipelines.cli.audit import audit_command
from ocb_pipelines.cli.common import OcbGroup, emit_json, json_option
from ocb_pipelines.cli.deliveries import deliveries_group
from ocb_pipelines.cli.demo import demo_command, ui_command
from ocb_pipelines.cli.history import import_history_command
from ocb_pipelines.cli.ingest import ingest_command
from ocb_pipelines.cli.journal import export_journal_command
from ocb_pipelines.cli.periods import periods_group
from ocb_pipelines.cli.pricing import pricing_group
from ocb_pipelines.cli.review import review_group
from ocb_pipelines.cli.serve import serve_command, users_group
from ocb_pipelines.cli.show import show_command
from ocb_pipelines.cli.sources import sources_group
from ocb_pipelines.cli.statements import generate_command, resend_command, send_command
from ocb_pipelines.cli.unbilled import unbilled_command


@click.group("ocb", cls=OcbGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ocb_pipelines", prog_name="ocb")
def cli() -> None:
    """ocb: open-source chargeback for research computing (FOCUS -> statements -> GL journal)."""


@click.command("version")
@json_option
def version_command(as_json):
    """Show the installed version (OpenChargeback's `version` command; `ocb --version` says the same)."""
    installed = package_version("ocb_pipelines")
    if as_json:
        emit_json({"ok": True, "name": "ocb", "version": installed})
        return
    click.echo(f"ocb, version {installed}")


cli.add_command(version_command)
cli.add_command(ingest_command)
cli.add_command(show_command)
cli.add_command(sources_group)
cli.add_command(pricing_group)
cli.add_command(demo_command)
cli.add_command(ui_command)
cli.add_command(review_group)
cli.add_command(periods_group)
cli.add_command(audit_command)
cli.add_command(export_journal_command)
cli.add_command(unbilled_command)
cli.add_command(generate_command)
cli.add_command(send_command)
cli.add_command(resend_command)
cli.add_command(deliveries_group)
cli.add_command(import_history_command)
cli.add_command(serve_command)
cli.add_command(users_group)

if __name__ == "__main__":
    cli()
