"""Fixtures of the period tests (same shape as the review tests' fixtures)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.core.config import OcbSettings, load_config
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.periods.lifecycle import Period, get_period
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.warehouse import database as wh

REPO = Path(__file__).resolve().parents[2]
MONTH = "2025-01"


@pytest.fixture
def settings(tmp_path, monkeypatch) -> OcbSettings:
    shutil.copy(REPO / "config.example.yaml", tmp_path / "config.yaml")
    monkeypatch.setenv("OCB_ACTOR", "admin.one")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return load_config(tmp_path / "config.yaml")


def load_rows(settings: OcbSettings, rows, month: str = MONTH, name: str = "aws_2025-01.csv") -> Path:
    path = write_focus_csv(settings.inbox_dir / name, rows)
    with wh.connect(settings.warehouse_path) as con:
        import_file(con, path, months=[month], source="aws")
        build_validated(con, month, rules_from(settings))
    return path


@pytest.fixture
def clean_month(settings) -> Path:
    """A month with nothing to review."""
    return load_rows(settings, [charge_row(resource="a"), charge_row(resource="b", billed="3.30")])


@pytest.fixture
def flagged_month(settings) -> Path:
    """A month with one charge pending review (missing project)."""
    return load_rows(settings, [charge_row(resource="a"), charge_row(resource="b", billed="3.30", project_id=None)])


def close_from_cli(settings: OcbSettings, month: str, *args: str):
    """`ocb periods close MONTH ARGS` as a user types it; the CLI's result."""
    from click.testing import CliRunner

    from ocb_pipelines.cli.main import cli

    return CliRunner().invoke(cli, ["periods", "close", month, *args, "-c", str(settings.config_path)],
                              catch_exceptions=False)


def closed_as_audited(settings: OcbSettings, month: str) -> tuple[Period, dict]:
    """The month as the close left it, and the details of its `period_close` audit event."""
    with wh.connect(settings.warehouse_path) as con:
        period = get_period(con, month)
        (details,) = con.execute("SELECT details FROM audit_events WHERE action = 'period_close' AND period = ?",
                                 [month]).fetchall()[0]
    return period, json.loads(details)
