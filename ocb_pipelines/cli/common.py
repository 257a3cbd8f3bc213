"""Shared CLI plumbing: config loading, the Dagster instance, JSON output, exit codes."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ocb_pipelines.core.config import ConfigError, OcbSettings, load_config
from ocb_pipelines.core.jsonable import to_jsonable

config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help="Configuration file (default: $OCB_CONFIG, else ./config.yaml).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
period_option = click.option("-p", "--period", required=True, help="Billing month YYYY-MM.")


class CliError(click.ClickException):
    """A one-line reason and a non-zero exit code; `problems` are the details (one per culprit).

    `reported=True`: the command already wrote its full result (e.g. a JSON summary with ok=false), so
    only the one-line reason goes to stderr."""

    exit_code = 1

    def __init__(self, message: str, problems: list[str] | None = None, *, reported: bool = False):
        lines = [line for line in str(message).strip().splitlines() if line.strip()] or ["failed"]
        super().__init__(lines[0].strip())
        details = [line.strip().removeprefix("- ") for line in lines[1:]]
        self.problems = [str(p) for p in problems] if problems else details
        self.reported = reported


def json_requested(args: list[str]) -> bool:
    """--json among the arguments (before a `--`): errors are then JSON on stdout too."""
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def _stderr_line(text: str) -> None:
    click.echo(" ".join(text.split()), err=True)


class OcbGroup(click.Group):
    """The root command: every failure ends as one line on stderr and a non-zero exit code, never a
    traceback (set OCB_DEBUG=1 to see one). With --json, stdout also gets {"ok": false, "error": ...}."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        arguments = list(sys.argv[1:] if args is None else args)
        as_json = json_requested(arguments)
        try:
            code = super().main(arguments, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # `ocb review` alone: its help
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            _stderr_line("Error: aborted")
            sys.exit(1)
        except CliError as exc:
            reason = exc.message.rstrip(":").rstrip()
            if len(exc.problems) == 1:  # one culprit: it is part of the one-line reason
                reason = f"{reason}: {exc.problems[0]}"
            if as_json and not exc.reported:
                emit_json({"ok": False, "error": reason, "problems": exc.problems})
            _stderr_line(f"Error: {reason}")
            if len(exc.problems) > 1 and not as_json:  # several culprits: one per line, below the reason
                for problem in exc.problems:
                    click.echo(f"  - {problem}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:  # usage errors: bad option, missing argument, bad value
            hint = f" (see `{exc.ctx.command_path} --help`)" if getattr(exc, "ctx", None) else ""
            if as_json:
                emit_json({"ok": False, "error": exc.format_message(), "problems": []})
            _stderr_line(f"Error: {exc.format_message()}{hint}")
            sys.exit(exc.exit_code)
        except SystemExit:
            raise
        except Exception as exc:  # an unexpected failure: still one line, the traceback only on request
            if os.environ.get("OCB_DEBUG"):
                raise
            reason = (str(exc).strip().splitlines() or [""])[0] or type(exc).__name__
            if as_json:
                emit_json({"ok": False, "error": f"{type(exc).__name__}: {reason}", "problems": []})
            _stderr_line(f"Error: {type(exc).__name__}: {reason} (OCB_DEBUG=1 shows the traceback)")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)  # --help and --version return 0 here


SQLITE_MAGIC = b"SQLite format 3\x00"
_reported_ignored: set[Path] = set()


def report_ignored_keys(settings: OcbSettings) -> None:
    """One stderr line (once per config file and process) naming the keys accepted for OpenChargeback that do
    nothing here, so a migrated `web:` or `logging:` block is neither an error nor silently taken for working."""
    if settings.ignored_keys and settings.config_path not in _reported_ignored:
        _reported_ignored.add(settings.config_path)
        click.echo(f"note: {settings.config_path.name}: accepted for OpenChargeback compatibility, no effect here: "
                   f"{', '.join(settings.ignored_keys)} (docs/moving-from-openchargeback.md)", err=True)


def check_warehouse(settings: OcbSettings, *, create: bool) -> None:
    """Refuse a warehouse path with no warehouse behind it, unless this run may create one (`--init`, `ocb demo`):
    a mistyped `database.path` would otherwise start a new, empty warehouse and bill from it."""
    path = settings.warehouse_path
    where = f"database.path in {settings.config_path}"
    if path.is_dir():
        raise CliError(f"the warehouse {path} ({where}) is a folder; database.path names a DuckDB file")
    if path.is_file():
        with path.open("rb") as handle:
            if handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
                raise CliError(f"{path} ({where}) is a SQLite database (OpenChargeback's billing.db?), not a DuckDB "
                               f"warehouse: point database.path at a new file such as data/warehouse.duckdb, then "
                               f"bring OpenChargeback's history over with `ocb import-history {path} --init`")
        return
    if not create:
        raise CliError(f"no warehouse at {path} ({where}): if this is the first run, create it with "
                       f"`ocb ingest --init FILES` (or `ocb demo` for the demo); otherwise correct database.path")


def settings_or_exit(config_path: str | None, *, new_warehouse_ok: bool = False) -> OcbSettings:
    """The configuration, or a one-line error. The warehouse must exist (check_warehouse) unless
    `new_warehouse_ok`: a first run that creates it (`--init`, `ocb demo`) or a command that copes without it."""
    try:
        settings = load_config(config_path)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    report_ignored_keys(settings)
    check_warehouse(settings, create=new_warehouse_ok)
    return settings


def emit_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(to_jsonable(payload), indent=2, sort_keys=False) + "\n")


def period_key(period: str) -> str:
    """A billing month key from the command line, or a one-line error saying what a month looks like."""
    from ocb_pipelines.periods.lifecycle import PeriodTransitionError, check_period_key

    try:
        return check_period_key(period)
    except PeriodTransitionError as exc:
        raise CliError(str(exc)) from None


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """Datetimes as ISO text (for JSON)."""
    return {k: (v.isoformat(sep=" ") if isinstance(v, datetime) else v) for k, v in row.items()}

