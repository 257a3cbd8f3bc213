"""`ocb demo` and `ocb ui`: a demo billing month end to end, and the Dagster UI on the same instance."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from ocb_pipelines.app import app_context
from ocb_pipelines.cli.common import (
    CliError,
    config_option,
    emit_json,
    json_option,
    settings_or_exit,
)
from ocb_pipelines.cli.process_group import run_in_own_group
from ocb_pipelines.cli.progress import displaying, wanted
from ocb_pipelines.cli.serve import DESK_PORT
from ocb_pipelines.core.config import OcbSettings, resolve_config_path
from ocb_pipelines.services.context import AppContext
from ocb_pipelines.services.dagster_runs import prepare_dagster_home
from ocb_pipelines.services.demo import DemoStepError, review_and_close_sample_month
from ocb_pipelines.services.imports import import_files, plan_import


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


def _month_end(ctx: AppContext, path: Path, month: str, click_ctx: click.Context, as_json: bool = False) -> dict:
    """Decide the queue with the sample decisions, close the month, render and send, export the journal."""
    from ocb_pipelines.cli.journal import export_journal_command
    from ocb_pipelines.cli.statements import generate_command

    try:
        step = review_and_close_sample_month(ctx, month).as_dict()
    except DemoStepError as exc:
        raise CliError(str(exc)) from None
    for command, params in (
        (generate_command, {"period": month, "dry_run": False, "send": True, "workers": 2,
                            "show_progress": False if as_json else None}),
        (export_journal_command, {"period": month, "fmt": "gl", "output_dir": None}),
    ):
        try:
            click_ctx.invoke(command, config_path=str(path), as_json=False, **params)
        except CliError as exc:
            raise CliError(f"{month}: `ocb {command.name}` failed: {exc.message}", exc.problems) from None
    return step


@click.command("demo")
@config_option
@json_option
@click.pass_context
def demo_command(ctx, config_path, as_json):
    """Run the demo billing month end to end: import the samples (data/samples), apply the sample review
    decisions, close the month, render and email the statements (dev mode: .eml files in the outbox), and
    export the GL journal. Running it again changes nothing."""
    import contextlib
    import io

    from ocb_pipelines.cli.ingest import _print_summary

    path = _ensure_config(config_path)
    settings = settings_or_exit(str(path), new_warehouse_ok=True)  # the demo is a first run
    samples = sorted((path.parent / "data" / "samples").glob("*"))
    samples = [p for p in samples if p.suffix in (".csv", ".gz", ".parquet")]
    if not samples:
        raise CliError(f"no sample files in {path.parent / 'data' / 'samples'}")
    app = app_context(settings)
    steps_output = io.StringIO()
    with contextlib.redirect_stdout(steps_output) if as_json else contextlib.nullcontext():
        plan = plan_import(app, samples)
        with displaying(wanted(None, as_json, False), files_total=plan.steps()):
            summary = import_files(app, plan)
        if not as_json:
            _print_summary(summary, settings)
        if not summary["ok"]:
            raise CliError("the sample import failed; see above")
        summary["month_end"] = []
        for month in summary["periods"]:
            click.echo(f"\n== Month end {month}")
            summary["month_end"].append(_month_end(app, path, month, ctx, as_json))
    summary["warehouse"] = str(settings.warehouse_path)
    summary["dagster_home"] = os.environ.get("DAGSTER_HOME", "")
    summary["outputs"] = {"statements": str(settings.output.pdf_dir), "journals": str(settings.output.journal_dir),
                          "outbox": str(settings.output.email_dir)}
    if as_json:
        emit_json(summary)
        return
    click.echo("\n" + "\n".join(where_to_look(settings, summary)))


def where_to_look(settings: OcbSettings, summary: dict) -> list[str]:
    """The demo's last lines: where its outputs are, and the commands that open the Dagster UI (the operator's
    console) and the review desk (the page for the people who decide) on the same project."""
    return [
        f"Warehouse:   {settings.warehouse_path}",
        f"Statements:  {settings.output.pdf_dir}",
        f"Journals:    {settings.output.journal_dir}",
        f"Emails:      {settings.output.email_dir} (dev mode: written, not sent)",
        f"Dagster runs recorded in: {summary['dagster_home']}",
        "Open the Dagster UI on the same instance with:  ocb ui   (then http://127.0.0.1:3000)",
        f"Review desk:  ocb users add NAME --role admin, then  ocb serve   (then http://127.0.0.1:{DESK_PORT})",
        "Audit trail of the month:  ocb audit -p " + summary["periods"][0],
    ]


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=int)
@config_option
def ui_command(host, port, config_path):
    """Start the Dagster UI and daemon (dg dev) on the instance the CLI records runs in.

    Stopping it (Ctrl-C, SIGTERM, SIGHUP; in the foreground or the background) stops the webserver, the daemon and
    the code servers with it."""
    settings = settings_or_exit(config_path, new_warehouse_ok=True)  # the UI's own runs create it when needed
    if not settings.warehouse_path.exists():
        click.echo(f"note: no warehouse at {settings.warehouse_path} yet (database.path): the first import run "
                   f"creates it", err=True)
    home = prepare_dagster_home(settings)
    env = {**os.environ, "DAGSTER_HOME": str(home), "OCB_CONFIG": str(settings.config_path)}
    project, dg = Path(__file__).resolve().parents[2], Path(sys.executable).with_name("dg")
    if (project / "pyproject.toml").is_file() and dg.is_file():  # a checkout: the [tool.dg] project
        command, cwd = [str(dg), "dev", "-h", host, "-p", str(port)], project
    else:  # an installed wheel has no project folder: the module itself (dagster dev warns it is superseded)
        command = [sys.executable, "-m", "dagster", "dev", "-m", "ocb_pipelines.definitions",
                   "-h", host, "-p", str(port)]
        cwd = settings.config_path.parent
    shown = " ".join(["dg", *command[1:]] if command[0] == str(dg) else command[2:])
    click.echo(f"DAGSTER_HOME={home} OCB_CONFIG={settings.config_path} {shown}", err=True)
    raise SystemExit(run_in_own_group(command, env=env, cwd=str(cwd)))
