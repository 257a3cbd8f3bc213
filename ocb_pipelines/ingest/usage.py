"""Usage files as an import source: Slurm `sacct --parsable2` output and storage usage reports.

Such a file is told by its header (not its name) and is not FOCUS: it holds usage, not charges. It is imported as
a FOCUS file is (ingest.importer): per billing month one `imports` row (focus_version `slurm-sacct` or
`storage-usage`, the file's sha256, source, run) and one `import_files` row (row_count = that month's usage lines;
billed and list totals 0 until the month is priced), its lines in `usage_rows` under the import's key and numbered
as FOCUS rows are (file_row_number 1 = the first line after the header; a problem names `row N (line N+1)`). The
file is read and checked inside DuckDB (sacct.py, storage_report.py), whole or not at all: a bad line refuses it,
naming the line, column and value. The same file again changes nothing; a corrected file replaces its own lines
(and anything priced from them); a closed or finalized month takes it as late usage (ingest/late_usage.py:
the month priced again with it, the difference booked in the next open month).
"""

from __future__ import annotations

import contextlib
import gzip
import re
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from ocb_pipelines.core.billing_month import month_key
from ocb_pipelines.ingest import late, sacct, storage_report
from ocb_pipelines.ingest.catalog import already_imported
from ocb_pipelines.ingest.focus import HeaderMapping
from ocb_pipelines.ingest.importer import FileImport
from ocb_pipelines.ingest.reading import MAX_CELL_BYTES, FileFacts, ImportRefused, explain_read_error, file_digest
from ocb_pipelines.ingest.schemas import GateFailure
from ocb_pipelines.ingest.usage_sql import sql_text
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines.warehouse.schema.ingest import IMPORTS_INSERT

if TYPE_CHECKING:
    from ocb_pipelines.ingest.late_usage import MonthPricer

SACCT = sacct.KIND
STORAGE = storage_report.KIND
KINDS = (SACCT, STORAGE)  # the focus_version of a usage import
USAGE_COLUMNS = (
    "billing_month", "import_key", "file_row_number", "usage_kind", "account", "user_name", "job_id", "job_name",
    "partition", "cluster", "started_at", "ended_at", "elapsed_hours", "billing_units", "cpus", "gpus", "mem_gb",
    "usage_date", "terabytes",
)  # fmt: skip


def _first_line(path: Path) -> str | None:
    """The header line as text (a UTF-8 BOM dropped), or None when the file cannot be read as UTF-8 text."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            first = handle.readline(1 << 16)
        return first.decode("utf-8").removeprefix("\ufeff").rstrip("\r\n")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        return None


def usage_kind(path: str | Path) -> str | None:
    """`slurm-sacct` for a header of pipe-separated names with JobID, `storage-usage` for a CSV header with date
    and path_or_project (any case), else None (a FOCUS file, or not a file we read)."""
    path = Path(path)
    if not path.is_file():
        return None
    header = _first_line(path)
    if not header:
        return None
    if "|" in header and "jobid" in {n.strip().lower() for n in header.split("|")}:
        return SACCT
    names = {n.strip().strip('"').lower() for n in header.split(",")}
    return STORAGE if {"date", "path_or_project"} <= names else None


def is_usage_file(path: str | Path) -> bool:
    """Whether an inbox file of any name is a usage file (its first line read): sacct output is often `.txt`."""
    return not Path(path).name.startswith(".") and usage_kind(path) is not None


@dataclass(frozen=True)
class UsageHeader:
    """A usage file's kind and how DuckDB reads it: its reader and canonical name -> the column as read."""

    kind: str
    reader: str
    columns: dict[str, str]
    file_format: str  # what import_files records: sacct, csv, with .gz when compressed

    def rows_sql(self, timezone: str) -> str:
        if self.kind == SACCT:
            return sacct.rows_sql(self.reader, self.columns, timezone)
        return storage_report.rows_sql(self.reader, self.columns)


def _reader(path: Path, kind: str, width: int) -> str:
    """read_csv of `width` text columns c0, c1, ... (named by us, not guessed: a line with more or fewer fields is
    an error naming it), pipes and no quoting for sacct (a job name may hold a quote), a plain CSV otherwise."""
    compression = "gzip" if path.name.lower().endswith(".gz") else "none"
    delim, quote = ("|", "") if kind == SACCT else (",", '"')
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    return (f"read_csv({sql_text(str(path))}, auto_detect = false, header = true, columns = {columns}, "
            f"delim = {sql_text(delim)}, quote = {sql_text(quote)}, escape = {sql_text(quote)}, "
            f"compression = '{compression}', strict_mode = true, max_line_size = {MAX_CELL_BYTES})")


