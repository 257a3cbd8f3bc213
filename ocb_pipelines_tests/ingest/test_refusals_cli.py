"""Issue 15 through the real CLI and the inbox sensor: dates like `4/1/25` are refused naming file, row,
column and value (never a traceback), and a copy of an imported file is reported as a duplicate of it."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import pytest
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.defs.ingest.sensors import focus_inbox_sensor
from ocb_pipelines.defs.resources import build_resources
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import focus_row, write_focus

SHORT_US = {"BillingPeriodStart": "4/1/25", "BillingPeriodEnd": "5/1/25", "ChargePeriodStart": "4/1/25",
            "ChargePeriodEnd": "4/2/25"}
NAMED = "aws_2025-04.csv: row 2 (line 3), column BillingPeriodStart, value '4/1/25': not a FOCUS date/time"


def _invoke(workdir, monkeypatch, *args):
    monkeypatch.setenv("DAGSTER_HOME", str(workdir / "dh"))
    monkeypatch.setenv("OCB_ACTOR", "tester")
    return CliRunner().invoke(cli, [*args, "-c", str(workdir / "config.yaml")], catch_exceptions=False)


def _short_us_file(folder):
    return write_focus(folder / "aws_2025-04.csv", [focus_row("2025-04"), focus_row("2025-04", **SHORT_US)])


@pytest.mark.parametrize("mode", [[], ["--dry-run"]])
def test_short_us_dates_are_refused_by_row_column_and_value(workdir, monkeypatch, mode):
    path = _short_us_file(workdir)
    text = _invoke(workdir, monkeypatch, "ingest", str(path), *mode)
    assert text.exit_code == 1
    assert NAMED in text.output and "Traceback" not in text.output and "ValueError" not in text.output
    as_json = _invoke(workdir, monkeypatch, "ingest", str(path), "--json", *mode)
    summary = json.loads(as_json.stdout)
    assert as_json.exit_code == 1 and not summary["ok"]
    assert any(NAMED in line for line in summary["errors"])
    if (workdir / "data" / "warehouse.duckdb").exists():
        with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
            assert con.execute("SELECT count(*) FROM focus_rows").fetchall() == [(0,)]


def test_a_month_the_calendar_cannot_hold_is_refused_by_row(workdir, monkeypatch):
    path = write_focus(workdir / "gcp_2025-04.csv",
                       [focus_row("2025-04"), focus_row("2025-04", BillingPeriodStart="0001-04-01T00:00:00Z")])
    result = _invoke(workdir, monkeypatch, "ingest", str(path), "--dry-run")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "gcp_2025-04.csv: row 2 (line 3), column BillingPeriodStart, value '0001-04-01T00:00:00Z'" in result.output


def test_inbox_sensor_run_refuses_short_us_dates_by_row(workdir):
    _short_us_file(workdir / "data" / "inbox")
    with dg.build_sensor_context(resources=build_resources(workdir / "config.yaml")) as context:
        tick = focus_inbox_sensor(context)
    [request] = tick.run_requests  # the month its name gives: the run says why it is refused
    job = build_definitions(workdir / "config.yaml").resolve_job_def("ingest_job")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(partition_key=request.partition_key, run_config=request.run_config,
                                        instance=instance, raise_on_error=False)
        assert not result.success  # its only file refused: the run fails with the refusal, and materialises nothing
        [failure] = [e for e in result.all_events if e.is_step_failure]
        assert failure.step_key == "focus_raw" and NAMED in failure.step_failure_data.user_failure_data.description
        assert not result.get_asset_materialization_events()
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
        [(details,)] = con.execute("SELECT details FROM audit_events WHERE action = 'import_refused'").fetchall()
        assert con.execute("SELECT count(*) FROM focus_rows").fetchall() == [(0,)]
    assert NAMED in json.loads(details)["error"]


def test_a_copy_under_another_name_is_a_duplicate_not_removed(workdir, monkeypatch):
    first = write_focus(workdir / "aws_2025-01.csv", [focus_row(), focus_row(billed="3")])
    copy = shutil.copy(first, workdir / "aws_2025-01_copy.csv")
    assert _invoke(workdir, monkeypatch, "ingest", str(first)).exit_code == 0
    text = _invoke(workdir, monkeypatch, "ingest", str(copy))
    assert text.exit_code == 0, text.output
    assert "removed" not in text.output
    assert "skipped   aws_2025-01_copy.csv" in text.output and "duplicate of aws_2025-01.csv" in text.output
    summary = json.loads(_invoke(workdir, monkeypatch, "ingest", str(copy), "--json").stdout)
    [entry] = summary["files"]
    assert entry["status"] == ["duplicate"] and entry["duplicate_of"] == ["aws_2025-01.csv"]
    dry = json.loads(_invoke(workdir, monkeypatch, "ingest", str(first), str(copy), "--dry-run", "--json").stdout)
    assert {f["file"]: f["status"] for f in dry["files"]} == {
        "aws_2025-01.csv": ["would import"], "aws_2025-01_copy.csv": ["duplicate"]}
