"""Issue 21: an import run tells the truth in the Dagster instance, and the review state follows it by itself.

Everything runs as the daemon runs it, against a real Dagster instance in a temp DAGSTER_HOME (ocb's
dagster.yaml) and a real DuckDB warehouse: the inbox sensor is evaluated and its run requests executed
(reliability.load.Daemon), declarative automation is evaluated tick by tick with its cursor and the runs it
requests are executed with the automation sensor's own tags. What is asserted is read back from the instance:
run records, the event log (step failures, materialisations, check evaluations) and run tags.
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.defs.ingest.checks import GATE_CHECK
from ocb_pipelines.defs.review.automation import SENSOR_NAME
from ocb_pipelines.periods import lifecycle as lc
from ocb_pipelines.services.dagster_runs import DAGSTER_YAML
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.conftest import focus_row, write_focus
from ocb_pipelines_tests.reliability.load import QUIET, Daemon

REVIEW_ASSETS = [dg.AssetKey("review_decisions"), dg.AssetKey("charges_approved")]
BAD_VALUE = "column BilledCost, value '$12': not a FOCUS decimal number"


@pytest.fixture
def instance(workdir: Path, monkeypatch) -> dg.DagsterInstance:
    """The instance `ocb ui` and the daemon use: DAGSTER_HOME with ocb's dagster.yaml (run queue, pools)."""
    home = workdir / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("OCB_ACTOR", "tester")
    with dg.DagsterInstance.get() as instance:
        yield instance


@pytest.fixture
def daemon(workdir: Path, instance: dg.DagsterInstance) -> Daemon:
    return Daemon(instance, workdir / "config.yaml")


def sensor_import(daemon: Daemon) -> list[dict]:
    """One inbox sensor tick (with the cursor of the last) and every run it requests, launched as the daemon does."""
    return [daemon.execute(request) for request in daemon.tick()]


def step_failures(instance: dg.DagsterInstance, run_id: str) -> dict[str, dg.DagsterEvent]:
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    return {e.dagster_event.step_key: e.dagster_event for e in events}


def materialized(instance: dg.DagsterInstance, asset: str) -> set[str]:
    return set(instance.get_materialized_partitions(dg.AssetKey(asset)))


class Automation:
    """What the daemon's review_automation_sensor does each tick: evaluate the conditions with the stored cursor,
    then launch one run per requested month, of the requested assets, with the sensor's run tags."""

    def __init__(self, instance: dg.DagsterInstance, config: Path):
        self.instance = instance
        self.defs = build_definitions(config)
        self.tags = self.defs.resolve_sensor_def(SENSOR_NAME).run_tags
        self.cursor = None
        self.runs: list[dg.ExecuteInProcessResult] = []

    def tick(self) -> dict[str, list[dg.AssetKey]]:
        result = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance, cursor=self.cursor)
        self.cursor = result.cursor
        by_month: dict[str, list[dg.AssetKey]] = defaultdict(list)
        for key in REVIEW_ASSETS:
            for month in result.get_requested_partitions(key):
                by_month[month].append(key)
        job = self.defs.resolve_implicit_global_asset_job_def()
        for month, keys in sorted(by_month.items()):
            self.runs.append(job.execute_in_process(
                asset_selection=keys, partition_key=month, tags=self.tags, run_config=QUIET, instance=self.instance))
        return dict(by_month)


def test_a_refused_import_is_a_failed_run_whose_message_names_file_row_column_and_value(workdir, instance, daemon):
    write_focus(workdir / "data" / "inbox" / "aws_2025-03.csv", [focus_row("2025-03", billed="$12")])
    [run] = sensor_import(daemon)
    record = instance.get_run_record_by_id(run["run_id"])
    assert record.dagster_run.status == dg.DagsterRunStatus.FAILURE
    [(step, failure)] = step_failures(instance, run["run_id"]).items()
    assert step == "focus_raw"  # the step that refused: nothing downstream ran
    error = failure.step_failure_data.error
    # Dagster's own Failure, not the product's exception wrapped in a user-code error with a chained cause: the
    # UI shows this message, then the failure's metadata, first.
    assert error.cls_name == "Failure" and error.cause is None
    described = failure.step_failure_data.user_failure_data.description
    assert f"aws_2025-03.csv: row 1 (line 2), {BAD_VALUE}" in described
    assert "2025-03 is unchanged" in described and "ocb ingest" in described and "Dagster UI" in described
    assert not materialized(instance, "focus_raw") and not materialized(instance, "charges_validated")


