"""Which files a month's import takes, and the import of all of them (no Dagster).

Files come from an explicit list (CLI, sensor) or from the inbox; each file's months come from its
content (BillingPeriodStart), cached in `file_catalog` by path, size and mtime so a large inbox is
not re-read on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb

from ocb_pipelines.core import progress
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.ingest import importer
from ocb_pipelines.ingest.focus import expected_month, is_supported_file, months_named_in, source_from_filename
from ocb_pipelines.ingest.late_usage import MonthPricer
from ocb_pipelines.ingest.legacy_layout import SourceDefaults
from ocb_pipelines.ingest.usage import is_usage_file
from ocb_pipelines.warehouse import database as wh


@dataclass
class MonthImport:
    month: str
    results: list[importer.FileImport] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # file name -> error message

    @property
    def imported(self) -> list[importer.FileImport]:
        return [r for r in self.results if r.status in ("imported", "removed")]


def source_for(path: Path, settings: OcbSettings, override: str | None = None) -> str:
    """The source name: `-s` if given, else the longest known_sources pattern in the file name."""
    if override:
        known = settings.source(override)
        return known.name.lower() if known else override.strip().lower()
    patterns = [(s.name.lower(), s.pattern) for s in settings.imports.known_sources]
    found = source_from_filename(path.name, patterns)
    if not found:
        names = ", ".join(s.name for s in settings.imports.known_sources) or "none configured"
        raise importer.ImportRefused(
            path.name,
            f"cannot tell which source this file is from (known sources: {names}); pass -s SOURCE "
            f"or add a pattern under imports.known_sources",
        )
    return found


def source_timezone(settings: OcbSettings, path: Path, override: str | None = None) -> str:
    """The local time zone of the file's source (a Slurm cluster's, for its sacct times); UTC when the source is
    unknown (the import then refuses the file for that)."""
    try:
        known = settings.source(source_for(path, settings, override))
    except importer.ImportRefused:
        return "UTC"
    return known.timezone if known else "UTC"


def file_months(con: duckdb.DuckDBPyConnection, path: Path, timezone: str = "UTC") -> tuple[str, tuple[str, ...]]:
    """(sha256, months) of a file, from the catalog when it is unchanged since it was inspected. `timezone`: its
    source's (a sacct file's months are those of its jobs' UTC ends)."""
    if entry := importer.catalogued(con, path):
        return entry
    stat = path.stat()
    checked_at = wh.now_utc()  # before reading: a write during the inspection leaves the entry racy
    facts = importer.inspect_file(path, timezone=timezone)
    con.execute(
        "INSERT OR REPLACE INTO file_catalog (file_path, size_bytes, mtime_ns, file_sha256, months, checked_at, "
        "strictly_read) VALUES (?, ?, ?, ?, ?, ?, true)",
        [str(path), stat.st_size, stat.st_mtime_ns, facts.sha256, list(facts.months), checked_at],
    )
    return facts.sha256, facts.months


def inbox_files(settings: OcbSettings) -> list[Path]:
    inbox = settings.inbox_dir
    if not inbox.is_dir():
        return []
    return sorted(p for p in inbox.iterdir() if p.is_file() and (is_supported_file(p) or is_usage_file(p)))


def files_for_month(con: duckdb.DuckDBPyConnection, settings: OcbSettings, month: str) -> tuple[list[Path], dict]:
    """Inbox files whose rows fall in the month, or that were imported into it before (so a corrected
    file that no longer has rows for the month removes its old ones). Unreadable files are returned
    too, so the import reports why they were refused."""
    chosen: list[Path] = []
    unreadable: dict[str, str] = {}
    before = {r[0] for r in con.execute(
        "SELECT DISTINCT file_name FROM import_files WHERE billing_month = ?", [month]).fetchall()}
    for path in inbox_files(settings):
        try:
            _, months = file_months(con, path, source_timezone(settings, path))
        except importer.ImportRefused as exc:
            if month in months_named_in(path.name):
                unreadable[path.name] = str(exc)
            continue
        if month in months or path.name in before:
            chosen.append(path)
    return chosen, unreadable


def import_month(
    con: duckdb.DuckDBPyConnection,
    settings: OcbSettings,
    month: str,
    *,
    files: Sequence[str | Path] = (),
    source: str | None = None,
    expected_period: str | None = None,
    run_id: str | None = None,
    actor: str | None = None,
    late_usage: MonthPricer | None = None,
) -> MonthImport:
    """Import every file's rows for the month; each file is all-or-nothing, a refused file is reported.
    `late_usage`: how a closed month is priced again for a usage file's late lines (else such a file is refused)."""
    outcome = MonthImport(month)
    if files:
        paths = [Path(f) for f in files]
    else:
        paths, unreadable = files_for_month(con, settings, month)
        outcome.refused.update(unreadable)
    for path in paths:
        progress.report("import_file_start", month=month, file=path.name, connection=con)
        results: list[importer.FileImport] = []
        try:
            file_source = source_for(path, settings, source)
            expected = expected_period or expected_month(path.name, month)
            results = importer.import_file(
                con, path, months=[month], source=file_source, expected_period=expected, run_id=run_id,
                actor=actor, max_errors=settings.imports.max_errors_shown,
                defaults=SourceDefaults.of(settings, file_source), late_usage=late_usage,
            )
            outcome.results.extend(results)
        except importer.ImportRefused as exc:
            outcome.refused[path.name] = str(exc)
        progress.report("import_file_done", month=month, file=path.name, error=outcome.refused.get(path.name, ""),
                        rows=sum(r.rows for r in results), status="/".join(sorted({r.status for r in results})))
    for name, error in outcome.refused.items():
        wh.record_audit(con, actor=actor or wh.current_actor(), action="import_refused", period=month, run_id=run_id,
                        subject=name, details={"error": error})
    return outcome


@dataclass(frozen=True)
class ImportedFile:
    """A file's rows in a month as the import catalog recorded them."""

    source: str
    file_name: str
    focus_version: str
    row_count: int
    billed_total: Decimal
    list_total: Decimal
    file_sha256: str


def month_files(con: duckdb.DuckDBPyConnection, month: str) -> list[ImportedFile]:
    """Every file imported into the month (by source, then name): what focus_raw's materialisation reports."""
    return [ImportedFile(*row) for row in con.execute(
        "SELECT source, file_name, focus_version, row_count, billed_total, list_total, file_sha256 "
        "FROM import_files WHERE billing_month = ? ORDER BY source, file_name", [month]).fetchall()]