def explain(path: Path, kind: str, exc: duckdb.Error) -> ImportRefused:
    """DuckDB's reader error in words, naming the row and line (never the file's content)."""
    fmt = "csv.gz" if path.name.lower().endswith(".gz") else "csv"
    if kind == STORAGE:
        return explain_read_error(path.name, exc, path, fmt)
    line = re.search(r"CSV Error on Line: (\d+)", str(exc))
    fields = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", str(exc))
    if line and fields:
        row = int(line.group(1)) - 1  # DuckDB counts the header as a line
        expected, found = int(fields.group(1)), int(fields.group(2))  # DuckDB stops counting at one too many
        has = (f"more fields than the header's {expected}" if found > expected
               else f"{found} field(s) where the header has {expected}")
        return ImportRefused(path.name, f"is not well-formed sacct --parsable2 output: row {row} (line {row + 1}) "
                                        f"has {has} (a '|' in a job name? sacct --delimiter can choose another)")
    return explain_read_error(path.name, exc, path, None)


def read_header(path: Path, kind: str) -> UsageHeader:
    """The file's columns checked against its kind: the required ones present, none repeated, none unknown."""
    fmt = ("sacct" if kind == SACCT else "csv") + (".gz" if path.name.lower().endswith(".gz") else "")
    split = (_first_line(path) or "").split("|" if kind == SACCT else ",")
    written = [n.strip().strip('"') for n in split]
    reader = _reader(path, kind, len(written))  # `sacct --parsable` ends each line with a pipe: an empty column
    known = {c.lower(): c for c in ((*sacct.REQUIRED, *sacct.OPTIONAL) if kind == SACCT
                                    else (*storage_report.COLUMNS, *storage_report.AMOUNTS))}
    what = "a Slurm sacct --parsable2 file" if kind == SACCT else "a storage usage report"
    columns: dict[str, str] = {}
    unknown: list[str] = []
    for index, name in enumerate(written):
        canonical = known.get(name.lower())
        if canonical is None:
            if kind == STORAGE and (name or index < len(written) - 1):
                unknown.append(name)
            continue  # sacct prints what it was asked for: columns we do not use are ignored
        if canonical in columns:
            raise ImportRefused(path.name, f"{what}: column {name!r} appears twice")
        columns[canonical] = f"c{index}"
    required = sacct.REQUIRED if kind == SACCT else storage_report.COLUMNS
    missing = [c for c in required if c not in columns]
    if kind == STORAGE:
        amounts = [c for c in storage_report.AMOUNTS if c in columns]
        if not amounts:
            missing.append("bytes or TB")
        elif len(amounts) > 1:
            unknown.append("TB (with bytes: one of them only)")
    if missing:
        raise ImportRefused(path.name, f"{what}, but the header lacks column(s) {', '.join(missing)}")
    if unknown:
        raise ImportRefused(path.name, f"{what} has columns date, path_or_project and bytes or TB only; "
                                       f"unknown column(s): {', '.join(unknown)}")
    return UsageHeader(kind, reader, columns, fmt)


@dataclass(frozen=True)
class ParsedUsage:
    """A usage file read into a temporary table: its lines, months, and what was skipped."""

    table: str
    file_format: str  # what import_files records
    lines: int  # every data line
    months: tuple[str, ...]  # the months of the usage lines kept
    steps: int  # sacct step lines skipped (JobID with a '.')
    unfinished: int  # sacct jobs without an End skipped

    def notes(self) -> list[str]:
        """What the import reports about the lines it did not keep."""
        if not (self.steps or self.unfinished):
            return []
        return [f"skipped {self.steps:,} job step line(s) (the job's allocation line is billed) and "
                f"{self.unfinished:,} unfinished job(s) (no End yet: billed when they end)"]


