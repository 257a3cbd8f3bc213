"""Render workers die with the process that started them.

A pool worker of a killed `ocb generate` (SIGKILL, OOM killer) is not told: it used to live on, about
210 MB each, long after its parent was gone. On Linux each worker asks the kernel for SIGKILL when its
parent dies (prctl PR_SET_PDEATHSIG). The kernel sends it when the *thread* that started the worker exits;
RenderPool starts, uses and shuts down its pool in one thread, so that is the render's own lifetime.
Everywhere (and should prctl be unavailable) a watchdog thread also ends the worker within a second of
its parent's death: the parent's pid is then no longer the worker's parent (it was re-parented).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_SECONDS = 0.5


def set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_SECONDS)
    os._exit(1)  # orphaned: nothing of ours can still want this worker's result


def tie_to_parent(parent_pid: int) -> None:
    """Run first in a worker: it ends when `parent_pid` (the process that started it) ends."""
    set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), name="ocb-parent-watch", daemon=True).start()
