"""Import one FOCUS file into the warehouse: read inside DuckDB, gate with Pandera, replace atomically.

No Dagster here: the `focus_raw` asset, the CLI's dry run and the tests all call these functions.
The heavy lifting stays in DuckDB: read_csv / read_parquet straight into `focus_rows` under a new import key,
each row with its number in the file (a large CSV is read as one numbered part per DuckDB thread, all at
once; a smaller file in file order and numbered from its rowids); pandas sees the gated columns in Arrow-backed
chunks only, on as many threads. Reading and inspection live in `ingest.reading`, the gate in `ingest.gate`, the
cut of a large CSV in `ingest.parts`; this module loads a file into `focus_rows` and replaces its months.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from ocb_pipelines.core.billing_month import month_key
from ocb_pipelines.core.step_timer import timed_step
from ocb_pipelines.ingest import late, splits
from ocb_pipelines.ingest.catalog import already_imported
from ocb_pipelines.ingest.focus import HeaderMapping, NotFocusError, file_format
from ocb_pipelines.ingest.gate import gate_rows, nul_failures
from ocb_pipelines.ingest.legacy_layout import SourceDefaults, fills_json, with_fills
from ocb_pipelines.ingest.parts import FileParts, cut_near_middle, parts_rows_sql, record_cuts, write_parts
from ocb_pipelines.ingest.reading import (
    FileFacts,
    ImportRefused,
    catalogued,
    explain_read_error,
    file_digest,
    file_has_nul_byte,
    file_rows_sql,
    header_mapping,
    inspect_file,
    quote_ident,
    strictly_read,
)
from ocb_pipelines.ingest.schemas import ROW_INDEX
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines.warehouse.schema.ingest import IMPORTS_INSERT

if TYPE_CHECKING:
    from ocb_pipelines.ingest.late_usage import MonthPricer

# Callers import these from here; they live in reading.py, gate.py and parts.py.
__all__ = [
    "FileFacts",
    "FileImport",
    "FileParts",
    "ImportRefused",
    "catalogued",
    "cut_near_middle",
    "file_digest",
    "file_has_nul_byte",
    "gate_rows",
    "import_file",
    "inspect_file",
    "parts_rows_sql",
    "split_in_parts",
]


@dataclass
class FileImport:
    """The outcome of importing one file's rows for one billing month."""

    file_name: str
    source: str
    month: str
    status: str  # imported | unchanged | duplicate | removed | refused | late (kept apart, adjusted later)
    sha256: str = ""
    focus_version: str = ""
    rows: int = 0
    billed_total: Decimal = Decimal(0)
    list_total: Decimal = Decimal(0)
    message: str = ""
    errors: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)  # the columns the file lacked, filled as described
    booked_month: str = ""  # late data: the open month its adjustments were (re)booked in, to validate next


# A plain CSV this large is read as one part per DuckDB thread, all at once, each numbered as it is read (WITH
# ORDINALITY), and inserted in any order: DuckDB keeps a file's order only by appending on one thread at a time,
# or by numbering afterwards (an UPDATE of every row). Measured on a million rows, two parts: 9.3 s against
# 13.3-15.5 s.
SPLIT_MIN_BYTES = 64 * 1024 * 1024


def duckdb_threads(con: duckdb.DuckDBPyConnection) -> int:
    """The threads DuckDB runs with on this connection (`database.threads`, by default every core)."""
    return int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])


