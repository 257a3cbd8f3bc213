"""Wall and CPU seconds per named step of a long operation, for the benchmarks to say where the time goes.

Business code marks its steps with `with timed_step("load"): ...`. Nothing is measured unless a caller records
(`with recording_steps() as steps: ...`), so the cost elsewhere is one context-variable lookup per step. CPU time
is the whole process's (every DuckDB and numpy thread), so CPU s / wall s says how many cores a step kept busy.
The process's peak resident memory when a step ends says which step raised it (a peak only grows: the first step
that shows a new high is the one that reached it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class StepTime:
    """The time one step took, summed over its occurrences (one per month of a multi-month file)."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    count: int = 0
    peak_rss_mb: float = 0.0  # the process's peak resident memory when the step last ended (0: not known here)

    def as_dict(self) -> dict[str, float]:
        return {"wall_s": round(self.wall_s, 2), "cpu_s": round(self.cpu_s, 2), "count": self.count,
                "peak_rss_mb": round(self.peak_rss_mb)}


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MB (0 where the system does not say: Windows)."""
    try:
        import resource
    except ImportError:
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


_recording: ContextVar[dict[str, StepTime] | None] = ContextVar("ocb_step_times", default=None)


@contextmanager
def timed_step(name: str) -> Iterator[None]:
    """Add the block's wall and process CPU time to step `name` when someone is recording."""
    steps = _recording.get()
    if steps is None:
        yield
        return
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        step = steps.setdefault(name, StepTime())
        step.wall_s += time.perf_counter() - wall
        step.cpu_s += time.process_time() - cpu
        step.count += 1
        step.peak_rss_mb = max(step.peak_rss_mb, peak_rss_mb())


@contextmanager
def recording_steps() -> Iterator[dict[str, StepTime]]:
    """Record the steps run inside the block, in the order they first ran."""
    steps: dict[str, StepTime] = {}
    token = _recording.set(steps)
    try:
        yield steps
    finally:
        _recording.reset(token)
