"""The unattended month end: the monthly schedule, month_end_sensor, and the `schedule:` config keys.

Real DuckDB warehouse, real runs in a Dagster instance under tmp_path, real PDFs and journal files.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from ocb_pipelines.core.config import ConfigError, ScheduleSettings, load_config, load_schedule_settings
from ocb_pipelines.definitions import build_definitions
from ocb_pipelines.defs.partitions import WAREHOUSE_RUN_TAGS
from ocb_pipelines.defs.periods.sensors import month_end_sensor
from ocb_pipelines.periods import lifecycle as lc
from ocb_pipelines.periods.month_end import month_just_ended
from ocb_pipelines.review.fixtures import charge_row, write_focus_csv
from ocb_pipelines.warehouse import database as wh

REPO = Path(__file__).resolve().parents[2]
MONTH = "2025-01"
DEFAULT_SCHEDULE = (
    "schedule:                      # the monthly month-end run; off until turned on (UI, or dagster-daemon)\n"
    """  day_of_month: 3              # on this day (1-28) the month just ended is imported from the inbox and,
  hour: 6                      #   when its review queue is empty, closed; statements and the journal follow
  timezone: UTC                # IANA time zone of day_of_month and hour
  send_emails: false           # also email the statements (dev_mode: .eml files in output.email_dir)
"""
)


def write_config(folder: Path, schedule: str | None = None) -> Path:
    """config.example.yaml with its `schedule:` section replaced (None: removed)."""
    text = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    assert DEFAULT_SCHEDULE in text, "config.example.yaml's schedule section changed; update this test"
    text = text.replace(DEFAULT_SCHEDULE, schedule or "")
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("OCB_ACTOR", "admin.one")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    return tmp_path


def schedule_tick(config: Path, when: datetime):
    """The month-end schedule's tick at `when`, with the warehouse the code location provides."""
    defs = build_definitions(config)
    repository = defs.get_repository_def()
    schedule = repository.get_schedule_def("month_end_schedule")
    # Entered as a context manager, an instance whose context is entered again leaves Dagster's current
    # defs-state storage pointing at it once disposed; an ephemeral instance that is not entered avoids that.
    context = dg.build_schedule_context(instance=dg.DagsterInstance.ephemeral(), scheduled_execution_time=when,
                                        repository_def=repository, resources={"warehouse": defs.resources["warehouse"]})
    return schedule.evaluate_tick(context)


def tick(config: Path, when: datetime) -> list[dg.RunRequest]:
    return list(schedule_tick(config, when).run_requests or [])


# ------------------------------------------------------------------------------------------------
# The schedule and the `schedule:` keys
# ------------------------------------------------------------------------------------------------


def test_month_just_ended():
    assert month_just_ended(datetime(2025, 3, 3, 6)) == "2025-02"
    assert month_just_ended(datetime(2025, 1, 3, 6)) == "2024-12"


def test_default_schedule_requests_the_month_just_ended_with_the_warehouse_tags(project):
    config = write_config(project, DEFAULT_SCHEDULE)
    defs = build_definitions(config)
    schedule = defs.resolve_schedule_def("month_end_schedule")
    assert schedule.cron_schedule == "0 6 3 * *" and schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule.job_name == "month_end_import_job"
    [request] = tick(config, datetime(2025, 3, 3, 6, tzinfo=ZoneInfo("UTC")))
    assert request.partition_key == "2025-02"  # not the month that has just begun
    assert request.tags.items() >= {**WAREHOUSE_RUN_TAGS, "ocb/trigger": "schedule", "ocb/actor": "schedule"}.items()
    assert not request.run_config  # the actor is the run's tag, not a config value
    [january] = tick(config, datetime(2025, 1, 3, 6, tzinfo=ZoneInfo("UTC")))
    assert january.partition_key == "2024-12"


def test_day_hour_and_timezone_set_the_cron(project):
    config = write_config(project, "schedule:\n  day_of_month: 5\n  hour: 23\n  timezone: America/Chicago\n")
    schedule = build_definitions(config).resolve_schedule_def("month_end_schedule")
    assert schedule.cron_schedule == "0 23 5 * *"
    assert schedule.execution_timezone == "America/Chicago"
    # 2025-04-05 23:00 in Chicago is 2025-04-06 in UTC: the month is still the one before April.
    [request] = tick(config, datetime(2025, 4, 5, 23, tzinfo=ZoneInfo("America/Chicago")))
    assert request.partition_key == "2025-03"


def test_the_schedule_skips_a_month_already_closed_by_hand(project):
    """Its import would be refused (a closed month is never re-validated): the tick says why instead of failing."""
    config = write_config(project, DEFAULT_SCHEDULE)
    settings = load_config(config)
    with wh.connect(settings.warehouse_path) as con:
        lc.open_period(con, "2025-02", "admin.one")
        lc.close_period(con, "2025-02", "admin.one")
    result = schedule_tick(config, datetime(2025, 3, 3, 6, tzinfo=ZoneInfo("UTC")))
    assert not result.run_requests
    assert "2025-02 is already closed: nothing to import" in result.skip_message
    assert tick(config, datetime(2025, 4, 3, 6, tzinfo=ZoneInfo("UTC")))[0].partition_key == "2025-03"


