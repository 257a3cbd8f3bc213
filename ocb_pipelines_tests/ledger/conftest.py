"""Fixtures of the ledger tests: a config in tmp_path and a month imported, validated, approved and closed."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
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


def tagged(month: str = MONTH, *, billed: str, resource: str, account: str | None = None,
           grant: str | None = None, **kwargs) -> dict[str, str]:
    """A charge_row with extra tags (account_code, grant_number) merged into its Tags JSON."""
    import json

    row = charge_row(month, billed=billed, resource=resource, **kwargs)
    tags = json.loads(row["Tags"])
    if account is not None:
        tags["account_code"] = account
    if grant is not None:
        tags["grant_number"] = grant
    row["Tags"] = json.dumps(tags)
    return row


def write_config(tmp_path: Path, edit=None) -> OcbSettings:
    text = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    if edit:
        text = edit(text)
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    return load_config(tmp_path / "config.yaml")


@pytest.fixture
def settings(tmp_path, monkeypatch) -> OcbSettings:
    monkeypatch.setenv("OCB_ACTOR", "tester")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return write_config(tmp_path)


def load_source(settings: OcbSettings, rows: Sequence[dict], source: str, month: str = MONTH) -> None:
    path = write_focus_csv(settings.inbox_dir / f"{source}_{month}.csv", rows)
    with wh.connect(settings.warehouse_path) as con:
        import_file(con, path, months=[month], source=source)
        build_validated(con, month, rules_from(settings))


def approve_and_close(settings: OcbSettings, month: str = MONTH, close: bool = True) -> None:
    with wh.connect(settings.warehouse_path) as con:
        build_approved(con, month)
        if close:
            close_period(con, month, "tester")


def load_month(settings: OcbSettings, by_source: dict[str, Sequence[dict]], month: str = MONTH,
               close: bool = True) -> None:
    """Import each source's rows, validate, build charges_approved and close the month."""
    for source, rows in by_source.items():
        load_source(settings, rows, source, month)
    approve_and_close(settings, month, close)


def copy_example(tmp_path: Path) -> None:
    shutil.copy(REPO / "config.example.yaml", tmp_path / "config.yaml")
