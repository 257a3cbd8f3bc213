"""Reading a FOCUS file inside DuckDB: its digest, header, text projection, months; refusals in words.

The reader options, the header check, the projection onto canonical FOCUS text columns and the billing month of
each row are defined once here: `inspect_file` (the sensor, the CLI's dry run) and the import
(`ingest.importer`) read a file the same way, so a file that inspects cleanly imports the same rows.
"""

from __future__ import annotations

import csv
import gzip
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import duckdb

from ocb_pipelines.ingest.billing_months import bad_start_failures, months_sql
from ocb_pipelines.ingest.focus import (
    JSON_COLUMNS,
    HeaderMapping,
    NotFocusError,
    canonical_header,
    file_format,
    sha256_and_nul,
    utc_literal_sql,
)
from ocb_pipelines.ingest.read_errors import read_error_message
from ocb_pipelines.ingest.schemas import ROW_INDEX, GateFailure
from ocb_pipelines.warehouse import database as wh

MAX_CELL_BYTES = 2 * 1024 * 1024  # DuckDB sizes its read buffer from this; a longer cell is a clear error


class ImportRefused(ValueError):
    """A file was refused; nothing of it was written. `failures` name row, column and value."""

    def __init__(self, file_name: str, message: str, failures: Sequence[GateFailure] = ()):
        self.file_name = file_name
        self.failures = list(failures)
        lines = [f"{file_name}: {message}"] + [f"  - {f.describe(file_name)}" for f in self.failures]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class FileFacts:
    """What we know about a file before importing it."""

    path: Path
    file_name: str
    file_format: str
    sha256: str
    header: HeaderMapping
    months: tuple[str, ...]
    row_count: int
    notes: tuple[str, ...] = ()  # what the import should report beside its rows (a usage file's skipped lines)


# What was read from a file's bytes in this process (its sha256 and NUL byte, its header), by (path, size, mtime):
# inspecting a file and then importing it (CLI, benchmark) reads its bytes and sniffs its header once. As git does
# with its index, a value is trusted only for a file whose mtime was already RACY_NS old when it was read: a file
# rewritten within the timestamp's granularity keeps its mtime, so a fresh one is always read again.
RACY_NS = 2_000_000_000
T = TypeVar("T")


class FileVersionMemo(Generic[T]):
    """Values worked out from a file, remembered per version of it (path, size, mtime) once it is settled."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, int, int], tuple[int, T]] = {}

    @staticmethod
    def _version(path: Path) -> tuple[str, int, int]:
        stat = path.stat()
        return str(path.resolve()), stat.st_size, stat.st_mtime_ns

    def get(self, path: Path) -> T | None:
        version = self._version(path)
        found = self._values.get(version)
        return found[1] if found and version[2] < found[0] - RACY_NS else None

    def work_out(self, path: Path, work: Callable[[], T]) -> T:
        """`work()`, remembered for this version of the file (its mtime judged against the time the work began)."""
        version, started_at = self._version(path), time.time_ns()
        value = work()
        self._values[version] = (started_at, value)
        return value


_DIGESTS: FileVersionMemo[tuple[str, bool]] = FileVersionMemo()  # (sha256, holds a NUL byte)


def remembered_digest(path: Path) -> tuple[str, bool] | None:
    return _DIGESTS.get(path)


def _catalog_entry(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, tuple[str, ...], bool] | None:
    """(sha256, months, strictly read) from the warehouse's file catalog (the inbox sensor's inspection), if the
    file's size and mtime are unchanged and its mtime was settled (RACY_NS old) when it was inspected."""
    stat = path.stat()
    cached = con.execute(
        "SELECT file_sha256, months, coalesce(strictly_read, false) FROM file_catalog WHERE file_path = ? "
        "AND size_bytes = ? AND mtime_ns = ? AND epoch_ns(checked_at) > mtime_ns + ?",
        [str(path), stat.st_size, stat.st_mtime_ns, RACY_NS],
    ).fetchall()
    return (cached[0][0], tuple(cached[0][1]), cached[0][2]) if cached else None


def catalogued(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, tuple[str, ...]] | None:
    """(sha256, months) from the file catalog, when it is still this file's (`_catalog_entry`)."""
    entry = _catalog_entry(con, path)
    return entry[:2] if entry else None


