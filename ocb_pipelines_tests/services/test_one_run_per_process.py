"""Runs started from two threads of one process (the desk: its decision worker and a page's close) run one after
the other. Two `execute_in_process` calls at once deadlocked in Dagster's log setup (the desk hung on a close
while the worker rebuilt the month after a decision)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import dagster as dg

from ocb_pipelines.services import dagster_runs

MONTH = "2025-01"


def parked_at_the_run_lock(thread: threading.Thread) -> bool:
    """Whether `thread` is waiting to enter run_job's one-run-per-process section (its frame at that line)."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "run_job" and Path(code.co_filename) == Path(dagster_runs.__file__):
            line = Path(code.co_filename).read_text().splitlines()[frame.f_lineno - 1]
            return "_IN_PROCESS_RUN" in line
        frame = frame.f_back
    return False


def test_a_run_started_while_another_runs_in_this_process_waits_for_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    settings = SimpleNamespace(dagster_home=tmp_path / "dagster_home", config_path=tmp_path / "config.yaml")
    first_inside, release_first = threading.Event(), threading.Event()
    order: list[str] = []

    @dg.op
    def step(context) -> None:
        actor = context.run.tags["ocb/actor"]
        order.append(f"{actor} starts")
        if actor == "first":
            first_inside.set()
            assert release_first.wait(60), "the test never released the first run"
        order.append(f"{actor} ends")

    job = dg.GraphDefinition(name="one", node_defs=[step]).to_job(
        partitions_def=dg.StaticPartitionsDefinition([MONTH]))
    definitions = lambda _config, _month: dg.Definitions(jobs=[job])  # noqa: E731
    outcomes: dict[str, dagster_runs.RunOutcome] = {}

    def run(actor: str) -> None:
        outcomes[actor] = dagster_runs.run_job(settings, definitions, "one", MONTH, actor, trigger="desk")

    first = threading.Thread(target=run, args=("first",), daemon=True)
    second = threading.Thread(target=run, args=("second",), daemon=True)
    first.start()
    assert first_inside.wait(60)
    second.start()
    deadline = time.monotonic() + 60
    while not parked_at_the_run_lock(second):
        assert "second starts" not in order, f"the second run ran while the first was running: {order}"
        assert time.monotonic() < deadline, "the second run neither ran nor waited"
        time.sleep(0.01)
    release_first.set()
    for thread in (first, second):
        thread.join(60)
        assert not thread.is_alive()
    assert order == ["first starts", "first ends", "second starts", "second ends"]
    assert all(outcome.success for outcome in outcomes.values()), outcomes


def test_a_run_in_a_process_started_in_the_background_leaves_sigterm_as_it_was(tmp_path, monkeypatch):
    """Started by cron or with `&`, a process has SIGINT ignored. Dagster points SIGTERM at SIGINT's handler during
    a run, and left it so: `ocb` and every child it started after that ignored SIGTERM (Dagster's compute-log
    `tail` processes outlived their runs, 30 s each). Now the run's children and the process keep their SIGTERM."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    settings = SimpleNamespace(dagster_home=tmp_path / "dagster_home", config_path=tmp_path / "config.yaml")
    seen_by_child: list[str] = []

    @dg.op
    def step() -> None:
        child = subprocess.run([sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGTERM).name)"],
                               capture_output=True, text=True, timeout=60, check=True)
        seen_by_child.append(child.stdout.strip())

    job = dg.GraphDefinition(name="one", node_defs=[step]).to_job(
        partitions_def=dg.StaticPartitionsDefinition([MONTH]))
    definitions = lambda _config, _month: dg.Definitions(jobs=[job])  # noqa: E731
    assert threading.current_thread() is threading.main_thread()  # where a run may change signal handlers
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a background job
    try:
        sigterm_before = signal.getsignal(signal.SIGTERM)
        outcome = dagster_runs.run_job(settings, definitions, "one", MONTH, "cron", trigger="cli")
        sigterm_after, sigint_after = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert outcome.success, outcome.error
    assert (sigterm_after, sigint_after) == (sigterm_before, signal.SIG_IGN)
    assert seen_by_child == ["SIG_DFL"]  # the run's children can be stopped with SIGTERM
