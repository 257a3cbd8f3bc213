"""`ocb demo` and `ocb ui`: a demo billing month end to end, and the Dagster UI on the same instance."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

from ocb_pipelines.cli.common import (
    CliError,
    config_option,
    emit_json,
    json_option,
    prepare_dagster_home,
    settings_or_exit,
)
from ocb_pipelines.core.config import resolve_config_path


def _project_root() -> Path:
    return Path.cwd()


def _ensure_config(config_path: str | None) -> Path:
    """Use -c / $OCB_CONFIG / ./config.yaml; for the demo, create ./config.yaml from the example if absent."""
    path = resolve_config_path(config_path)
    if path.exists():
        return path
    example = _project_root() / "config.example.yaml"
    if config_path or os.environ.get("OCB_CONFIG") or not example.exists():
        raise CliError(f"configuration file not found: {path}")
    shutil.copy(example, path)
    click.echo(f"Created {path.name} from config.example.yaml (edit it for your site).", err=True)
    return path


@click.command("demo")
@config_option
@json_option
def demo_command(config_path, as_json):
    """Run the demo billing month: import the committed samples (data/samples) and validate them."""
    from ocb_pipelines.cli.ingest import _plan, _print_summary, _run
    from ocb_pipelines.core import warehouse as wh

    path = _ensure_config(config_path)
    settings = settings_or_exit(str(path))
    samples = sorted((path.parent / "data" / "samples").glob("*"))
    samples = [p for p in samples if p.suffix in (".csv", ".gz", ".parquet")]
    if not samples:
        raise CliError(f"no sample files in {path.parent / 'data' / 'samples'}")
    plan, refused = _plan(settings, samples, None)
    summary = _run(settings, str(path), plan, refused, None, None, wh.current_actor())
    summary["warehouse"] = str(settings.warehouse_path)
    summary["dagster_home"] = os.environ.get("DAGSTER_HOME", "")
    if as_json:
        emit_json(summary)
    else:
        _print_summary(summary, settings)
        click.echo(f"\nWarehouse: {settings.warehouse_path}")
        click.echo(f"Dagster runs recorded in: {summary['dagster_home']}")
        click.echo("Open the Dagster UI on the same instance with:  ocb ui   (then http://127.0.0.1:3000)")
        for period in summary["periods"]:
            click.echo(f"See what needs review with:  ocb review list -p {period}")
    if not summary["ok"]:
        raise SystemExit(1)


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=int)
@config_option
def ui_command(host, port, config_path):
    """Start the Dagster UI and daemon (dagster dev) on the instance the CLI records runs in."""
    settings = settings_or_exit(config_path)
    home = prepare_dagster_home(settings)
    workspace = Path(__file__).resolve().parents[2] / "workspace.yaml"
    env = {**os.environ, "DAGSTER_HOME": str(home), "OCB_CONFIG": str(settings.config_path)}
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-h", host, "-p", str(port)]
    click.echo(f"DAGSTER_HOME={home} OCB_CONFIG={settings.config_path} {' '.join(command[2:])}", err=True)
    raise SystemExit(subprocess.call(command, env=env, cwd=str(settings.config_path.parent)))
