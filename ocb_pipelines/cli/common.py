"""Shared CLI plumbing: config loading, the Dagster instance, JSON output, exit codes."""

from __future__ import annotations

import json
import os
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from ocb_pipelines.core.config import ConfigError, OcbSettings, load_config

DAGSTER_YAML = """# Written by ocb. One writer at a time for the DuckDB warehouse.
concurrency:
  pools:
    default_limit: 1
  runs:
    tag_concurrency_limits:
      - key: "ocb/warehouse"
        limit: 1
telemetry:
  enabled: false
"""

config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help="Configuration file (default: $OCB_CONFIG, else ./config.yaml).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")


class CliError(click.ClickException):
    """A one-line reason and a non-zero exit code."""

    exit_code = 1


def settings_or_exit(config_path: str | None) -> OcbSettings:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def prepare_dagster_home(settings: OcbSettings) -> Path:
    """$DAGSTER_HOME if set, else `dagster_home` from the config (data/dagster_home), with a dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    yaml_path = home / "dagster.yaml"
    if not yaml_path.exists():
        yaml_path.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def root_cause(error) -> str:
    """The innermost error's message without the exception class: what went wrong, in the user's words."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return re.sub(r"^[\w.]+(?:Error|Failure|Exception): ", "", error.message.strip())


def to_jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def emit_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(to_jsonable(payload), indent=2, sort_keys=False) + "\n")
