"""Render workers die with a killed `ocb generate` (issue 18, point 5).

Regression: SIGKILL of `ocb generate` left its WeasyPrint pool workers running (about 210 MB each, still alive
33 minutes later): a spawned worker holds both ends of its call queue's pipe, so it never sees its parent go.
A real `ocb generate` subprocess is killed with SIGKILL while its workers are alive; every process it started
must be gone within a deadline (polled, no fixed sleep).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ocb_pipelines.review.fixtures import charge_row
from ocb_pipelines.statements import worker_life

from .conftest import MONTH, load_month, make_settings

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")


def _children(pid: int) -> dict[int, str]:
    """{pid: command line} of the live processes whose parent is `pid` (zombies count as gone)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found[int(entry.name)] = cmdline
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _poll(condition, deadline_s: float, what: str):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {deadline_s:.0f} s waiting for {what}")


def test_killed_generate_leaves_no_render_worker(tmp_path, monkeypatch):
    settings = make_settings(tmp_path, monkeypatch)
    rows = [charge_row(MONTH, resource=f"vm-{i}", billed=f"{i}.25", pi_email=f"pi{i % 7}@example.edu",
                       project_id=f"proj-{i:03d}") for i in range(80)]
    load_month(settings, rows)  # 80 statements: the workers are busy for several seconds
    ocb = subprocess.Popen(
        [sys.executable, "-m", "ocb_pipelines.cli.main", "generate", "-p", MONTH, "--workers", "2",
         "-c", str(settings.config_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy(),
    )
    everything: dict[int, str] = {}
    try:
        def workers() -> dict[int, str]:
            if ocb.poll() is not None:
                raise AssertionError(f"ocb generate ended before its workers were seen: {ocb.stderr.read()!r}")
            spawned = {pid: cmd for pid, cmd in _children(ocb.pid).items() if "spawn_main" in cmd}
            return spawned if len(spawned) == 2 else {}

        started = _poll(workers, 120, "two render workers of `ocb generate`")
        assert _poll(lambda: any((settings.output.pdf_dir / MONTH).rglob("*.pdf")), 120, "the first PDF")
        everything = _children(ocb.pid)  # the workers, and multiprocessing's resource tracker
        assert set(started) <= set(everything)
        ocb.send_signal(signal.SIGKILL)
        assert ocb.wait(timeout=30) == -signal.SIGKILL
        _poll(lambda: not any(_alive(pid) for pid in everything), 30, f"the workers {sorted(everything)} to end")
    finally:
        if ocb.poll() is None:
            ocb.kill()
            ocb.wait()
        ocb.stderr.close()
        for pid in everything:  # never leave a stray process behind, whatever failed
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_parent_death_signal_is_armed_on_linux():
    if not sys.platform.startswith("linux"):
        pytest.skip("prctl is Linux only; the watchdog covers the rest")
    probe = subprocess.run(
        [sys.executable, "-c", "import ctypes, sys\n"
         "from ocb_pipelines.statements.worker_life import set_parent_death_signal\n"
         "assert set_parent_death_signal()\n"
         "libc = ctypes.CDLL(None); sig = ctypes.c_int(0)\n"
         "libc.prctl(2, ctypes.byref(sig), 0, 0, 0)\n"  # PR_GET_PDEATHSIG
         "print(sig.value)"],
        capture_output=True, text=True, check=True, timeout=60,
    )
    assert probe.stdout.strip() == str(int(signal.SIGKILL))
    assert worker_life.WATCH_SECONDS <= 1


def test_watchdog_alone_ends_an_orphaned_worker():
    """The fallback where prctl is not available: a process watching its parent's pid ends when the parent dies."""
    child = ("import os, sys\nfrom ocb_pipelines.statements import worker_life\n"
             "print('ready', flush=True)\nworker_life._watch(int(sys.argv[1]))\n")
    parent = subprocess.Popen(
        [sys.executable, "-c", "import os, subprocess, sys\n"
         f"c = subprocess.Popen([sys.executable, '-c', {child!r}, str(os.getpid())], stdout=subprocess.PIPE)\n"
         "assert c.stdout.readline() == b'ready\\n'\nprint(c.pid, flush=True)\nsys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    watcher = int(parent.stdout.readline())
    try:
        assert _alive(watcher)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        _poll(lambda: not _alive(watcher), 30, "the orphaned watcher to end")
    finally:
        parent.stdin.close()
        parent.stdout.close()
        if _alive(watcher):
            os.kill(watcher, signal.SIGKILL)
