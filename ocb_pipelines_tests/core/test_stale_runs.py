"""A run killed while it held the warehouse slot must not block every later run: `ocb` and the
daemon's stale_runs_sensor release it; daemon-launched runs are tagged by the Warehouse resource."""

import os
import socket
import subprocess
import sys
import uuid
from contextlib import contextmanager

import dagster as dg

from ocb_pipelines.defs.operations.sensors import stale_runs_sensor
from ocb_pipelines.defs.partitions import WAREHOUSE_POOL
from ocb_pipelines.defs.resources import Warehouse
from ocb_pipelines.services.dagster_runs import (
    DAGSTER_YAML,
    HOST_TAG,
    PID_START_TAG,
    PID_TAG,
    process_tags,
    release_dead_runs,
)


def _run_holding_slot(instance: dg.DagsterInstance, tags: dict[str, str]) -> str:
    run = instance.add_run(dg.DagsterRun(job_name="ingest_job", run_id=str(uuid.uuid4()), tags=tags,
                                         status=dg.DagsterRunStatus.STARTED))
    instance.event_log_storage.claim_concurrency_slot(WAREHOUSE_POOL, run.run_id, "focus_raw")
    return run.run_id


@contextmanager
def dead_and_live_runs(tmp_path, slots: int = 3):
    """An instance holding a run whose process has exited and one whose process is alive, each with a slot."""
    (tmp_path / "dagster.yaml").write_text(DAGSTER_YAML)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mine = process_tags()
        with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
            instance.event_log_storage.set_concurrency_slots(WAREHOUSE_POOL, slots)
            dead_run = _run_holding_slot(instance, {**mine, PID_TAG: str(dead.pid), PID_START_TAG: ""})
            live_run = _run_holding_slot(instance, {**mine, PID_TAG: str(live.pid),
                                                    PID_START_TAG: process_start(live.pid)})
            yield instance, dead_run, live_run, dead.pid
    finally:
        live.kill()
        live.wait()


def test_dead_process_run_is_failed_and_its_slot_freed_live_one_kept(tmp_path):
    with dead_and_live_runs(tmp_path) as (instance, dead_run, live_run, dead_pid):
        other_host = _run_holding_slot(instance, {**process_tags(), PID_TAG: str(dead_pid), HOST_TAG: "elsewhere"})
        assert release_dead_runs(instance) == [dead_run]
        assert instance.get_run_by_id(dead_run).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(live_run).status == dg.DagsterRunStatus.STARTED
        assert instance.get_run_by_id(other_host).status == dg.DagsterRunStatus.STARTED
        held = {slot.run_id for slot in instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
                .claimed_slots}
        assert held == {live_run, other_host}
        assert release_dead_runs(instance) == []


def process_start(pid: int) -> str:
    from ocb_pipelines.services.dagster_runs import _start_time

    return _start_time(pid)


def test_a_reused_pid_is_not_mistaken_for_the_dead_process():
    from ocb_pipelines.services.dagster_runs import process_alive

    tags = process_tags()
    assert process_alive(int(tags[PID_TAG]), tags[PID_START_TAG])
    assert not process_alive(int(tags[PID_TAG]), "1")  # same pid, another start time: another process


def test_sensor_on_the_daemon_releases_a_dead_run_and_leaves_a_live_one(tmp_path):
    with dead_and_live_runs(tmp_path, slots=2) as (instance, dead_run, live_run, _pid):
        result = stale_runs_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(result, dg.SkipReason) and "released 1 run" in result.skip_message
        assert instance.get_run_by_id(dead_run).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(live_run).status == dg.DagsterRunStatus.STARTED
        assert stale_runs_sensor(dg.build_sensor_context(instance=instance)).skip_message == "no dead runs"
    assert stale_runs_sensor.default_status == dg.DefaultSensorStatus.RUNNING  # housekeeping: on by default


@dg.asset
def _touches_warehouse(warehouse: Warehouse) -> None:
    with warehouse.get_connection() as con:
        con.execute("SELECT 1")


def test_runs_using_the_warehouse_are_tagged_with_their_process(settings, tmp_path):
    resources = {"warehouse": Warehouse(config_path=str(settings.config_path))}
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        launched = dg.materialize([_touches_warehouse], resources=resources, instance=instance)
        tags = instance.get_run_by_id(launched.run_id).tags
        assert (tags[PID_TAG], tags[HOST_TAG]) == (str(os.getpid()), socket.gethostname())
        assert tags[PID_START_TAG] == process_tags()[PID_START_TAG]
        # A run naming another process (tags copied from the run a UI re-execution repeats) is retagged with the
        # process running it: else the stale_runs_sensor would fail it, live, once that old process is gone.
        copied = dg.materialize([_touches_warehouse], resources=resources, instance=instance,
                                tags={PID_TAG: "424242", PID_START_TAG: "7", HOST_TAG: "h"})
        assert instance.get_run_by_id(copied.run_id).tags.items() >= process_tags().items()