def parse_usage(con: duckdb.DuckDBPyConnection, path: Path, kind: str, timezone: str,
                max_errors: int = 20) -> ParsedUsage:
    """Read the whole file into a temporary table of typed usage lines, or refuse it naming its bad lines. The
    caller drops the table (drop_parsed)."""
    header = read_header(path, kind)
    table = f"usage_parsed_{uuid.uuid4().hex}"
    try:
        con.execute(f"CREATE TEMP TABLE {table} AS {header.rows_sql(timezone)}")
        bad = con.execute(
            f"SELECT file_row_number, _problem FROM {table} WHERE _problem IS NOT NULL "
            "ORDER BY file_row_number LIMIT ?", [max_errors]).fetchall()
        if bad:
            failures = [GateFailure(row, p["column"], p["value"], p["problem"]) for row, p in bad]
            total = con.execute(f"SELECT count(*) FROM {table} WHERE _problem IS NOT NULL").fetchall()[0][0]
            more = f" ({total:,} bad lines; the first {len(bad)} shown)" if total > len(bad) else ""
            raise ImportRefused(path.name, f"refused: a line cannot be read; nothing was imported{more}", failures)
        stats = con.execute(f"SELECT skip, billing_month, count(*) FROM {table} GROUP BY ALL").fetchall()
        return _counted(path, table, header.file_format, stats)
    except duckdb.Error as exc:
        drop_parsed(con, table)
        raise explain(path, kind, exc) from None
    except ImportRefused:
        drop_parsed(con, table)
        raise


def _counted(path: Path, table: str, file_format: str, stats: list[tuple]) -> ParsedUsage:
    """The file's lines counted from (skip, billing_month, count) groups; refused when it has nothing to import."""
    lines = sum(n for _, _, n in stats)
    if lines == 0:
        raise ImportRefused(path.name, "the file has a header but no data rows")
    parsed = ParsedUsage(
        table, file_format, lines, tuple(sorted({m for skip, m, _ in stats if skip is None and m})),
        sum(n for skip, _, n in stats if skip == "step"), sum(n for skip, _, n in stats if skip == "unfinished"))
    if not parsed.months:
        raise ImportRefused(path.name, "no finished job to bill: " + "; ".join(parsed.notes()))
    return parsed


def drop_parsed(con: duckdb.DuckDBPyConnection, table: str) -> None:
    with contextlib.suppress(duckdb.Error):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def inspect_usage(path: Path, kind: str, timezone: str = "UTC",
                  con: duckdb.DuckDBPyConnection | None = None) -> FileFacts:
    """A usage file's sha256, months and line count, as inspect_file gives a FOCUS file's: one light pass (the
    times and job ids only; the import checks every value). A kept line without a month (a bad End or date) is
    refused here already, naming it."""
    own = con is None
    con = con or duckdb.connect()
    try:
        wh.configure(con)
        header = read_header(path, kind)
        try:
            stats = con.execute(f"SELECT skip, billing_month, count(*) FROM ({header.rows_sql(timezone)}) "
                                "GROUP BY ALL").fetchall()
        except duckdb.Error as exc:
            raise explain(path, kind, exc) from None
        if any(skip is None and month is None for skip, month, _ in stats):
            drop_parsed(con, parse_usage(con, path, kind, timezone).table)  # refuses, naming the lines
        parsed = _counted(path, "", header.file_format, stats)
    finally:
        if own:
            con.close()
    mapping = HeaderMapping(focus={}, extra={}, version=kind)
    return FileFacts(path=path, file_name=path.name, file_format=kind, sha256=file_digest(path), header=mapping,
                     months=parsed.months, row_count=parsed.lines, notes=tuple(parsed.notes()))


