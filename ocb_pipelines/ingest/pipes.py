"""A file's byte range handed to DuckDB through a named pipe, moved by the kernel (splice), never copied to disk.

A large CSV's parts (ingest/parts.py) used to be copied into files beside DuckDB's temporary files: a second
gigabyte written for a gigabyte imported, and the kernel's write-back of it competing with the import for the
cores. A part is now a FIFO, fed from its own thread while DuckDB reads it: `splice` moves the file's cached pages
into the pipe without passing them through Python. A FIFO is read once, so each read of the parts feeds them
anew (`feeding`). Where the system has no FIFOs or no splice (macOS, Windows), the parts are copied as before.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

SPLICE_BYTES = 1 << 20
# A pipe holds 64 KiB unless asked for more: DuckDB's reads of a part then wait on its feeder 17,000 times a
# gigabyte. 1 MiB is Linux's default ceiling for any user (/proc/sys/fs/pipe-max-size); measured on a million rows,
# it read the parts in 1.8-1.9 s against 2.0-2.2 s.
PIPE_BYTES = 1 << 20
STOP_WAIT_SECONDS = 30.0  # at most, for a feeder to end once its read is over
FEEDER_THREAD_PREFIX = "ocb-feed-"  # each feeder thread's name: the pipe's after it


def can_stream() -> bool:
    """Whether parts can be named pipes fed by splice (Linux)."""
    return hasattr(os, "mkfifo") and hasattr(os, "splice")


def make_pipe(path: Path) -> None:
    os.mkfifo(path, 0o600)


class _Feeder(threading.Thread):
    """Writes `prefix`, then the source's bytes from `start` to `end`, into the FIFO, once a reader opens it."""

    def __init__(self, fifo: Path, source: Path, start: int, end: int, prefix: bytes) -> None:
        super().__init__(name=f"{FEEDER_THREAD_PREFIX}{fifo.name}", daemon=True)
        self.fifo, self.source, self.start_at, self.end, self.prefix = fifo, source, start, end, prefix
        self.fed_whole = False
        self.error = ""
        self.stopping = False
        self.splicing = True

    def run(self) -> None:
        try:
            pipe = os.open(self.fifo, os.O_WRONLY)  # waits for DuckDB (or `stop`) to open the other end
        except OSError as exc:
            self.error = str(exc)
            return
        try:
            if self.stopping:
                return
            _widen(pipe)
            source = os.open(self.source, os.O_RDONLY)
            try:
                self._feed(source, pipe)
            finally:
                os.close(source)
            self.fed_whole = not self.stopping  # before the pipe closes: the reader's end of file comes after this
        except OSError as exc:  # BrokenPipeError: the reader stopped (a read error, or `stop`)
            self.error = str(exc) or type(exc).__name__
        finally:
            os.close(pipe)

    def _feed(self, source: int, pipe: int) -> None:
        prefix = memoryview(self.prefix)
        while prefix:
            prefix = prefix[os.write(pipe, prefix):]
        offset = self.start_at
        while offset < self.end and not self.stopping:
            moved = self._move(source, pipe, offset, min(SPLICE_BYTES, self.end - offset))
            if moved <= 0:
                raise OSError(f"{self.source.name} ended at byte {offset}, before {self.end}")
            offset += moved

    def _move(self, source: int, pipe: int, offset: int, count: int) -> int:
        """Up to `count` bytes from `offset` into the pipe: by splice, or through a buffer where the source's file
        system cannot splice (EINVAL), from then on."""
        if self.splicing:
            try:
                return os.splice(source, pipe, count, offset_src=offset)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS):
                    raise
                self.splicing = False
        block = memoryview(os.pread(source, count, offset))
        moved = len(block)
        while block:
            block = block[os.write(pipe, block):]
        return moved

    def stop(self) -> None:
        """Make a feeder that is still waiting for its reader (the read failed before it was opened) end, and wait
        for it. Opening and closing the read end wakes a writer waiting in open(), which then sees `stopping`; a
        writer whose reader left gets EPIPE. Only a read that failed gets here with a live feeder."""
        self.stopping = True
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while self.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                os.close(os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK))
            self.join(0.05)  # the thread may not have reached its open() yet: wake it again


def _widen(pipe: int) -> None:
    """Ask for a PIPE_BYTES pipe; a system that refuses keeps its default (slower, as correct)."""
    with contextlib.suppress(ImportError, AttributeError, OSError):
        import fcntl  # Unix only: pipes are only used where splice is (Linux)

        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


@contextlib.contextmanager
def feeding(pipes: Sequence[Path], source: Path, ranges: Sequence[tuple[int, int]], prefixes: Sequence[bytes]
            ) -> Iterator[Callable[[], str | None]]:
    """Feed each pipe its range of `source` (after its prefix) from its own thread while the caller reads them;
    yields a check, for after the read, that names the first pipe not fed whole (None when all were)."""
    feeders = [_Feeder(pipe, source, start, end, prefix)
               for pipe, (start, end), prefix in zip(pipes, ranges, prefixes, strict=True)]
    for feeder in feeders:
        feeder.start()

    def not_fed_whole() -> str | None:
        for feeder in feeders:
            feeder.join(STOP_WAIT_SECONDS)  # the reader saw its end of file: the feeder is ending
            if not feeder.fed_whole:
                return f"{feeder.fifo.name} was not fed whole ({feeder.error or 'not read'})"
        return None

    try:
        yield not_fed_whole
    finally:
        for feeder in feeders:
            feeder.stop()
