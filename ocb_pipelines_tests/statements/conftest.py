"""Fixtures of the statement tests: a config in tmp_path, and a closed month with approved charges."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.core.config import OcbSettings, load_config
from ocb_pipelines.defs.charges.assets import rules_from
from ocb_pipelines.ingest.importer import import_file
from ocb_pipelines.periods.lifecycle import close_period
from ocb_pipelines.review.approve import build_approved
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.warehouse import database as wh

REPO = Path(__file__).resolve().parents[2]
MONTH = "2025-01"


def month_rows(month: str = MONTH) -> list[dict[str, str]]:
    """pi.one/proj-a: 3 lines over two funds, one credit, a 20% discount and a NULL list price;
    pi.two/proj-b: one line with a 100% subsidy."""
    return [
        charge_row(month, resource="vm-a", billed="80.00", ListCost="100.00", service="Compute Engine"),
        charge_row(month, resource="bucket", billed="20.00", ListCost="", service="Cloud Storage",
                   fund_org="XYZ-654321"),
        charge_row(month, resource="vm-a", billed="-5.50", ListCost="-5.50", service="Compute Engine",
                   ChargeCategory="Credit"),
        charge_row(month, resource="hpc-1", billed="0.00", ListCost="800.00", service="HPC Cluster",
                   pi_email="pi.two@example.edu", project_id="proj-b"),
    ]


def make_settings(tmp_path: Path, monkeypatch, extra_yaml: str = "") -> OcbSettings:
    text = (REPO / "config.example.yaml").read_text(encoding="utf-8") + extra_yaml
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("OCB_ACTOR", "tester")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return load_config(tmp_path / "config.yaml")


@pytest.fixture
def settings(tmp_path, monkeypatch) -> OcbSettings:
    return make_settings(tmp_path, monkeypatch)


def load_month(settings: OcbSettings, rows, month: str = MONTH, *, close: bool = True) -> None:
    path = write_focus_csv(settings.inbox_dir / f"aws_{month}.csv", rows)
    with wh.connect(settings.warehouse_path) as con:
        import_file(con, path, months=[month], source="aws")
        build_validated(con, month, rules_from(settings))
        build_approved(con, month)
        if close:
            close_period(con, month, "tester")


@pytest.fixture
def closed_month(settings) -> OcbSettings:
    load_month(settings, month_rows())
    return settings