def file_digest(path: Path, con: duckdb.DuckDBPyConnection | None = None) -> str:
    """The file's sha256: remembered from this process or from the file catalog when unchanged and settled
    when hashed; else computed."""
    if remembered := remembered_digest(path):
        return remembered[0]
    if con is not None and (entry := catalogued(con, path)):
        return entry[0]
    return _hash_file(path)[0]


def _hash_file(path: Path) -> tuple[str, bool]:
    return _DIGESTS.work_out(path, lambda: sha256_and_nul(path))


# The months scan (inspect_file) reads every record with the strict options of reader_sql, so it refuses a record
# of the wrong width. An import of the same settled version of the file (this process's inspection, or the file
# catalog's, which records it) may then read it with '' among the null strings and skip the projection's nullif
# on every value: 1 CPU s a million rows. The trust is the sha256's: the same path, size and mtime.
_STRICTLY_READ: FileVersionMemo[list[tuple]] = FileVersionMemo()  # the months scan's result


def strictly_read(con: duckdb.DuckDBPyConnection | None, path: Path) -> bool:
    """True when every record of this version of the file was read by the strict months scan: in this process,
    or by the inspection the warehouse's file catalog recorded."""
    if _STRICTLY_READ.get(path) is not None:
        return True
    entry = _catalog_entry(con, path) if con is not None else None
    return bool(entry and entry[2])


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def reader_sql(path: Path, fmt: str, columns: Sequence[str] = (), *, empty_is_null: bool = False) -> str:
    """The DuckDB table function that reads the file; the path is a SQL literal, quotes escaped. A CSV whose
    `columns` were read already (`header_mapping`) is read with them and without DuckDB's sniffer: the dialect is
    fixed here anyway, and sniffing a large file again for each read took 50-90 ms.

    An empty value is not a null string here (`text_projection` maps it to NULL): with '' among them, DuckDB 2.0
    takes a row with one field too many, the last empty, as the header's width, shifting every value after the
    surplus comma one column on instead of refusing the row. `empty_is_null` (with it) only for a file the strict
    months scan has read whole (`strictly_read`)."""
    literal = "'" + str(path).replace("'", "''") + "'"
    if fmt == "parquet":
        return f"read_parquet({literal})"
    compression = "gzip" if fmt == "csv.gz" else "none"
    known = ""
    if columns:
        names = ", ".join("'" + c.replace("'", "''") + "': 'VARCHAR'" for c in columns)
        known = f", auto_detect = false, columns = {{{names}}}"
    nulls = "['NULL', 'null', '']" if empty_is_null else "['NULL', 'null']"
    return (
        f"read_csv({literal}, all_varchar = true, header = true, delim = ',', quote = '\"', escape = '\"', "
        f"nullstr = {nulls}, compression = '{compression}', strict_mode = true, "
        f"max_line_size = {MAX_CELL_BYTES}{known})"
    )


def _read_header(con: duckdb.DuckDBPyConnection, path: Path, fmt: str) -> list[tuple[str, str]]:
    """Column names and types, read with exactly the options of the import itself."""
    rows = con.execute(f"DESCRIBE SELECT * FROM {reader_sql(path, fmt)}").fetchall()
    return [(r[0], r[1]) for r in rows]


def explain_read_error(file_name: str, exc: Exception, path: Path | None = None,
                        fmt: str | None = None) -> ImportRefused:
    """DuckDB's reader errors, in words an operator can act on, naming the first bad row and line of a CSV
    (ingest/read_errors.py; never the file's content)."""
    return ImportRefused(file_name, read_error_message(exc, path, fmt, MAX_CELL_BYTES))


def _check_text_start(path: Path, fmt: str) -> None:
    """Refuse UTF-16 and binary files by their first bytes, before DuckDB guesses at them."""
    if fmt == "parquet":
        return
    try:
        opener = gzip.open if fmt == "csv.gz" else open
        with opener(path, "rb") as handle:
            start = handle.read(1 << 16)
    except (OSError, EOFError, zlib.error):
        raise ImportRefused(path.name, "the gzip data is damaged or not gzip") from None
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportRefused(path.name, "the file is UTF-16 text; re-export it as UTF-8")
    if b"\x00" in start and not _text_with_stray_nul(start):
        raise ImportRefused(path.name, "the file holds binary data (NUL bytes), not CSV text")
    if not start.strip():
        raise ImportRefused(path.name, "the file is empty")


