"""Issue 18 (3, 10): a file is imported whole or not at all, exactly as reported; a refused file opens no month.

Through the real CLI (`ocb ingest`, its Dagster run) on a real DuckDB file.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg
import pytest
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.defs.partitions import billing_month
from ocb_pipelines.ingest.billing_months import CALENDAR_START, calendar_end, calendar_problem
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import focus_row, write_focus


def _invoke(workdir, monkeypatch, *args):
    monkeypatch.setenv("DAGSTER_HOME", str(workdir / "dh"))
    monkeypatch.setenv("OCB_ACTOR", "tester")
    return CliRunner().invoke(cli, [*args, "-c", str(workdir / "config.yaml")], catch_exceptions=False)


def _warehouse_counts(workdir) -> tuple[int, int, int]:
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
        return con.execute(
            "SELECT (SELECT count(*) FROM focus_rows), (SELECT count(*) FROM import_files), "
            "(SELECT count(*) FROM billing_periods)"
        ).fetchall()[0]


@pytest.mark.parametrize("far", ["2030-06-01T00:00:00Z", "0001-06-01T00:00:00Z"])
def test_a_row_far_from_the_file_month_refuses_the_whole_file_naming_it(workdir, monkeypatch, far):
    rows = [focus_row("2025-06", billed=f"{i}.25") for i in range(1, 5)]
    rows.insert(2, focus_row("2025-06", billed="99.00", BillingPeriodStart=far))
    path = write_focus(workdir / "aws_2025-06.csv", rows)
    result = _invoke(workdir, monkeypatch, "ingest", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"aws_2025-06.csv: row 3 (line 4), column BillingPeriodStart, value '{far}'" in result.output
    assert "1 file(s) refused; nothing of them was imported" in result.output
    assert _warehouse_counts(workdir) == (0, 0, 0)  # nothing of it in 2025-06, and no month opened
    as_json = json.loads(_invoke(workdir, monkeypatch, "ingest", str(path), "--json").stdout)
    assert as_json["files"][0]["status"] == ["refused"] and as_json["rows"] == 0
    assert _warehouse_counts(workdir) == (0, 0, 0)


def test_the_calendar_rule_is_the_partitions_rule():
    keys = billing_month.get_partition_keys()
    assert keys[0] == CALENDAR_START and keys[-1] == calendar_end()
    assert calendar_problem(keys[-1]) is None and calendar_problem(CALENDAR_START) is None
    assert "outside the billing calendar" in calendar_problem("2019-12")
    assert calendar_problem("2025-12", datetime(2025, 12, 5, tzinfo=UTC)) is None
    assert calendar_problem("2026-01", datetime(2025, 12, 5, tzinfo=UTC))


def test_a_file_refused_by_the_gate_opens_no_month(workdir, monkeypatch):
    path = write_focus(workdir / "aws_2025-04.csv", [focus_row("2025-04"), focus_row("2025-04", billed="ten")])
    result = _invoke(workdir, monkeypatch, "ingest", str(path))
    assert result.exit_code == 1 and "column BilledCost" in result.output
    assert _warehouse_counts(workdir) == (0, 0, 0)
    periods = _invoke(workdir, monkeypatch, "periods", "list")
    assert "no billing months yet" in periods.output


def test_an_inbox_run_of_a_refused_file_opens_no_month(workdir):
    from ocb_pipelines.definitions import build_definitions

    write_focus(workdir / "data" / "inbox" / "aws_2025-04.csv", [focus_row("2025-04", billed="ten")])
    job = build_definitions(workdir / "config.yaml").resolve_job_def("ingest_job")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(partition_key="2025-04", instance=instance, raise_on_error=False)
    assert not result.success and not result.get_asset_materialization_events()  # refused: failed, nothing materialised
    assert _warehouse_counts(workdir) == (0, 0, 0)
