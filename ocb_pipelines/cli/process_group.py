"""Run a long-lived child (`ocb ui`'s `dg dev`) so that stopping `ocb` stops everything the child started.

`dg dev` starts `dagster dev`, which starts the webserver, the daemon and their code servers. A process started
in the background by a shell script inherits SIGINT (some supervisors also SIGTERM) *ignored*, and an ignored
signal stays ignored across exec: `ocb ui` and all of those children then ignored the SIGTERM meant to stop them.
Here:
- `ocb` catches SIGINT, SIGTERM and SIGHUP itself (whatever it inherited), so it can always be stopped;
- the child runs in a session (and process group) of its own, with those signals at their defaults (handlers
  installed before the fork are reset by exec), so a terminal's Ctrl-C reaches it only through `ocb`;
- each signal `ocb` receives is sent to the child's whole group, and to every descendant found when the first one
  came (a process that moved to a group of its own is still stopped);
- `ocb` waits for the child; whatever is left GRACE_SECONDS after a stop, or when the child exits by itself, gets
  SIGTERM then SIGKILL. A process is identified by pid and start time, so a reused pid is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_SECONDS = 20.0
POLL_SECONDS = 0.2


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name ([0] is the state, [1] the parent pid, [19] the start time)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def descendants(pid: int) -> dict[int, str]:
    """Every live descendant of `pid` ({pid: start time}), read from /proc; empty where there is no /proc."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                fields = _stat_fields(int(entry.name))
                if len(fields) > 19 and fields[0] != "Z":
                    children.setdefault(int(fields[1]), []).append(int(entry.name))
                    started[int(entry.name)] = fields[19]
    found: dict[int, str] = {}
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        if child not in found:
            found[child] = started[child]
            todo.extend(children.get(child, []))
    return found


def _alive(pid: int, start: str) -> bool:
    fields = _stat_fields(pid)
    return len(fields) > 19 and fields[0] != "Z" and fields[19] == start


def _signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to the process group; False once the group is empty."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a member that is not ours: the others got it
    return True


def _signal_known(known: Mapping[int, str], signum: int) -> None:
    for pid, start in known.items():
        if _alive(pid, start):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)


def _stop_leftovers(pgid: int, known: Mapping[int, str], grace: float) -> None:
    """SIGTERM what is left of the group and of the known descendants, SIGKILL what is still there after `grace`."""
    def left() -> bool:
        return _signal_group(pgid, 0) or any(_alive(pid, start) for pid, start in known.items())

    if not left():
        return
    _signal_group(pgid, signal.SIGTERM)
    _signal_known(known, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while left():
        if time.monotonic() > deadline:
            _signal_group(pgid, signal.SIGKILL)
            _signal_known(known, signal.SIGKILL)
            return
        time.sleep(POLL_SECONDS)


def run_in_own_group(command: Sequence[str], *, env: Mapping[str, str], cwd: str,
                     grace: float = GRACE_SECONDS) -> int:
    """Run `command` in its own session until it exits, stopping it and all of its children when `ocb` is stopped.

    Returns the child's exit status (128 + N when signal N ended it)."""
    received: list[int] = []
    known: dict[int, str] = {}
    started: list[subprocess.Popen] = []

    def forward(signum: int, _frame) -> None:
        received.append(signum)
        if started:
            if not known:  # before they are reparented, so that a child that left the group is found too
                known.update(descendants(started[0].pid))
            _signal_group(started[0].pid, signum)
            _signal_known(known, signum)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    child: subprocess.Popen | None = None
    try:
        child = subprocess.Popen(list(command), env=dict(env), cwd=cwd, start_new_session=True)
        started.append(child)
        if received:  # came while it was being started
            forward(received[-1], None)
        deadline: float | None = None
        while child.poll() is None:
            if received and deadline is None:
                deadline = time.monotonic() + grace
            if deadline is not None and time.monotonic() > deadline:  # asked to stop, and it did not
                known.update(descendants(child.pid))
                _signal_group(child.pid, signal.SIGKILL)
                _signal_known(known, signal.SIGKILL)
                deadline = float("inf")
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=POLL_SECONDS)
    finally:
        if child is not None:
            if child.poll() is None:  # an error in ocb itself: do not leave the child behind
                known.update(descendants(child.pid))
                _signal_group(child.pid, signal.SIGKILL)
                child.wait()
            _stop_leftovers(child.pid, known, grace)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    code = child.returncode
    return 128 - code if code < 0 else code
