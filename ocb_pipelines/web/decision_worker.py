"""The desk's background thread: applies the decisions queued while the warehouse was busy.

Started and stopped with the app (create_app's lifespan). Every few seconds it looks at the desk's SQLite file;
only when requests wait does it try the warehouse (without waiting for its lock), applying them in the order
they came, each as the user who sent it. A stop lets the request being applied finish.
"""

from __future__ import annotations

import logging
import threading

from ocb_pipelines.app import app_context
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.services.desk_decisions import apply_queued

POLL_SECONDS = 3.0
log = logging.getLogger("ocb.desk")


class QueuedDecisionWorker:
    """A daemon thread calling services.desk_decisions.apply_queued every `poll_seconds` until stopped."""

    def __init__(self, settings: OcbSettings, poll_seconds: float = POLL_SECONDS):
        self.settings = settings
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ocb-queued-decisions", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Ask the thread to end and wait for it (a decision being applied is finished first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the queued-decision thread is still applying a decision after %.0f s; "
                            "it stays queued if the desk stops now and is applied at the next start", timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        # Every request's own user acts; this context only lends the settings and the job runner.
        ctx = app_context(self.settings, actor="desk", trigger="desk", lock_wait_seconds=0)
        while not self._stop.is_set():
            try:
                for done in apply_queued(ctx):
                    log.info("queued decision %s by %s: %s", done.key, done.stored.username, done.state)
            except Exception:  # never let the thread die: the requests stay queued and are tried again
                log.exception("applying queued decisions failed; they stay queued")
            self._stop.wait(self.poll_seconds)