def test_schedule_section_defaults_and_a_missing_config(project):
    assert load_schedule_settings(write_config(project, None)) == ScheduleSettings()
    assert ScheduleSettings() == ScheduleSettings(day_of_month=3, hour=6, timezone="UTC", send_emails=False)
    assert load_schedule_settings(project / "absent.yaml") == ScheduleSettings()
    assert load_config(write_config(project, DEFAULT_SCHEDULE)).schedule == ScheduleSettings()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("schedule:\n  day_of_month: 29\n", "schedule.day_of_month"),
        ("schedule:\n  day_of_month: 0\n", "schedule.day_of_month"),
        ("schedule:\n  hour: 24\n", "schedule.hour"),
        ("schedule:\n  timezone: Mars/Olympus\n", "unknown time zone 'Mars/Olympus'"),
        ("schedule:\n  send_emails: perhaps\n", "schedule.send_emails"),
        ("schedule:\n  day: 3\n", "schedule.day"),
    ],
)
def test_invalid_schedule_keys_are_refused_by_name(project, section, message):
    config = write_config(project, section)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_schedule_settings(config)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(config)


# ------------------------------------------------------------------------------------------------
# month_end_sensor after a real import run
# ------------------------------------------------------------------------------------------------


def clean_rows() -> list[dict]:
    return [charge_row(MONTH, resource="vm-a", billed="80.00", ListCost="100.00"),
            charge_row(MONTH, resource="hpc", billed="5.25", pi_email="pi.two@example.edu", project_id="proj-b")]


def import_month_end(config: Path, instance: dg.DagsterInstance):
    """Run month_end_import_job as the schedule would launch it; return the run and its success event."""
    defs = build_definitions(config)
    result = defs.resolve_job_def("month_end_import_job").execute_in_process(
        partition_key=MONTH, instance=instance,
        tags={**WAREHOUSE_RUN_TAGS, "ocb/trigger": "schedule", "ocb/actor": "schedule"},
    )
    assert result.success
    [success] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS]
    return result.dagster_run, success, defs


def evaluate_sensor(config: Path, instance, run, event):
    defs = build_definitions(config)
    context = dg.build_run_status_sensor_context(
        sensor_name="month_end_sensor", dagster_event=event, dagster_instance=instance, dagster_run=run,
        resources={"ocb": defs.resources["ocb"], "warehouse": defs.resources["warehouse"]},
    )
    return month_end_sensor(context)


def run_request(config: Path, instance, request: dg.RunRequest):
    job = build_definitions(config).resolve_job_def(request.job_name)
    return job.execute_in_process(partition_key=request.partition_key, instance=instance, tags=request.tags,
                                  run_config=request.run_config)


def audit(settings, action: str) -> list[tuple]:
    with wh.connect(settings.warehouse_path) as con:
        return con.execute("SELECT actor, run_id, details ->> 'reason' FROM audit_events WHERE action = ? "
                           "ORDER BY event_id", [action]).fetchall()


def test_empty_queue_closes_the_month_and_produces_statements_and_journal_without_email(project):
    config = write_config(project, DEFAULT_SCHEDULE)
    settings = load_config(config)
    write_focus_csv(settings.inbox_dir / f"aws_{MONTH}.csv", clean_rows())
    with dg.DagsterInstance.get() as instance:
        run, event, _ = import_month_end(config, instance)
        request = evaluate_sensor(config, instance, run, event)
        assert isinstance(request, dg.RunRequest)
        assert request.job_name == "month_end_outputs_job" and request.partition_key == MONTH
        assert request.tags.items() >= {**WAREHOUSE_RUN_TAGS, "ocb/trigger": "sensor", "ocb/actor": "schedule"}.items()
        with wh.connect(settings.warehouse_path) as con:
            period = lc.get_period(con, MONTH)
        assert (period.status, period.closed_by) == ("closed", "schedule")
        assert [a[:2] for a in audit(settings, "period_close")] == [("schedule", None)]
        outputs = run_request(config, instance, request)
        assert outputs.success
        produced = {e.asset_key.to_user_string() for e in outputs.get_asset_materialization_events()}
    assert produced == {"charges_approved", "pi_history", "statements", "gl_journal", "unbilled_report"}
    assert len(list(settings.output.pdf_dir.rglob("*.pdf"))) == 2
    assert sorted(p.name for p in settings.output.journal_dir.glob("*.csv")) == [f"journal_gl_{MONTH}.csv",
                                                                                  f"unbilled_{MONTH}.csv"]
    assert not settings.output.email_dir.exists() or not any(settings.output.email_dir.rglob("*.eml"))
    assert audit(settings, "journal_export")[0][0] == "schedule"


