"""The progress display of `ocb ingest` and `ocb generate`, always on stderr (stdout stays the result).

It listens to ocb_pipelines.core.progress while a command's Dagster runs execute in this process. On a
terminal it redraws one live line per file, ticking the elapsed time and DuckDB's own progress of the
query under way (`query_progress()`, which matters for one huge file); otherwise (`--progress` into a
pipe or a log) it writes one line per finished file or per tenth of the statements.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ocb_pipelines.core import progress

progress_option = click.option(
    "--progress/--no-progress", "show_progress", default=None,
    help="Progress on stderr (default: when stderr is a terminal, unless --json or --quiet).",
)
quiet_option = click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors (the exit code tells).")


def wanted(show_progress: bool | None, as_json: bool, quiet: bool) -> bool:
    """An explicit --progress / --no-progress decides (stderr only, so --json output stays clean); else on
    when stderr is a terminal, unless --json or --quiet."""
    if show_progress is not None:
        return show_progress
    return not (as_json or quiet) and _stderr_is_tty()


def _stderr_is_tty() -> bool:
    # sys.stderr, not click.get_text_stream (deprecated in click 8.5): CliRunner swaps sys.stderr too.
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def _seconds(value: float) -> str:
    return f"{value:.1f}s" if value < 60 else f"{int(value // 60)}m{int(value % 60):02d}s"


class ProgressDisplay:
    """Turns progress events into stderr lines: `ingest [i/n] month file: rows, status, elapsed` and
    `render [n/N] statements`."""

    def __init__(self, files_total: int = 0, live: bool | None = None, tick: float = 0.5):
        self.files_total = files_total
        self.live = _stderr_is_tty() if live is None else live
        self.tick = tick
        self.started = time.monotonic()
        self.file_index = 0
        self.file_started = 0.0
        self.current = ""
        self.connection: Any = None
        self.render_total = 0
        self.rendered = 0
        self.render_started = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._open_line = False  # a live line without its newline yet
        self._drawn = 0  # its length

    # events -------------------------------------------------------------------------------------------
    def __call__(self, kind: str, fields: dict[str, Any]) -> None:
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            with self._lock:
                handler(fields)

    def _on_import_file_start(self, f: dict[str, Any]) -> None:
        self.file_index += 1
        self.file_started = time.monotonic()
        total = max(self.files_total, self.file_index)
        self.current = f"ingest [{self.file_index}/{total}] {f['month']} {f['file']}"
        self.connection = f.get("connection") if self.live else None
        if self.connection is not None and not progress.track_query_progress(self.connection):
            self.connection = None
        if self.live:
            self._draw(f"{self.current} ...")

    def _on_import_file_done(self, f: dict[str, Any]) -> None:
        self.connection = None
        elapsed = time.monotonic() - self.file_started
        outcome = "refused" if f.get("error") else (f.get("status") or "done")
        rows = f"{f.get('rows', 0):,} rows, " if not f.get("error") else ""
        self._line(f"{self.current}: {rows}{outcome} in {_seconds(elapsed)} "
                   f"(total {_seconds(time.monotonic() - self.started)})")
        self.current = ""

    def _on_render_start(self, f: dict[str, Any]) -> None:
        self.render_total, self.rendered = f["total"], 0
        self.render_started = time.monotonic()
        unchanged = f" ({f['unchanged']} unchanged)" if f.get("unchanged") else ""
        self._line(f"render: {self.render_total} statement(s) to render{unchanged}")

    def _on_statement_rendered(self, f: dict[str, Any]) -> None:
        self.rendered += 1
        n, total = self.rendered, max(self.render_total, self.rendered)
        text = f"render [{n}/{total}] statements ({_seconds(time.monotonic() - self.render_started)})"
        if self.live:
            self._draw(text, end=n == total)
        elif n == total or n % max(1, total // 10) == 0:
            click.echo(text, err=True)

    # drawing ------------------------------------------------------------------------------------------
    def _draw(self, text: str, end: bool = False) -> None:
        """Redraw the live line (padded over what was there before)."""
        click.echo(f"\r{text.ljust(self._drawn)}", err=True, nl=end)
        self._drawn = 0 if end else len(text)
        self._open_line = not end

    def _line(self, text: str) -> None:
        if self.live:
            self._draw(text, end=True)
        else:
            click.echo(text, err=True)

    def _run_ticker(self) -> None:
        while not self._stop.wait(self.tick):
            with self._lock:
                if not self.current:
                    continue
                text = f"{self.current} ... {_seconds(time.monotonic() - self.file_started)}"
                if self.connection is not None:
                    percent = progress.query_percent(self.connection)
                    if percent > 0:  # -1: no query; 0: DuckDB has no estimate yet
                        text += f" (query {percent:.0f}%)"
                self._draw(text)

    def __enter__(self) -> ProgressDisplay:
        if self.live:
            self._ticker = threading.Thread(target=self._run_ticker, name="ocb-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._open_line:
            click.echo("", err=True)  # leave the cursor on a fresh line


@contextmanager
def displaying(enabled: bool, files_total: int = 0) -> Iterator[ProgressDisplay | None]:
    """Show progress on stderr for the block when enabled; otherwise do nothing."""
    if not enabled:
        yield None
        return
    sys.stdout.flush()  # what the command printed before stays above the progress lines
    display = ProgressDisplay(files_total)
    with display, progress.listening(display):
        yield display
