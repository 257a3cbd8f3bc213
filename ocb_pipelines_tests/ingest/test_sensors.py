"""The inbox sensor requests one run per month a new or changed file touches."""

import json
import os

import dagster as dg

from ocb_pipelines.defs.ingest.sensors import focus_inbox_sensor
from ocb_pipelines.defs.resources import build_resources
from ocb_pipelines_tests.conftest import focus_row, write_focus


def _tick(workdir, cursor=None):
    with dg.build_sensor_context(cursor=cursor, resources=build_resources(workdir / "config.yaml")) as context:
        return focus_inbox_sensor(context)


def _months(result):
    return sorted(r.partition_key for r in result.run_requests)


def test_sensor_requests_each_month_touched_then_skips(workdir):
    inbox = workdir / "data" / "inbox"
    write_focus(inbox / "aws_2025-01.csv", [focus_row("2025-01"), focus_row("2025-02")])
    write_focus(inbox / "azure_2025-01.csv.gz", [focus_row("2025-01")])
    (inbox / "notes.txt").write_text("ignored")
    first = _tick(workdir)
    assert _months(first) == ["2025-01", "2025-02"]
    jan = next(r for r in first.run_requests if r.partition_key == "2025-01")
    files = jan.run_config["ops"]["focus_raw"]["config"]["files"]
    assert sorted(os.path.basename(f) for f in files) == ["aws_2025-01.csv", "azure_2025-01.csv.gz"]
    assert jan.tags["ocb/warehouse"] == "write"
    second = _tick(workdir, first.cursor)
    assert not second.run_requests and second.skip_reason


def test_changed_file_reruns_old_and_new_months_touch_alone_does_not(workdir):
    inbox = workdir / "data" / "inbox"
    path = write_focus(inbox / "aws_2025-01.csv", [focus_row("2025-01"), focus_row("2025-02")])
    first = _tick(workdir)
    os.utime(path, (1, 1))  # touched, same content
    assert not _tick(workdir, first.cursor).run_requests
    write_focus(path, [focus_row("2025-01", billed="3"), focus_row("2025-03")])
    third = _tick(workdir, json.dumps(json.loads(first.cursor)))
    assert _months(third) == ["2025-01", "2025-02", "2025-03"]


def test_unreadable_file_still_requests_its_named_month(workdir):
    (workdir / "data" / "inbox" / "gcp_2025-04.csv").write_text("name,amount\nx,1\n")
    result = _tick(workdir)
    assert _months(result) == ["2025-04"]


def test_month_outside_calendar_is_skipped(workdir):
    write_focus(workdir / "data" / "inbox" / "aws_2019-01.csv", [focus_row("2019-01")])
    assert not _tick(workdir).run_requests


def test_sensor_runs_name_their_actor(workdir):
    """An import the inbox started is the sensor's in the audit log and in the run's tags, not the daemon's OS user."""
    write_focus(workdir / "data" / "inbox" / "aws_2025-01.csv", [focus_row("2025-01")])
    (request,) = _tick(workdir).run_requests
    assert request.tags["ocb/actor"] == "inbox_sensor" and request.tags["ocb/trigger"] == "sensor"
    assert request.tags["ocb/warehouse"] == "write"
    assert "actor" not in request.run_config["ops"]["focus_raw"]["config"]  # the run's tag is the one actor
