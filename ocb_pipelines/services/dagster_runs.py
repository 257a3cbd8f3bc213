"""Release what a killed run left behind in the Dagster instance.

Every warehouse step takes the single slot of the `ocb_warehouse` pool; a process killed mid-step (SIGKILL,
OOM killer, power loss) never gives it back and its run stays STARTED, so every later run would wait for
that slot forever. Each run is therefore tagged with its host, pid and the pid's start time: `ocb` runs
(`execute_in_process`) when they are created, runs the daemon launched when the Warehouse resource starts in
their run worker. Runs of this host whose process is gone are then marked failed and their slots freed:
by `ocb` before each new run, and by the `stale_runs_sensor` on the daemon. Live runs are never touched, and
runs of other hosts are left to their own host.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg

PID_TAG = "ocb/pid"
PID_START_TAG = "ocb/pid_start"
HOST_TAG = "ocb/host"
UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), '' if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]  # fields after the command name; starttime is the 20th


def process_tags() -> dict[str, str]:
    """Tags that identify the process running a run (pid reuse is told apart by the start time)."""
    pid = os.getpid()
    return {PID_TAG: str(pid), PID_START_TAG: _start_time(pid), HOST_TAG: socket.gethostname()}


def process_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    return not start or not Path("/proc").is_dir() or _start_time(pid) == start


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark this host's unfinished runs whose process has died as failed and free their pool slots."""
    released = []
    host = socket.gethostname()
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED, tags={HOST_TAG: host}))
    for run in runs:
        pid = run.tags.get(PID_TAG, "")
        if not pid.isdigit() or int(pid) == os.getpid() or process_alive(int(pid), run.tags.get(PID_START_TAG, "")):
            continue
        instance.report_run_failed(run, message=f"the process (pid {pid}) running this run died; marked "
                                                "failed and its warehouse slot released")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released


def tag_run_with_process(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Tag a run with this process, unless it already names one (an `ocb` run names its own process)."""
    if PID_TAG not in run.tags:
        instance.add_run_tags(run.run_id, process_tags())
