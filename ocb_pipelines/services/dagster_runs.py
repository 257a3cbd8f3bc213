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
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.services.context import JobRunner, RunOutcome
from ocb_pipelines.services.run_tags import resolve_run_tags, run_tags

# (config file, month to run) -> the project's Definitions bound to that file, its calendar including that month
DefinitionsSource = Callable[[Path, str], dg.Definitions]

# One writer at a time for the DuckDB file: steps share this pool (limit 1 in dagster.yaml) and
# runs carry run_tags.WAREHOUSE_RUN_TAGS (limited to 1 by the run queue).
WAREHOUSE_POOL = "ocb_warehouse"

DAGSTER_YAML = """# Written by ocb. One writer at a time for the DuckDB warehouse.
concurrency:
  pools:
    default_limit: 1
  runs:
    tag_concurrency_limits:
      - key: "ocb/warehouse"
        limit: 1
telemetry:
  enabled: false
"""

# One run at a time per process: two execute_in_process calls in threads of one process (the desk's decision
# worker and a page's close) deadlock in Dagster's log setup (logging.config.dictConfig takes the logging lock,
# then each handler's lock, while the other run's event handler holds its own and waits for the logging lock).
_IN_PROCESS_RUN = threading.RLock()

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
    """Tag a run with this process (the one running it), and with its warehouse, trigger and actor tags.

    An `ocb` run already names this process and its trigger and actor. A run the UI re-executes copies the tags
    of the run it repeats, whose process may be long gone: it is retagged with this one, or the stale_runs_sensor
    would fail it while it runs. A run from the UI's asset page carries no `ocb/*` tag: resolve_run_tags adds
    them (trigger `ui`, actor `dagster/user` or `dagster-ui`)."""
    wanted = resolve_run_tags(run.tags)
    if run.tags.get(PID_TAG) != str(os.getpid()) or run.tags.get(HOST_TAG) != socket.gethostname():
        wanted.update(process_tags())
    changed = {key: value for key, value in wanted.items() if run.tags.get(key) != value}
    if changed:
        instance.add_run_tags(run.run_id, changed)


def prepare_dagster_home(settings: OcbSettings) -> Path:
    """$DAGSTER_HOME if set, else `dagster_home` from the config (data/dagster_home), with a dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    yaml_path = home / "dagster.yaml"
    if not yaml_path.exists():
        yaml_path.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def root_cause(error) -> str:
    """The innermost error's message without the exception class: what went wrong, in the user's words."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return re.sub(r"^[\w.]+(?:Error|Failure|Exception): ", "", error.message.strip())


def failure_reason(result: dg.ExecuteInProcessResult) -> str:
    """Why a run failed, in the product's words: the first failed step's root error or, when that step was a
    blocking check that failed, the check's own description (Dagster's error only names the check)."""
    failure = next((e for e in result.all_events if e.is_step_failure), None)
    if failure is None:
        return "run failed"
    if failure.step_failure_data.user_failure_data is not None:  # a dg.Failure raised with our own message
        return root_cause(failure.step_failure_data.error)
    for evaluation in result.get_asset_check_evaluations():
        step = f"{evaluation.asset_key.to_python_identifier()}_{evaluation.check_name}"  # the check's op
        if not evaluation.passed and evaluation.description and failure.step_key == step:
            return evaluation.description
    return root_cause(failure.step_failure_data.error)


@contextmanager
def signals_a_run_can_map() -> Iterator[None]:
    """Run with SIGINT's default handler, and give SIGINT and SIGTERM back as they were afterwards.

    During an in-process run Dagster points SIGTERM at SIGINT's handler, and leaves it there. A process started
    in the background (cron, `ocb ... &`, a CI runner) has SIGINT ignored. So SIGTERM was ignored too, by `ocb`
    itself from its first run on and by every child it started after that. Dagster's compute-log `tail` processes
    then outlived their run: each run waited 30 s for each of them to stop. Only the main thread can change
    signals; Dagster leaves them alone in other threads, and so does this."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    if saved[signal.SIGINT] == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(signum, handler)


def run_job(settings: OcbSettings, definitions: DefinitionsSource, job_name: str, month: str, actor: str,
            run_config: dict[str, Any] | None = None, trigger: str = "cli") -> RunOutcome:
    """Run a job of the project for one month in the shared Dagster instance (so the UI shows the run).

    Returns run_id, success, the root error in the user's words, and each materialisation's metadata. The
    run's console log is kept quiet: commands print their own summary and the full log is in the UI."""
    prepare_dagster_home(settings)
    job = definitions(settings.config_path, month).resolve_job_def(job_name)
    config = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}, **(run_config or {})}
    with _IN_PROCESS_RUN, signals_a_run_can_map(), dg.DagsterInstance.get() as instance:
        release_dead_runs(instance)  # a killed earlier run would otherwise hold the warehouse slot forever
        result = job.execute_in_process(
            partition_key=month, run_config=config, instance=instance, raise_on_error=False,
            tags={**run_tags(trigger, actor), **process_tags()},
        )
    error = "" if result.success else failure_reason(result)
    metadata = {
        event.asset_key.to_user_string(): {k: v.value for k, v in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
    }
    return RunOutcome(run_id=result.run_id, success=result.success, error=error, metadata=metadata)


def job_runner(settings: OcbSettings, definitions: DefinitionsSource, trigger: str = "cli") -> JobRunner:
    """A JobRunner for an AppContext: runs in the shared instance, tagged with the actor and the trigger."""
    runner = partial(run_job, settings, definitions, trigger=trigger)
    return lambda job_name, month, actor, run_config=None: runner(job_name, month, actor, run_config)


def unfinished_runs(settings: OcbSettings) -> list[dict[str, Any]]:
    """The runs not finished yet (queued or running), newest first: what holds, or will hold, the warehouse.

    The desk shows them while the warehouse is busy, each with its job, month, actor and a link target."""
    prepare_dagster_home(settings)
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED), limit=20)
        return [{"run_id": r.run_id, "job": r.job_name, "status": r.status.value,
                 "month": r.tags.get("dagster/partition", ""), "actor": r.tags.get("ocb/actor", "")}
                for r in runs]