def _text_with_stray_nul(start: bytes) -> bool:
    """UTF-8 text with a few NUL bytes in it: read it, so the gate names each NUL's row and column."""
    if start.count(b"\x00") * 100 > len(start):
        return False
    try:
        start.replace(b"\x00", b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(start) - 4  # only a character cut at the end of the sample
    return True


def file_has_nul_byte(path: Path) -> bool:
    """Whether a plain file holds a NUL byte anywhere (noted when it was hashed, else a pass over it): a cheap
    test that spares a scan of every stored value (a second over a million rows) for files that cannot
    contain one."""
    if remembered := remembered_digest(path):
        return remembered[1]
    with open(path, "rb") as handle:
        while block := handle.read(8 * 1024 * 1024):
            if b"\x00" in block:
                return True
    return False


_HEADERS: FileVersionMemo[tuple[HeaderMapping, dict[str, str]]] = FileVersionMemo()


def header_mapping(con: duckdb.DuckDBPyConnection, path: Path, fmt: str) -> tuple[HeaderMapping, dict[str, str]]:
    """The file's header on canonical FOCUS names, and DuckDB's names and types of its columns (sniffed once per
    settled version of the file)."""
    return _HEADERS.get(path) or _HEADERS.work_out(path, lambda: _read_header_mapping(con, path, fmt))


def _read_header_mapping(con: duckdb.DuckDBPyConnection, path: Path, fmt: str
                         ) -> tuple[HeaderMapping, dict[str, str]]:
    _check_text_start(path, fmt)
    try:
        header = _read_header(con, path, fmt)
    except duckdb.Error as exc:
        raise explain_read_error(path.name, exc, path, fmt) from None
    names = [name for name, _ in header]
    try:
        if fmt != "parquet":
            canonical_header_raw_check(path, fmt)
        mapping = canonical_header(names)
    except NotFocusError as exc:
        hint = ""
        if len(names) == 1 and any(sep in names[0] for sep in (";", "\t", "|")):
            hint = " (the header has a single column: is the delimiter a comma?)"
        raise ImportRefused(path.name, f"{exc}{hint}") from None
    return mapping, dict(header)


def canonical_header_raw_check(path: Path, fmt: str) -> None:
    """DuckDB renames a repeated header (BilledCost, BilledCost_1): check the header as written."""
    opener = gzip.open if fmt == "csv.gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            first = handle.readline(1 << 20)
    except (OSError, UnicodeDecodeError, EOFError):
        return  # DuckDB's own read reports these with a clearer message
    header = next(csv.reader([first]), [])
    seen: dict[str, str] = {}
    for name in header:
        key = name.strip().lower()
        if key in seen:
            raise NotFocusError(f"column {name!r} appears twice (also as {seen[key]!r})")
        seen[key] = name


def text_projection(mapping: HeaderMapping, types: dict[str, str], fmt: str, *, empty_is_null: bool = False) -> str:
    """Project the file onto canonical FOCUS names as text, with extras in a MAP and the row's month.
    `empty_is_null`: the CSV reader already gives NULL for an empty value (reader_sql)."""

    def as_text(header: str, canonical: str | None) -> str:
        ident = quote_ident(header)
        column_type = types.get(header, "VARCHAR").upper()
        if fmt != "parquet" and empty_is_null:
            return ident
        if fmt != "parquet" or column_type == "VARCHAR":
            return f"nullif({ident}, '')"  # read_csv's nullstr maps NULL and null (quoted too), not '': see reader_sql
        if canonical in JSON_COLUMNS or column_type.startswith(("MAP", "STRUCT")) or column_type.endswith("[]"):
            if column_type.startswith("STRUCT") and column_type.endswith("[]") and "KEY" in column_type:
                return f"CAST(to_json(map_from_entries({ident})) AS VARCHAR)"  # BigQuery [{key, value}]
            return f"CAST(to_json({ident}) AS VARCHAR)"
        return f"CAST({ident} AS VARCHAR)"

    parts = [f"{as_text(header, name)} AS {quote_ident(name)}" for name, header in mapping.focus.items()]
    for fill in mapping.fills:  # OpenChargeback's layout: constants from the source's configuration (legacy_layout)
        value = (as_text(mapping.focus[fill.copy_of], fill.copy_of) if fill.copy_of
                 else "'" + (fill.value or "").replace("'", "''") + "'")
        parts.append(f"{value} AS {quote_ident(fill.column)}")
    if mapping.extra:
        pairs = ", ".join("'" + k.replace("'", "''") + "', " + as_text(h, None) for k, h in mapping.extra.items())
        parts.append(f"json_object({pairs}) AS x_columns")  # a JSON object: cheaper to build and store than a MAP
    else:
        parts.append("CAST(NULL AS JSON) AS x_columns")
    parts.append(f"{month_expr(as_text(mapping.focus['BillingPeriodStart'], None))} AS _billing_month")
    return ",\n  ".join(parts)


def month_expr(value: str) -> str:
    """The UTC billing month of a FOCUS date/time text. UTC-literal forms (`...Z`, no zone) take the first 7
    characters; anything with an offset is parsed (an offset can move the instant into another month)."""
    return (
        f"CASE WHEN {value} LIKE '____-__-__%' AND {utc_literal_sql(value)} "
        f"THEN substr({value}, 1, 7) ELSE strftime(TRY_CAST({value} AS TIMESTAMPTZ), '%Y-%m') END"
    )


def inspect_file(path: str | Path, con: duckdb.DuckDBPyConnection | None = None, *,
                 timezone: str = "UTC") -> FileFacts:
    """Header, version, sha256 and the billing months a file's rows fall in (reads the file once). A usage file
    (sacct output, a storage report) is inspected by ingest.usage; `timezone` is its source's (sacct's local
    times)."""
    from ocb_pipelines.ingest import invoices, usage  # they read with this module's helpers

    path = Path(path)
    if not path.is_file():
        raise ImportRefused(path.name, f"file not found: {path}")
    if kind := usage.usage_kind(path):
        return usage.inspect_usage(path, kind, timezone, con)
    if invoices.is_invoice_file(path):  # FOCUS 1.4 InvoiceDetail: compared with the month's charges, not billed
        return invoices.inspect_invoices(path, con)
    try:
        fmt = file_format(path)
    except ValueError as exc:
        raise ImportRefused(path.name, str(exc)) from None
    own = con is None
    con = con or duckdb.connect()
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(file_digest, path)  # hashlib releases the GIL: overlaps the scan below
        try:
            wh.configure(con)
            mapping, types = header_mapping(con, path, fmt)
            header = mapping.focus["BillingPeriodStart"]
            column = quote_ident(header)
            expr = column if types.get(header, "VARCHAR") == "VARCHAR" else f"CAST({column} AS VARCHAR)"
            reader = reader_sql(path, fmt, list(types))
            try:  # the month of each distinct period start, not of every row (a file has a handful)
                rows = _STRICTLY_READ.work_out(
                    path, lambda: con.execute(months_sql(reader, expr, month_expr)).fetchall())
                bad = bad_start_failures(con, reader, expr, month_expr, rows)
            except duckdb.Error as exc:
                raise explain_read_error(path.name, exc, path, fmt) from None
            if bad:
                raise ImportRefused(path.name, "refused by the FOCUS structure check; nothing was imported", bad)
        finally:
            if own:
                con.close()
        sha = digest.result()
    months = tuple(m for m, _, _ in rows if m is not None)
    return FileFacts(
        path=path, file_name=path.name, file_format=fmt, sha256=sha, header=mapping,
        months=months, row_count=sum(n for _, n, _ in rows),
    )


def file_rows_sql(path: Path, fmt: str, mapping: HeaderMapping, types: dict[str, str], *, numbered: bool,
                  empty_is_null: bool = False) -> str:
    """Every row of the file as canonical FOCUS text columns and its month.

    With `numbered`, rows carry their 1-based number from `row_number() OVER ()` (DuckDB's streaming window:
    exact, but it reads the file on one thread). Without it the parallel read is inserted in file order
    (preserve_insertion_order) and numbered afterwards from the inserted rows' contiguous rowids."""
    number = f"row_number() OVER () AS {ROW_INDEX}" if numbered else f"CAST(0 AS BIGINT) AS {ROW_INDEX}"
    projection = text_projection(mapping, types, fmt, empty_is_null=empty_is_null)
    return f"SELECT {number}, {projection} FROM {reader_sql(path, fmt, list(types), empty_is_null=empty_is_null)}"