def test_send_emails_true_also_emails_the_statements(project):
    config = write_config(project, DEFAULT_SCHEDULE.replace("send_emails: false", "send_emails: true"))
    settings = load_config(config)
    assert settings.schedule.send_emails and settings.dev_mode
    write_focus_csv(settings.inbox_dir / f"aws_{MONTH}.csv", clean_rows())
    with dg.DagsterInstance.get() as instance:
        run, event, _ = import_month_end(config, instance)
        request = evaluate_sensor(config, instance, run, event)
        assert request.job_name == "month_end_outputs_and_send_job"
        outputs = run_request(config, instance, request)
        assert outputs.success
        produced = {e.asset_key.to_user_string() for e in outputs.get_asset_materialization_events()}
    assert "statement_deliveries" in produced
    assert len(list(settings.output.email_dir.rglob("*.eml"))) == 2  # one email per PI (dev mode: files)


def test_pending_review_leaves_the_month_open_and_says_why(project):
    config = write_config(project, DEFAULT_SCHEDULE)
    settings = load_config(config)
    rows = [*clean_rows(), charge_row(MONTH, resource="odd", billed="7.00", project_id=None)]
    write_focus_csv(settings.inbox_dir / f"aws_{MONTH}.csv", rows)
    with dg.DagsterInstance.get() as instance:
        run, event, _ = import_month_end(config, instance)
        skipped = evaluate_sensor(config, instance, run, event)
    assert isinstance(skipped, dg.SkipReason)
    assert "1 charge(s) ($7.00) of 2025-01 are pending review" in skipped.skip_message
    with wh.connect(settings.warehouse_path) as con:
        assert lc.get_period(con, MONTH).status == "open"
    [(actor, run_id, reason)] = audit(settings, "month_end_stopped")
    assert (actor, run_id) == ("schedule", run.run_id) and "ocb review list -p 2025-01" in reason
    assert not settings.output.pdf_dir.exists() or not any(settings.output.pdf_dir.rglob("*.pdf"))


def test_a_refused_file_stops_the_month_end(project):
    config = write_config(project, DEFAULT_SCHEDULE)
    settings = load_config(config)
    write_focus_csv(settings.inbox_dir / f"aws_{MONTH}.csv", clean_rows())
    write_focus_csv(settings.inbox_dir / f"azure_{MONTH}.csv", [charge_row(MONTH, billed="$12")])
    with dg.DagsterInstance.get() as instance:
        result = build_definitions(config).resolve_job_def("month_end_import_job").execute_in_process(
            partition_key=MONTH, instance=instance, raise_on_error=False,
            tags={**WAREHOUSE_RUN_TAGS, "ocb/trigger": "schedule", "ocb/actor": "schedule"})
    # The import run fails on the refusal, so month_end_sensor (it acts on a successful import) never closes the
    # month; the good file went in and the run says which.
    assert not result.success
    [failure] = [e.step_failure_data.user_failure_data for e in result.all_events if e.is_step_failure]
    assert f"azure_{MONTH}.csv" in failure.description and f"aws_{MONTH}.csv (2 rows)" in failure.description
    with wh.connect(settings.warehouse_path) as con:
        assert lc.get_period(con, MONTH).status == "open"


def test_an_empty_inbox_imports_nothing_and_closes_nothing(project):
    config = write_config(project, DEFAULT_SCHEDULE)
    with dg.DagsterInstance.get() as instance:
        run, event, _ = import_month_end(config, instance)
        skipped = evaluate_sensor(config, instance, run, event)
    assert isinstance(skipped, dg.SkipReason)
    assert "nothing was imported for 2025-01: the inbox has no file with rows in it" in skipped.skip_message
    with wh.connect(load_config(config).warehouse_path) as con:
        assert lc.get_period(con, MONTH) is None  # an import of nothing opens no month


def test_sensor_is_off_by_default_and_watches_the_month_end_import():
    sensor = build_definitions(REPO / "config.example.yaml").resolve_sensor_def("month_end_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED



def test_a_month_closed_by_a_person_still_gets_its_outputs_and_a_finalized_one_nothing(project):
    config = write_config(project, DEFAULT_SCHEDULE)
    settings = load_config(config)
    write_focus_csv(settings.inbox_dir / f"aws_{MONTH}.csv", clean_rows())
    with dg.DagsterInstance.get() as instance:
        run, event, _ = import_month_end(config, instance)
        with wh.connect(settings.warehouse_path) as con:
            lc.close_period(con, MONTH, "admin.one")
        request = evaluate_sensor(config, instance, run, event)
        assert isinstance(request, dg.RunRequest) and request.job_name == "month_end_outputs_job"
        with wh.connect(settings.warehouse_path) as con:
            assert lc.get_period(con, MONTH).closed_by == "admin.one"  # not closed again by the schedule
        assert run_request(config, instance, request).success
        with wh.connect(settings.warehouse_path) as con:
            lc.finalize_period(con, MONTH, "admin.one")
        skipped = evaluate_sensor(config, instance, run, event)
    assert isinstance(skipped, dg.SkipReason) and "already finalized" in skipped.skip_message