def split_in_parts(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, mapping: HeaderMapping) -> FileParts | None:
    """Cut a large plain CSV into one part per DuckDB thread (named pipes, else copies) beside DuckDB's temporary
    files, or None when the file is small, compressed or Parquet, DuckDB has one thread, or anything about the cut
    is unusual (the whole file is then read in one go, and any error is reported against the file itself)."""
    threads = duckdb_threads(con)
    size = path.stat().st_size
    temp = Path(con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0] or ".")
    if not temp.is_absolute():  # an in-memory warehouse (the dry run): not the current folder
        temp = Path(tempfile.gettempdir())
    splits.remove_dead_splits(temp)  # left by imports that were killed
    if fmt != "csv" or size < SPLIT_MIN_BYTES or threads < 2:
        return None
    if any(h.strip().lower() == "ordinality" for h in [*mapping.focus.values(), *mapping.extra.values()]):
        return None
    with open(path, "rb") as handle:
        header = handle.readline(1 << 20)
    if not header.endswith(b"\n") or b'"' in header:
        return None
    cuts = record_cuts(path, len(header), threads)
    if not cuts:
        return None
    try:
        return write_parts(path, splits.new_folder(temp), header, cuts, threads)
    except OSError:
        return None


class _PartsUnreadable(Exception):
    """Reading the parts failed: the import is redone from the whole file, so errors name its own lines."""


def _insert_parts(con: duckdb.DuckDBPyConnection, insert_sql: str, import_key: int, parts: FileParts) -> int:
    """Insert every part at once, in whatever order DuckDB's threads append them (the rows carry their numbers);
    the rows inserted. Any read error, a part not fed whole, or numbers that are not exactly 1 to the row count (a
    part's count was fooled) becomes _PartsUnreadable, for the caller to redo the import from the file."""
    try:
        con.execute("SET preserve_insertion_order = false")
        with parts.reading() as not_fed_whole:
            con.execute(insert_sql, [import_key])
            if problem := not_fed_whole():  # a part cut short reads as a shorter file: never kept
                raise _PartsUnreadable(problem)
        rows, distinct, low, high = con.execute(
            f"SELECT count(*), count(DISTINCT {ROW_INDEX}), min({ROW_INDEX}), max({ROW_INDEX}) "
            "FROM focus_rows WHERE import_key = ?", [import_key]
        ).fetchall()[0]
    except duckdb.Error as exc:
        raise _PartsUnreadable(str(exc)) from exc
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("SET preserve_insertion_order = true")
    if rows and (low, high, distinct) != (1, rows, rows):  # a wrong offset leaves a gap and an overlap
        repeated = f", {rows - distinct} of them repeated" if distinct != rows else ""
        raise _PartsUnreadable(f"row numbers {low}..{high} for {rows} rows{repeated}")
    return rows


def _insert_numbered(
    con: duckdb.DuckDBPyConnection, insert_sql: str, rows_sql_of, params: list, import_key: int
) -> int:
    """Insert the file's rows with their row numbers, in parallel when DuckDB's rowids allow it; the rows
    inserted."""
    con.execute("SET preserve_insertion_order = true")  # the numbering below relies on it
    con.execute(insert_sql.format(rows=rows_sql_of(numbered=False)), params)
    low, high, count = con.execute(
        "SELECT min(rowid), max(rowid), count(*) FROM focus_rows WHERE import_key = ?", [import_key]
    ).fetchall()[0]
    if count and high - low + 1 == count:
        con.execute(
            "UPDATE focus_rows SET file_row_number = rowid - ? + 1 WHERE import_key = ?", [low, import_key]
        )
        return count
    # Not one contiguous run of rowids: number them the slow, exact way.
    con.execute("DELETE FROM focus_rows WHERE import_key = ?", [import_key])
    con.execute(insert_sql.format(rows=rows_sql_of(numbered=True)), params)
    return count


