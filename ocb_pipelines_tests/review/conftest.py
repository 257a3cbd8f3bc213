"""Fixtures of the review tests: a config in tmp_path and a small imported, validated month."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.core.config import OcbSettings, load_config
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.warehouse import database as wh

REPO = Path(__file__).resolve().parents[2]
MONTH = "2025-01"


def standard_rows(month: str = MONTH) -> list[dict[str, str]]:
    """ok: clean; noproj: missing project; test: review pattern; nofund: missing fund, another PI."""
    return [
        charge_row(month, resource="ok", billed="10.00"),
        charge_row(month, resource="noproj", billed="5.50", project_id=None),
        charge_row(month, resource="test", billed="2.25", service="test-sandbox"),
        charge_row(month, resource="nofund", billed="7.00", fund_org=None, pi_email="pi.two@example.edu"),
    ]


@pytest.fixture
def settings(tmp_path, monkeypatch) -> OcbSettings:
    shutil.copy(REPO / "config.example.yaml", tmp_path / "config.yaml")
    monkeypatch.setenv("OCB_ACTOR", "tester")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return load_config(tmp_path / "config.yaml")


def load_month(settings: OcbSettings, rows, month: str = MONTH, name: str | None = None, source: str = "aws") -> Path:
    path = write_focus_csv(settings.inbox_dir / (name or f"{source}_{month}.csv"), rows)
    with wh.connect(settings.warehouse_path) as con:
        import_file(con, path, months=[month], source=source)
        build_validated(con, month, rules_from(settings))
    return path


def ids_by_resource(settings: OcbSettings, month: str = MONTH) -> dict[str, str]:
    with wh.connect(settings.warehouse_path) as con:
        return dict(con.execute(
            "SELECT resource_id, charge_id FROM charges_validated WHERE billing_month = ?", [month]
        ).fetchall())  # fmt: skip


@pytest.fixture
def month(settings) -> dict[str, str]:
    """The standard month imported and validated; returns {resource: charge_id}."""
    load_month(settings, standard_rows())
    return ids_by_resource(settings)
