"""`ocb ui` stopped by a signal stops every process it started, in the foreground or the background.

Started in the background by a script, `ocb ui` inherits SIGINT (here SIGTERM too) ignored; before, it and the
webserver, daemon and code servers of `dg dev` then ignored the SIGTERM meant to stop them and kept running.
The processes are real; /proc tells which are left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ocb_pipelines_tests.smtp import free_port
from ocb_pipelines_tests.ui.test_browser import REPO, location_loaded, wait_for

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")

# How a shell script's `cmd &` (or a supervisor) starts a process: SIGINT and SIGTERM ignored, inherited by exec.
IGNORING = ("import os, signal, sys\n[signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)]\n"
            "os.execvp(sys.argv[1], sys.argv[1:])")


def stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def process_tree(root: int) -> dict[int, str]:
    """{pid: command line} of every live descendant of `root` (zombies count as gone)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat(int(entry.name))) and fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    tree, todo = {}, [root]
    while todo:
        parent = todo.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                with contextlib.suppress(OSError):
                    tree[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    todo.append(pid)
    return tree


def alive(pids) -> list[int]:
    return [pid for pid in pids if (fields := stat(pid)) and fields[0] != "Z"]


def kill_leftovers(pids) -> None:
    """Test hygiene only: whatever a failing test left running."""
    for pid in alive(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_ocb_ui_in_the_background_stops_webserver_daemon_and_code_servers_on_sigterm(tmp_path):
    shutil.copy(REPO / "config.example.yaml", tmp_path / "config.yaml")
    port = free_port()
    log_path = tmp_path / "ocb_ui.log"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home"), "PYTHONWARNINGS": "ignore"}
    env.pop("OCB_CONFIG", None)
    with log_path.open("wb") as log:
        ocb = subprocess.Popen([sys.executable, "-c", IGNORING, shutil.which("ocb") or "ocb", "ui", "-c",
                                str(tmp_path / "config.yaml"), "--port", str(port)],
                               cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    started: dict[int, str] = {}
    try:
        wait_for(lambda: location_loaded(f"http://127.0.0.1:{port}", ocb, log_path), 300,
                 "dg dev to serve the code location")
        started = process_tree(ocb.pid)
        commands = " | ".join(started.values())
        for part in ("dg dev", "dagster_webserver", "dagster._daemon", "dagster api grpc"):
            assert part in commands, f"{part} not among the processes of ocb ui: {commands}"
        os.kill(ocb.pid, signal.SIGTERM)
        ocb.wait(timeout=120)  # before: ignored, this timed out
        assert alive(started) == [], {pid: started[pid] for pid in alive(started)}
    finally:
        end_for_sure(ocb, started)



def end_for_sure(proc: subprocess.Popen, known: dict[int, str]) -> None:
    """Whatever a test left running: the process, its tree, and every process it was seen to start."""
    if proc.poll() is None:
        known.update(process_tree(proc.pid))
        proc.kill()
        proc.wait()
    kill_leftovers(known)

CHILD = """
import pathlib, signal, subprocess, sys
ignore_all = ("import signal, sys\\n[signal.signal(s, signal.SIG_IGN) for s in "
              "(signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]\\nsys.stdout.write('ready')\\nsys.stdout.flush()\\n"
              "while True: signal.pause()")
# A stuck server that moved to a session of its own and ignores every polite signal.
stuck = subprocess.Popen([sys.executable, "-c", ignore_all], start_new_session=True, stdout=subprocess.PIPE)
plain = subprocess.Popen([sys.executable, "-c", "import signal\\nwhile True: signal.pause()"])
stuck.stdout.read(5)
pathlib.Path(sys.argv[1]).write_text(f"{stuck.pid} {plain.pid}")
while True:
    signal.pause()
"""

RUNNER = ("import sys\nfrom ocb_pipelines.cli.process_group import run_in_own_group\n"
          "sys.exit(run_in_own_group(sys.argv[1:], env={'PATH': '/usr/bin:/bin'}, cwd='.', grace=1.0))")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_group_leaves_nothing_not_even_a_child_that_left_it_and_ignores_signals(tmp_path, signum):
    ready = tmp_path / "ready"
    (tmp_path / "child.py").write_text(CHILD)
    runner = subprocess.Popen([sys.executable, "-c", IGNORING, sys.executable, "-c", RUNNER,
                               sys.executable, str(tmp_path / "child.py"), str(ready)],
                              cwd=tmp_path, start_new_session=True)
    family: dict[int, str] = {}
    try:
        wait_for(ready.exists, 60, "the child to start its own children")
        wait_for(lambda: ready.read_text().strip(), 10, "the child to name them")
        family = process_tree(runner.pid)
        stuck, plain = (int(p) for p in ready.read_text().split())
        assert {stuck, plain} <= set(family) and len(family) == 3
        os.kill(runner.pid, signum)  # ignored before ocb took it over
        assert runner.wait(timeout=60) == 128 + signum  # the child was ended by the signal passed on
        assert alive(family) == [], {pid: family[pid] for pid in alive(family)}
    finally:
        end_for_sure(runner, family)


def test_a_child_that_exits_by_itself_gives_its_status_back(tmp_path):
    from ocb_pipelines.cli.process_group import run_in_own_group

    assert run_in_own_group([sys.executable, "-c", "raise SystemExit(3)"], env=os.environ, cwd=str(tmp_path)) == 3
    assert run_in_own_group([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"],
                            env=os.environ, cwd=str(tmp_path)) == 128 + signal.SIGTERM