def import_usage(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    kind: str,
    *,
    months: Sequence[str],
    source: str,
    expected_period: str | None = None,
    run_id: str | None = None,
    actor: str | None = None,
    max_errors: int = 20,
    timezone: str = "UTC",
    late_usage: MonthPricer | None = None,
) -> list[FileImport]:
    """Import a usage file's lines for the given months, each month replaced in one transaction, as
    importer.import_file does for a FOCUS file (same unchanged, duplicate and closed-month rules). A closed or
    finalized month takes the file as late usage (ingest/late_usage.py) when `late_usage` can price the month;
    without it, such a month refuses the file."""
    from ocb_pipelines.ingest.late_usage import keep_late_usage, late_usage_sha  # it imports this module

    actor = actor or wh.current_actor()
    months = [month_key(m) for m in months]
    # A usage line's month is its own time's (a job's UTC End, a report's date), never the file name's: a March
    # export of a cluster in New York holds jobs that end on 1 April in UTC, which are April's by rule, not strays.
    del expected_period
    sha = file_digest(path, con)
    results: list[FileImport] = []
    pending: list[tuple[str, str | None]] = []
    for month in months:
        locked = late.is_locked(con, month)
        latest = late_usage_sha(con, source, path.name, month) if locked else None
        if found := already_imported(con, source, path.name, month, sha, latest):
            results.append(FileImport(path.name, source, month, found[0], sha, kind, message=found[1]))
            continue
        if not locked and (booked := late.adjusted_in(con, source, path.name, month)):
            raise ImportRefused(path.name, late.refusal_after_adjustments(month, booked))
        pending.append((month, locked))
    for month, locked in pending:
        if locked and late_usage is not None:
            results.append(keep_late_usage(con, path, kind, month, source, sha, late_usage, status=locked,
                                           run_id=run_id, actor=actor, max_errors=max_errors, timezone=timezone))
            continue
        results.append(_import_month(con, path, kind, month, source, sha, None, run_id, actor,
                                     max_errors, timezone))
    return results


def _import_month(con: duckdb.DuckDBPyConnection, path: Path, kind: str, month: str, source: str, sha: str,
                  expected_period: str | None, run_id: str | None, actor: str, max_errors: int,
                  timezone: str) -> FileImport:
    """One month of the file in one transaction: the replaced import's lines (and rows priced from them) out,
    this file's lines of the month in; a refusal or error rolls all of it back."""
    import_id = uuid.uuid4().hex
    parsed: ParsedUsage | None = None
    try:
        with wh.transaction(con):
            wh.ensure_period_open(con, month, actor, action=f"importing {path.name}")
            parsed = parse_usage(con, path, kind, timezone, max_errors)
            import_key = con.execute("SELECT coalesce(max(import_key), 0) + 1 FROM imports").fetchall()[0][0]
            replaced = "SELECT import_key FROM imports WHERE billing_month = ? AND source = ? AND file_name = ?"
            for table in ("focus_rows", "usage_rows"):  # a priced usage import has FOCUS rows under its key
                con.execute(f"DELETE FROM {table} WHERE import_key IN ({replaced})", [month, source, path.name])
            con.execute(f"DELETE FROM imports WHERE import_key IN ({replaced})", [month, source, path.name])
            con.execute("DELETE FROM import_files WHERE source = ? AND file_name = ? AND billing_month = ?",
                        [source, path.name, month])
            rows = con.execute(f"SELECT count(*) FROM {parsed.table} WHERE skip IS NULL AND billing_month = ?",
                               [month]).fetchall()[0][0]
            if rows:
                con.execute(f"{IMPORTS_INSERT} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                            [import_key, import_id, month, source, path.name, sha, kind, expected_period,
                             wh.now_utc(), run_id])
                columns = ", ".join(USAGE_COLUMNS)
                con.execute(
                    f"INSERT INTO usage_rows ({columns}) SELECT {columns.replace('import_key', '? AS import_key')} "
                    f"FROM {parsed.table} WHERE skip IS NULL AND billing_month = ?",
                    [import_key, month])
                con.execute("INSERT INTO import_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?)",
                            [source, path.name, month, sha, str(path), parsed.file_format, kind, expected_period, rows,
                             wh.now_utc(), actor, run_id])
            status = "imported" if rows else "removed"
            wh.record_audit(con, actor=actor, action="import", period=month, run_id=run_id, subject=path.name,
                            details={"source": source, "sha256": sha, "rows": rows, "billed_total": 0,
                                     "status": status, "focus_version": kind, "import_id": import_id,
                                     "lines": parsed.lines, "skipped_steps": parsed.steps,
                                     "skipped_unfinished": parsed.unfinished, "timezone": timezone})
    except duckdb.Error as exc:
        raise explain(path, kind, exc) from None
    finally:
        if parsed is not None:
            drop_parsed(con, parsed.table)
    notes = parsed.notes()
    message = "; ".join(([] if rows else ["no usage lines for this month any more; its old lines removed"]) + notes)
    return FileImport(path.name, source, month, status, sha, kind, rows, message=message)