def import_file(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    months: Sequence[str],
    source: str,
    expected_period: str | None = None,
    run_id: str | None = None,
    actor: str | None = None,
    max_errors: int = 20,
    defaults: SourceDefaults | None = None,
    late_usage: MonthPricer | None = None,
) -> list[FileImport]:
    """Import a file's rows for the given billing months, each month replaced in one transaction.

    Per (source, file name, month): the same content again is a no-op; a corrected file replaces exactly
    its own rows; a file whose content was already imported under another name is skipped, not doubled.
    The whole file passes the FOCUS gate first, or nothing is written. Required columns the file lacks
    (OpenChargeback's layout) are filled from the source's `defaults`; without them such a file is refused.
    `late_usage` prices a closed month again for a usage file's late lines (ingest/late_usage.py).
    """
    from ocb_pipelines.ingest import invoices, usage  # they import FileImport from here

    path = Path(path)
    if kind := usage.usage_kind(path):  # Slurm sacct output or a storage report: usage lines, not FOCUS rows
        return usage.import_usage(con, path, kind, months=months, source=source, expected_period=expected_period,
                                  run_id=run_id, actor=actor, max_errors=max_errors,
                                  timezone=defaults.timezone if defaults else "UTC", late_usage=late_usage)
    if invoices.is_invoice_file(path):  # a FOCUS 1.4 InvoiceDetail file: invoice lines, compared, never billed
        return invoices.import_invoices(con, path, months=months, source=source, run_id=run_id, actor=actor,
                                        max_errors=max_errors)
    actor = actor or wh.current_actor()
    months = [month_key(m) for m in months]
    try:
        fmt = file_format(path)
    except ValueError as exc:
        raise ImportRefused(path.name, str(exc)) from None
    if not path.is_file():
        raise ImportRefused(path.name, f"file not found: {path}")
    sha = file_digest(path, con)
    mapping, types = header_mapping(con, path, fmt)
    try:
        mapping = with_fills(mapping, defaults)
    except NotFocusError as exc:
        raise ImportRefused(path.name, str(exc)) from None
    filled = [f.describe() for f in mapping.fills]
    results: list[FileImport] = []
    pending: list[str] = []
    for month in months:
        # A closed month's file is compared with its latest late version, if any (a late file can be reverted).
        locked = late.is_locked(con, month)
        latest = late.latest_late_sha(con, source, path.name, month) if locked else None
        if found := already_imported(con, source, path.name, month, sha, latest):
            results.append(FileImport(path.name, source, month, found[0], sha, mapping.version, message=found[1],
                                      filled=filled))
            continue
        if not locked and (booked := late.adjusted_in(con, source, path.name, month)):
            raise ImportRefused(path.name, late.refusal_after_adjustments(month, booked))
        pending.append(month)
    if not pending:
        return results

    columns = ", ".join(quote_ident(c) for c in mapping.stored_columns)
    # The months scan read every record strictly: no row can have a surplus empty field (reading.strictly_read).
    empty_is_null = strictly_read(con, path)

    def rows_sql_of(numbered: bool) -> str:
        return file_rows_sql(path, fmt, mapping, types, numbered=numbered, empty_is_null=empty_is_null)

    insert_sql = (
        "INSERT INTO focus_rows BY NAME "
        f"SELECT coalesce(_billing_month, 'unknown') AS billing_month, ? AS import_key, {ROW_INDEX}, {columns}, "
        "x_columns FROM ({rows})"
    )
    with timed_step("import: cut the file into parts"):
        parts = split_in_parts(con, path, fmt, mapping)

    @functools.cache
    def raw_nul_possible() -> bool:  # a pass over the file: once per import, and only once a gate is passed
        return fmt != "csv" or file_has_nul_byte(path)

    def import_month(month: str) -> FileImport:
        import_id = uuid.uuid4().hex
        try:
            with wh.transaction(con):
                locked = late.is_locked(con, month)  # a closed month keeps its rows: this file's go to late_rows
                if not locked:
                    wh.ensure_period_open(con, month, actor, action=f"importing {path.name}")
                # A new key, taken before the replaced import's key is deleted: never the same key in one transaction.
                import_key = con.execute("SELECT coalesce(max(import_key), 0) + 1 FROM imports").fetchall()[0][0]
                replaced = "SELECT import_key FROM imports WHERE billing_month = ? AND source = ? AND file_name = ?"
                if not locked:
                    con.execute(f"DELETE FROM focus_rows WHERE import_key IN ({replaced})", [month, source, path.name])
                    con.execute(f"DELETE FROM imports WHERE import_key IN ({replaced})", [month, source, path.name])
                con.execute(
                    f"{IMPORTS_INSERT} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [import_key, import_id, month, source, path.name, sha, mapping.version, expected_period,
                     wh.now_utc(), run_id, fills_json(mapping)],
                )
                # The whole file goes in under this import's key, is gated, then trimmed to this month: one
                # pass over the file, and a refusal rolls everything back.
                with timed_step("import: read into focus_rows"):
                    if parts is None:
                        inserted = _insert_numbered(con, insert_sql, rows_sql_of, [import_key], import_key)
                    else:
                        rows_sql = parts_rows_sql(parts, mapping, types, empty_is_null=empty_is_null)
                        inserted = _insert_parts(con, insert_sql.format(rows=rows_sql), import_key, parts)
                if inserted == 0:
                    raise ImportRefused(path.name, "the file has a header but no data rows")
                new_rows = f"(SELECT * FROM focus_rows WHERE import_key = {int(import_key)})"
                with timed_step("import: FOCUS gate (Pandera)"):
                    failures = gate_rows(con, new_rows, mapping, max_errors, in_file_order=parts is None)
                with timed_step("import: NUL check"):
                    failures = failures or nul_failures(
                        con, new_rows, mapping, max_errors, raw_nul_possible=raw_nul_possible())
                if failures:
                    raise ImportRefused(
                        path.name, "refused by the FOCUS structure check; nothing was imported", failures
                    )
                con.execute("DELETE FROM focus_rows WHERE import_key = ? AND billing_month <> ?", [import_key, month])
                rows, billed, listed = con.execute(
                    f"""SELECT count(*), coalesce(sum({wh.money_from_text('"BilledCost"')}), 0),
                               coalesce(sum({wh.money_from_text('coalesce("ListCost", "BilledCost")')}), 0)
                        FROM focus_rows WHERE import_key = ?""",
                    [import_key],
                ).fetchall()[0]
                if locked:
                    booking = late.book_late_rows(
                        con, staged_key=import_key, month=month, source=source, file_name=path.name, sha=sha,
                        file_format=fmt, focus_version=mapping.version, actor=actor, run_id=run_id)
                    return FileImport(path.name, source, month, "late", sha, mapping.version, rows, billed, listed,
                                      message=booking.describe(), filled=filled,
                                      booked_month=booking.booked_month)
                if not rows:
                    con.execute("DELETE FROM imports WHERE import_key = ?", [import_key])
                con.execute("DELETE FROM import_files WHERE source = ? AND file_name = ? AND billing_month = ?",
                            [source, path.name, month])
                status = "imported" if rows else "removed"
                if rows:
                    con.execute(
                        "INSERT INTO import_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [source, path.name, month, sha, str(path), fmt, mapping.version, expected_period, rows,
                         billed, listed, wh.now_utc(), actor, run_id],
                    )
                wh.record_audit(
                    con, actor=actor, action="import", period=month, run_id=run_id, subject=path.name,
                    details={"source": source, "sha256": sha, "rows": rows, "billed_total": billed,
                             "status": status, "focus_version": mapping.version, "import_id": import_id,
                             **({"filled_columns": {f.column: f.as_json() for f in mapping.fills}}
                                if mapping.fills else {})},
                )
        except duckdb.Error as exc:
            raise explain_read_error(path.name, exc, path, fmt) from None
        message = "" if rows else "no rows for this month any more; its old rows removed"
        return FileImport(path.name, source, month, status, sha, mapping.version, rows, billed, listed,
                          message=message, filled=filled)

    try:
        for month in pending:
            try:
                results.append(import_month(month))
            except _PartsUnreadable:
                parts.discard()  # rolled back: read the whole file again, so any error names its own line
                parts = None
                results.append(import_month(month))
    finally:
        if parts is not None:
            parts.discard()
    return results