def test_a_partly_refused_batch_fails_naming_the_files_that_went_in(workdir, instance, daemon):
    inbox = workdir / "data" / "inbox"
    write_focus(inbox / "aws_2025-03.csv", [focus_row("2025-03", billed="4"), focus_row("2025-03", billed="6")])
    write_focus(inbox / "azure_2025-03.csv", [focus_row("2025-03", billed="$12")])
    [run] = sensor_import(daemon)
    assert instance.get_run_record_by_id(run["run_id"]).dagster_run.status == dg.DagsterRunStatus.FAILURE
    [(step, failure)] = step_failures(instance, run["run_id"]).items()
    assert step == f"focus_raw_{GATE_CHECK}"  # after the good file went in and was validated in the same run
    described = failure.step_failure_data.user_failure_data.description
    assert f"azure_2025-03.csv: row 1 (line 2), {BAD_VALUE}" in described
    assert "imported into 2025-03: aws_2025-03.csv (2 rows)" in described
    assert materialized(instance, "focus_raw") == materialized(instance, "charges_validated") == {"2025-03"}
    [evaluation] = [e for e in (r.dagster_event.event_specific_data for r in instance.all_logs(
        run["run_id"], of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)) if e.check_name == GATE_CHECK]
    assert not evaluation.passed and evaluation.partition == "2025-03"
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:  # the good file stays imported, validated
        assert con.execute("SELECT file_name, sum(billed_cost) FROM charges_validated GROUP BY ALL").fetchall() == [
            ("aws_2025-03.csv", 10)]
    # `ocb ingest` of the same batch reports as it always has: one file imported (and validated), one refused.
    out = CliRunner().invoke(cli, ["ingest", str(inbox / "aws_2025-03.csv"), str(inbox / "azure_2025-03.csv"),
                                   "--json", "-c", str(workdir / "config.yaml")])
    summary = json.loads(out.stdout)
    assert out.exit_code == 1 and [r["success"] for r in summary["runs"]] == [False]
    files = {f["file"]: f for f in summary["files"]}
    assert files["aws_2025-03.csv"]["status"] == ["unchanged"] and files["aws_2025-03.csv"]["rows"] == 2
    assert not files["aws_2025-03.csv"]["errors"] and files["azure_2025-03.csv"]["status"] == ["refused"]
    assert all("azure_2025-03.csv" in line for line in summary["errors"])


def test_a_refused_file_for_a_new_month_opens_no_month(workdir, instance, daemon):
    inbox = workdir / "data" / "inbox"
    write_focus(inbox / "aws_2025-03.csv", [focus_row("2025-03")])
    assert all(r["success"] for r in sensor_import(daemon))
    write_focus(inbox / "aws_2025-04.csv", [focus_row("2025-04", billed="$12")])
    [run] = sensor_import(daemon)
    assert not run["success"] and run["month"] == "2025-04"
    for asset in ("focus_raw", "charges_validated", "review_decisions", "charges_approved"):
        assert "2025-04" not in materialized(instance, asset), asset
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
        assert con.execute("SELECT period FROM billing_periods").fetchall() == [("2025-03",)]
        assert con.execute("SELECT DISTINCT billing_month FROM import_files").fetchall() == [("2025-03",)]


