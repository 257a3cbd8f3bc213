"""The billing calendar: the Dagster partitions start at the first billing month (configured, else the earliest
month imported), not at 2020-01; the inbox sensor and the import command follow the same calendar."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ocb_pipelines.app import app_context
from ocb_pipelines.core.config import ConfigError, load_config
from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.defs.ingest.sensors import plan_inbox_runs
from ocb_pipelines.ingest.billing_months import CALENDAR_START, calendar_end
from ocb_pipelines.services.calendar import billing_calendar, first_billing_month
from ocb_pipelines.services.imports import import_files, plan_import
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import focus_row, write_focus


def _first_partition(config: Path, including: str | None = None) -> str:
    definitions = build_definitions(config, including_month=including)
    firsts = {asset.partitions_def.get_first_partition_key() for asset in definitions.assets or []}
    assert len(firsts) == 1, firsts  # every asset on the same calendar
    assert definitions.resolve_job_def("ingest_job").partitions_def.get_first_partition_key() in firsts
    return firsts.pop()


def _set_first_month(workdir: Path, month: str) -> None:
    config = workdir / "config.yaml"
    raw = yaml.safe_load(config.read_text())
    raw.setdefault("imports", {})["first_month"] = month
    config.write_text(yaml.safe_dump(raw))


def _import(workdir: Path, settings, month: str):
    ctx = app_context(settings, actor="calendar-test")
    path = write_focus(workdir / f"aws_{month}.csv", [focus_row(month, billed="1.25")])
    return import_files(ctx, plan_import(ctx, [path], source="aws"))


@pytest.fixture
def home(workdir: Path, monkeypatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(workdir / "dh"))
    return workdir


def test_partitions_start_at_the_earliest_month_imported(home, settings):
    assert _first_partition(home / "config.yaml") == CALENDAR_START  # nothing imported: any month may come first
    assert _import(home, settings, "2025-03")["ok"]
    assert _first_partition(home / "config.yaml") == "2025-03"
    assert billing_calendar(settings)[0] == "2025-03" and billing_calendar(settings)[-1] == calendar_end()
    # A command importing an earlier month extends the calendar back for its own run, and the month is billed.
    assert _first_partition(home / "config.yaml", including="2025-01") == "2025-01"
    assert _import(home, settings, "2025-01")["ok"]
    assert _first_partition(home / "config.yaml") == "2025-01"


def test_partitions_start_at_the_configured_first_month_and_earlier_imports_are_refused(home):
    _set_first_month(home, "2025-02")
    settings = load_config(home / "config.yaml")
    assert _first_partition(home / "config.yaml") == "2025-02"
    summary = _import(home, settings, "2025-01")
    assert not summary["ok"]
    assert "before the first billing month 2025-02 (imports.first_month in config.yaml)" in str(summary)
    with wh.connect(settings.warehouse_path) as con:
        assert con.execute("SELECT count(*) FROM focus_rows").fetchone()[0] == 0
    assert _import(home, settings, "2025-02")["ok"]


def test_a_first_month_that_is_not_a_month_is_refused_naming_it(home):
    _set_first_month(home, "2025-13")
    with pytest.raises(ConfigError, match="first_month") as caught:
        load_config(home / "config.yaml")
    assert "2025-13" in str(caught.value)


def test_a_warehouse_busy_elsewhere_gives_the_widest_calendar(home, settings):
    """The calendar is read when the definitions load, which must never wait for or fail on the writer's lock."""
    assert _import(home, settings, "2025-03")["ok"]
    with wh.connect(settings.warehouse_path):  # open read-write: a read-only look is refused at once
        assert first_billing_month(settings) == CALENDAR_START
    assert first_billing_month(settings) == "2025-03"


def test_the_inbox_sensor_skips_a_month_before_the_calendar_saying_what_to_do(home, settings):
    assert _import(home, settings, "2025-03")["ok"]
    early = write_focus(home / "data" / "inbox" / "aws_2025-01.csv", [focus_row("2025-01", billed="2.00")])
    warnings: list[str] = []

    class Log:
        def warning(self, message: str) -> None:
            warnings.append(message)

    requests, _ = plan_inbox_runs([early], {}, set(billing_calendar(settings)), Log())
    assert requests == []
    assert warnings == [f"aws_2025-01.csv: month 2025-01 is outside the billing calendar (2025-03 to "
                        f"{calendar_end()}); skipped: set imports.first_month, or import it with `ocb ingest`"]
