"""`ocb sources list|sync-status|add`: the sources of billing data, which are configuration (`imports.known_sources`).

`sync-status` is OpenChargeback's name for the same listing (its last import per source is `last`).

`add` edits config.yaml as a round trip (ruamel.yaml): the user's comments, key order, quoting and
indentation survive, and the new entry takes the style of its siblings. The result is validated with the
project's own configuration model before it replaces the file atomically, so a refused change leaves the
file byte-identical.
"""

from __future__ import annotations

import click

from ocb_pipelines.app import app_context
from ocb_pipelines.cli.common import CliError, config_option, emit_json, json_option, settings_or_exit
from ocb_pipelines.core.config import ConfigError, resolve_config_path
from ocb_pipelines.services.sources import SourceRefused, add_known_source, list_sources


@click.group("sources")
def sources_group() -> None:
    """The sources of billing data (imports.known_sources in the config)."""


def _list_sources(config_path: str | None, as_json: bool) -> None:
    settings = settings_or_exit(config_path, new_warehouse_ok=True)  # before the first import: config only
    if not settings.warehouse_path.exists():
        click.echo(f"note: no warehouse at {settings.warehouse_path} yet: nothing imported", err=True)
    rows = list_sources(app_context(settings))
    if as_json:
        emit_json({"sources": rows})
        return
    if not rows:
        click.echo("no sources: add one with `ocb sources add NAME --pattern TEXT --fund-org FUND`")
    for r in rows:
        note = "" if r["configured"] else "  (not in imports.known_sources: add it, with a fund_org for the journal)"
        click.echo(f"{r['name']:<10} {r['display_name'] or '-':<26} files={r['files']:<4} rows={r['rows'] or 0:<8} "
                   f"months={','.join(r['months']) or '-'}  last={r['last_import'] or '-'}{note}")


@sources_group.command("list")
@config_option
@json_option
def sources_list_command(config_path, as_json):
    """Configured sources with what was imported from each (files, rows, months, last import)."""
    _list_sources(config_path, as_json)


@sources_group.command("sync-status")
@config_option
@json_option
def sources_sync_status_command(config_path, as_json):
    """OpenChargeback's name for `ocb sources list`: each source with its last import (`last`, `last_import`)."""
    _list_sources(config_path, as_json)


@sources_group.command("add")
@click.argument("name")
@click.option("--pattern", default=None, help="Text in a file name that names this source (default: NAME).")
@click.option("-d", "--display-name", default=None, help="A readable name (shown by `ocb sources list`).")
@click.option("--fund-org", default=None, help="Fund/org credited with this source's recoveries in the GL journal.")
@click.option("--account-code", default=None,
              help="GL account of this source's charges (else journal.default_account).")
@click.option("-t", "--type", "source_type", type=click.Choice(["file", "api"]), default="file", show_default=True,
              help="OpenChargeback compatibility: only `file` (FOCUS exports dropped in the inbox or given to "
                   "`ocb ingest`).")
@config_option
@json_option
def sources_add_command(name, pattern, display_name, fund_org, account_code, source_type, config_path, as_json):
    """Add a source to imports.known_sources in the config file (comments and layout are kept)."""
    if source_type == "api":
        raise CliError("api sources are not supported: ocb_pipelines imports FOCUS export files; schedule the "
                       "provider's FOCUS export into the inbox and add the source with --type file")
    entry = {"name": name, "pattern": pattern, "display_name": display_name, "fund_org": fund_org,
             "account_code": account_code}
    try:
        result = add_known_source(config_path, entry)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    except SourceRefused as exc:
        raise CliError(f"{resolve_config_path(config_path).name} unchanged: {exc}") from None
    if as_json:
        emit_json({"ok": True, **result})
        return
    src = result["source"]
    details = ", ".join(f"{k} {src[k]}" for k in ("pattern", "fund_org", "account_code") if src.get(k))
    click.echo(f"added source {src['name']} to {result['config']} ({details})")
    for warning in result["warnings"]:
        click.echo(f"  note: {warning}")