def test_a_late_file_for_a_closed_month_is_booked_in_the_next_open_month(workdir, instance, daemon):
    """Issue 20: a corrected file for a closed month is late data: a green late_import_job run keeps it apart, and
    the late data sensor validates the month its adjustment lines were booked in."""
    inbox = workdir / "data" / "inbox"
    automation = Automation(instance, workdir / "config.yaml")
    automation.tick()
    write_focus(inbox / "aws_2025-03.csv", [focus_row("2025-03")])
    sensor_import(daemon)
    automation.tick()  # the review state follows, so the month can close
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
        lc.close_period(con, "2025-03", "tester")
    write_focus(inbox / "aws_2025-03.csv", [focus_row("2025-03", billed="99")])  # a late correction
    [run] = sensor_import(daemon)
    assert run["success"] and run["month"] == "2025-03"
    (late_run,) = instance.get_runs(dg.RunsFilter(run_ids=[run["run_id"]]))
    assert late_run.job_name == "late_import_job"
    event = instance.get_latest_materialization_event(dg.AssetKey("focus_raw"))
    assert event.asset_materialization.metadata["adjustments_booked_in"].value == ["2025-04"]
    defs = build_definitions(workdir / "config.yaml")
    sensor = defs.resolve_sensor_def("late_data_sensor")
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        (request,) = sensor(context)
    assert request.partition_key == "2025-04" and request.job_name in (None, "late_adjustments_job")
    result = defs.resolve_job_def("late_adjustments_job").execute_in_process(
        instance=instance, partition_key="2025-04", tags=request.tags)
    assert result.success
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
        assert con.execute("SELECT billed_cost, review_reasons FROM charges_validated WHERE billing_month = "
                           "'2025-04'").fetchall() == [(Decimal("88.5"), ["late_for_closed_month"])]


def test_a_sensor_import_is_followed_by_a_current_review_state_without_review_job(workdir, instance, daemon):
    config = workdir / "config.yaml"
    automation = Automation(instance, config)
    assert automation.tick() == {}  # the sensor was already running when the file arrived
    # 25 charges to review: more than the queue metadata lists, so it must say how many it leaves out.
    write_focus(workdir / "data" / "inbox" / "aws_2025-03.csv",
                [focus_row("2025-03", billed="1")] + [focus_row("2025-03", billed=f"{k}", tags="{}")
                                                      for k in range(2, 27)])
    assert all(r["success"] for r in sensor_import(daemon))
    # 2025-03 is not the calendar's latest month (that is the running one): plain eager() would skip it.
    assert automation.defs.resolve_job_def("ingest_job").partitions_def.get_last_partition_key() != "2025-03"
    assert automation.tick() == {"2025-03": REVIEW_ASSETS}
    [review_run] = automation.runs
    assert review_run.success and review_run.job_def.name != "review_job"
    tags = instance.get_run_record_by_id(review_run.run_id).dagster_run.tags
    assert tags.items() >= {"ocb/warehouse": "write", "ocb/trigger": "sensor", "ocb/actor": SENSOR_NAME}.items()
    decisions = instance.get_latest_materialization_event(dg.AssetKey("review_decisions")).asset_materialization
    assert decisions.partition == "2025-03"
    assert decisions.metadata["pending_rows"].value == 25 and decisions.metadata["review_queue_shown"].value == 20
    queue = decisions.metadata["review_queue"].value
    assert queue.startswith("Showing 20 of 25 charges pending review") and "`ocb review list -p 2025-03`" in queue
    assert materialized(instance, "charges_approved") == {"2025-03"}
    with wh.connect(workdir / "data" / "warehouse.duckdb") as con:
        assert con.execute("SELECT count(*), sum(billed_cost) FROM charges_approved").fetchall() == [(1, 1)]
    assert automation.tick() == {}  # its own runs trigger nothing more
    assert not instance.get_run_records(dg.RunsFilter(job_name="review_job"))


def test_the_review_automation_sensor_is_on_by_default_and_tags_its_runs_as_warehouse_writers():
    defs = build_definitions(Path(__file__).resolve().parents[2] / "config.example.yaml")
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.run_tags["ocb/warehouse"] == "write"  # the run queue lets one warehouse writer run at a time
    # It covers every automated asset, so Dagster adds no default_automation_condition_sensor (off by default).
    assert {s.name for s in defs.get_repository_def().sensor_defs if s.name.startswith(("default_", "review_"))} == {
        SENSOR_NAME, "review_sheet_sensor"}
    for key in REVIEW_ASSETS:
        condition = defs.resolve_assets_def(key).automation_conditions_by_key[key]
        assert "in_latest_time_window" not in str(condition)
        assert "all_deps_blocking_checks_passed" in str(condition)
