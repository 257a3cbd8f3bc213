"""Import one FOCUS file into the warehouse: read inside DuckDB, gate with Pandera, replace atomically.

No Dagster here: the `focus_raw` asset, the CLI's dry run and the tests all call these functions.
The heavy lifting stays in DuckDB: read_csv / read_parquet straight into `focus_rows` under a new import key,
each row with its number in the file (a large CSV is read as two numbered halves at once, a smaller file in
file order and numbered from its rowids); pandas sees the gated columns in Arrow-backed chunks only.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import os
import tempfile
import time
import uuid
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np

from ocb_pipelines.core.gates import validate_in_chunks
from ocb_pipelines.ingest import splits
from ocb_pipelines.ingest.billing_months import bad_start_failures, months_sql
from ocb_pipelines.ingest.focus import (
    DATETIME_COLUMNS,
    JSON_COLUMNS,
    HeaderMapping,
    NotFocusError,
    canonical_header,
    file_format,
    month_key,
    sha256_and_nul,
    utc_literal_sql,
    utc_timestamp_sql,
)
from ocb_pipelines.ingest.legacy_layout import SourceDefaults, fills_json, with_fills
from ocb_pipelines.ingest.read_errors import read_error_message
from ocb_pipelines.ingest.schemas import ROW_INDEX, GateFailure, failures_from, focus_structure_schema
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


@dataclass
class FileImport:
    """The outcome of importing one file's rows for one billing month."""

    file_name: str
    source: str
    month: str
    status: str  # imported | unchanged | duplicate | removed | refused
    sha256: str = ""
    focus_version: str = ""
    rows: int = 0
    billed_total: Decimal = Decimal(0)
    list_total: Decimal = Decimal(0)
    message: str = ""
    errors: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)  # the columns the file lacked, filled as described


# sha256 (and whether a NUL byte is in them) of files already read in this process, by (path, size, mtime):
# inspecting a file and then importing it (CLI, benchmark) reads its bytes once, not three times. As git does
# with its index, a digest is trusted only for a file whose mtime was already RACY_NS old when it was hashed: a
# file rewritten within the timestamp's granularity keeps its mtime, so a fresh one is always hashed again.
RACY_NS = 2_000_000_000
_DIGESTS: dict[tuple[str, int, int], tuple[str, int, bool]] = {}


def _remembered(path: Path) -> tuple[str, int, bool] | None:
    stat = path.stat()
    remembered = _DIGESTS.get((str(path.resolve()), stat.st_size, stat.st_mtime_ns))
    return remembered if remembered and stat.st_mtime_ns < remembered[1] - RACY_NS else None


def catalogued(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, tuple[str, ...]] | None:
    """(sha256, months) from the warehouse's file catalog (the inbox sensor's inspection), if the file's size
    and mtime are unchanged and its mtime was settled (RACY_NS old) when it was inspected."""
    stat = path.stat()
    cached = con.execute(
        "SELECT file_sha256, months FROM file_catalog WHERE file_path = ? AND size_bytes = ? AND mtime_ns = ? "
        "AND epoch_ns(checked_at) > mtime_ns + ?",
        [str(path), stat.st_size, stat.st_mtime_ns, RACY_NS],
    ).fetchall()
    return (cached[0][0], tuple(cached[0][1])) if cached else None


def file_digest(path: Path, con: duckdb.DuckDBPyConnection | None = None) -> str:
    """The file's sha256: remembered from this process or from the file catalog when unchanged and settled
    when hashed; else computed."""
    if remembered := _remembered(path):
        return remembered[0]
    if con is not None and (entry := catalogued(con, path)):
        return entry[0]
    return _hash_file(path)[0]


def _hash_file(path: Path) -> tuple[str, bool]:
    stat = path.stat()
    hashed_at = time.time_ns()
    digest, nul = sha256_and_nul(path)
    _DIGESTS[(str(path.resolve()), stat.st_size, stat.st_mtime_ns)] = (digest, hashed_at, nul)
    return digest, nul


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def reader_sql(path: Path, fmt: str) -> str:
    """The DuckDB table function that reads the file; the path is a SQL literal, quotes escaped."""
    literal = "'" + str(path).replace("'", "''") + "'"
    if fmt == "parquet":
        return f"read_parquet({literal})"
    compression = "gzip" if fmt == "csv.gz" else "none"
    return (
        f"read_csv({literal}, all_varchar = true, header = true, delim = ',', quote = '\"', escape = '\"', "
        f"nullstr = ['NULL', 'null', ''], compression = '{compression}', strict_mode = true, "
        f"max_line_size = {MAX_CELL_BYTES})"
    )


def _read_header(con: duckdb.DuckDBPyConnection, path: Path, fmt: str) -> list[tuple[str, str]]:
    """Column names and types, read with exactly the options of the import itself."""
    rows = con.execute(f"DESCRIBE SELECT * FROM {reader_sql(path, fmt)}").fetchall()
    return [(r[0], r[1]) for r in rows]


def _explain_read_error(file_name: str, exc: Exception, path: Path | None = None,
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


# Tags JSON that spells NUL as an escape (a \u0000 not itself escaped by a backslash).
_JSON_NUL = r"'(^|[^\\])(\\\\)*\\u0000'"


def file_has_nul_byte(path: Path) -> bool:
    """Whether a plain file holds a NUL byte anywhere (noted when it was hashed, else a pass over it): a cheap
    test that spares a scan of every stored value (a second over a million rows) for files that cannot
    contain one."""
    if remembered := _remembered(path):
        return remembered[2]
    with open(path, "rb") as handle:
        while block := handle.read(8 * 1024 * 1024):
            if b"\x00" in block:
                return True
    return False


def nul_failures(con: duckdb.DuckDBPyConnection, relation: str, mapping: HeaderMapping,
                 limit: int, *, raw_nul_possible: bool = True) -> list[GateFailure]:
    """Text with a NUL character is refused (row, column, value): NUL is never part of a billing value, and
    it cannot pass safely into file names, PDFs, emails or spreadsheets. Without `raw_nul_possible` (the
    file has no NUL byte) only the Tags JSON's escaped form, \\u0000, is looked for."""
    columns = [c for c in mapping.focus]
    def escaped(column: str) -> str:  # JSON text (Tags, the extras) spells a NUL as \u0000
        return f"(contains({column}, '\\u0000') AND regexp_matches({column}, {_JSON_NUL}))"

    tests = []
    if raw_nul_possible:
        tests = [f"contains({_quote_ident(c)}, chr(0))" for c in columns] + [escaped("x_columns")]
    if "Tags" in columns:
        tests.append(escaped('"Tags"'))
    if not tests:
        return []
    picked = ", ".join([ROW_INDEX, *(_quote_ident(c) for c in columns), "CAST(x_columns AS VARCHAR)"])
    rows = con.execute(
        f"SELECT {picked} FROM {relation} WHERE {' OR '.join(tests)} ORDER BY {ROW_INDEX} LIMIT {int(limit)}"
    ).fetchall()
    failures = []
    problem = "holds a NUL character, which is never part of a billing value; remove it and re-export the file"
    for row_number, *values in rows:
        for column, value in zip([*columns, "x_ columns"], values, strict=True):
            if not isinstance(value, str):
                continue
            if "\x00" in value or (column in ("Tags", "x_ columns") and "\\u0000" in value):
                failures.append(GateFailure(row_number, column, value, problem))
    return failures[:limit]


def _header_mapping(con: duckdb.DuckDBPyConnection, path: Path, fmt: str) -> tuple[HeaderMapping, dict[str, str]]:
    _check_text_start(path, fmt)
    try:
        header = _read_header(con, path, fmt)
    except duckdb.Error as exc:
        raise _explain_read_error(path.name, exc, path, fmt) from None
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


def _text_projection(mapping: HeaderMapping, types: dict[str, str], fmt: str) -> str:
    """Project the file onto canonical FOCUS names as text, with extras in a MAP and the row's month."""

    def as_text(header: str, canonical: str | None) -> str:
        ident = _quote_ident(header)
        column_type = types.get(header, "VARCHAR").upper()
        if fmt != "parquet":
            return ident  # read_csv's nullstr (with quoted nulls allowed) already maps "", NULL, null to NULL
        if column_type == "VARCHAR":
            return f"nullif({ident}, '')"
        if canonical in JSON_COLUMNS or column_type.startswith(("MAP", "STRUCT")) or column_type.endswith("[]"):
            if column_type.startswith("STRUCT") and column_type.endswith("[]") and "KEY" in column_type:
                return f"CAST(to_json(map_from_entries({ident})) AS VARCHAR)"  # BigQuery [{key, value}]
            return f"CAST(to_json({ident}) AS VARCHAR)"
        return f"CAST({ident} AS VARCHAR)"

    parts = [f"{as_text(header, name)} AS {_quote_ident(name)}" for name, header in mapping.focus.items()]
    for fill in mapping.fills:  # OpenChargeback's layout: constants from the source's configuration (legacy_layout)
        value = (as_text(mapping.focus[fill.copy_of], fill.copy_of) if fill.copy_of
                 else "'" + (fill.value or "").replace("'", "''") + "'")
        parts.append(f"{value} AS {_quote_ident(fill.column)}")
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


def inspect_file(path: str | Path, con: duckdb.DuckDBPyConnection | None = None) -> FileFacts:
    """Header, version, sha256 and the billing months a file's rows fall in (reads the file once)."""
    path = Path(path)
    if not path.is_file():
        raise ImportRefused(path.name, f"file not found: {path}")
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
            mapping, types = _header_mapping(con, path, fmt)
            header = mapping.focus["BillingPeriodStart"]
            column = _quote_ident(header)
            expr = column if types.get(header, "VARCHAR") == "VARCHAR" else f"CAST({column} AS VARCHAR)"
            reader = reader_sql(path, fmt)
            try:  # the month of each distinct period start, not of every row (a file has a handful)
                rows = con.execute(months_sql(reader, expr, month_expr)).fetchall()
                bad = bad_start_failures(con, reader, expr, month_expr, rows)
            except duckdb.Error as exc:
                raise _explain_read_error(path.name, exc, path, fmt) from None
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


def gate_rows(
    con: duckdb.DuckDBPyConnection, relation: str, mapping: HeaderMapping, limit: int, *, in_file_order: bool = True
) -> list[GateFailure]:
    """Run the FOCUS structure schema over every row of `relation` (a table or a filtered subquery with a
    file_row_number column), chunk by chunk; return the first failures in file order. Rows not stored in file
    order (`in_file_order=False`) are all checked, so the first failures found are the file's first ones."""
    schema = focus_structure_schema(list(mapping.focus))
    columns = [c for c in schema.columns if c in mapping.focus]
    select = [ROW_INDEX] + [_quote_ident(c) for c in columns]
    for column in DATETIME_COLUMNS:
        if column in columns:
            select.append(f"{utc_timestamp_sql(_quote_ident(column))} AS \"{column}__ts\"")
    failures = validate_in_chunks(
        con, f"SELECT {', '.join(select)} FROM {relation}", schema, failures_from,
        limit=limit, index=ROW_INDEX, stop_at_limit=in_file_order,
    )
    return sorted(failures, key=lambda f: (f.row if f.row is not None else -1, f.column or ""))[:limit]


def file_rows_sql(path: Path, fmt: str, mapping: HeaderMapping, types: dict[str, str], *, numbered: bool) -> str:
    """Every row of the file as canonical FOCUS text columns and its month.

    With `numbered`, rows carry their 1-based number from `row_number() OVER ()` (DuckDB's streaming window:
    exact, but it reads the file on one thread). Without it the parallel read is inserted in file order
    (preserve_insertion_order) and numbered afterwards from the inserted rows' contiguous rowids."""
    number = f"row_number() OVER () AS {ROW_INDEX}" if numbered else f"CAST(0 AS BIGINT) AS {ROW_INDEX}"
    return f"SELECT {number}, {_text_projection(mapping, types, fmt)} FROM {reader_sql(path, fmt)}"


# A plain CSV this large is read as two halves at once, each numbered as it is read (WITH ORDINALITY), and
# inserted in any order: DuckDB keeps a file's order only by appending on one thread at a time, or by numbering
# afterwards (an UPDATE of every row). Measured on a million rows: 9.3 s against 13.3-15.5 s.
SPLIT_MIN_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Halves:
    """A CSV cut at a record boundary into two files that each start with the header."""

    first: Path
    second: Path
    first_rows: int  # data rows in `first`: the second half's numbers start after them

    def discard(self) -> None:
        for part in (self.first, self.second):
            part.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.first.parent.rmdir()


def _newlines_and_quote_parity(fd: int, offset: int, size: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(quote characters, newline positions, parity of the quotes before each newline) of one block of a file.
    numpy leaves the GIL while it scans, so two blocks are read at once."""
    data = np.frombuffer(os.pread(fd, size, offset), dtype=np.uint8)
    is_quote = (data == ord('"')).view(np.uint8)
    newline_at = np.flatnonzero(data == ord("\n"))
    quotes = int(np.count_nonzero(is_quote))
    if newline_at.size == 0 or newline_at[-1] == 0:
        return quotes, newline_at, np.zeros(newline_at.size, dtype=np.uint8)
    # The parity of each stretch between newlines (an XOR, so no quote positions are listed), accumulated.
    stretches = np.bitwise_xor.reduceat(is_quote[: newline_at[-1]], np.concatenate(([0], newline_at[:-1])))
    return quotes, newline_at, np.bitwise_xor.accumulate(stretches)


def _quotes_and_newlines_by_parity(fd: int, offset: int, size: int) -> tuple[int, int, int]:
    """(quote characters, newlines after an even number of them, after an odd number) of one block."""
    quotes, _, parity = _newlines_and_quote_parity(fd, offset, size)
    odd = int(np.count_nonzero(parity))
    return quotes, parity.size - odd, odd


def cut_near_middle(path: Path, header_bytes: int, block_size: int = 4 << 20) -> tuple[int, int] | None:
    """(offset, data records before it) of the first record end at or past the middle of a CSV, or None.

    A newline ends a record when an even number of quote characters precede it: RFC 4180 doubles a quote inside
    a quoted field, so the count's parity says whether a position is inside quotes. Counting those record ends
    as the first half is scanned numbers the second half without parsing the first; the numbers are checked once
    both halves are in (`_insert_halves`), so a count that was fooled (a blank line, a stray quote) is never
    kept. Measured on a 990 MB file: 0.3 s, where DuckDB's count of the first half took 1 s after a 0.6 s scan."""
    size = path.stat().st_size
    middle = max(size // 2, header_bytes)
    whole_blocks = range(0, middle - block_size + 1, block_size)  # blocks that end before the middle: counts only
    fd = os.open(path, os.O_RDONLY)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            counted = pool.map(lambda at: _quotes_and_newlines_by_parity(fd, at, block_size), whole_blocks)
            quotes = record_ends = 0
            for block_quotes, after_even, after_odd in counted:
                record_ends += after_odd if quotes % 2 else after_even
                quotes += block_quotes
        offset = len(whole_blocks) * block_size
        while offset < size:
            block_quotes, newline_at, parity = _newlines_and_quote_parity(fd, offset, block_size)
            ends = newline_at[parity == quotes % 2]  # even quotes before it, counting the blocks before
            past_middle = ends[ends >= middle - offset]
            if past_middle.size:
                cut = offset + int(past_middle[0]) + 1
                record_ends += int(np.count_nonzero(ends <= past_middle[0]))
                return (cut, record_ends - 1) if cut < size else None  # the header's end is not a data record
            record_ends += ends.size
            quotes += block_quotes
            offset += block_size
    finally:
        os.close(fd)
    return None


def _copy_range(source: int, target: int, offset: int, count: int) -> None:
    """Copy `count` bytes from `offset`: inside the kernel where it can (Linux), else through a buffer."""
    while count > 0:
        if hasattr(os, "copy_file_range"):
            copied = os.copy_file_range(source, target, min(count, 1 << 30), offset)
        else:  # macOS and others
            block = os.pread(source, min(count, 8 << 20), offset)
            copied = os.write(target, block) if block else 0
        if copied <= 0:
            raise OSError("the copy of a half stopped short")
        offset += copied
        count -= copied


def split_in_halves(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, mapping: HeaderMapping) -> Halves | None:
    """Cut a large plain CSV into two halves beside DuckDB's temporary files, or None when the file is small,
    compressed or Parquet, DuckDB has one thread, or anything about the cut is unusual (the whole file is then
    read in one go, and any error is reported against the file itself)."""
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    size = path.stat().st_size
    temp = Path(con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0] or ".")
    if not temp.is_absolute():  # an in-memory warehouse (the dry run): not the current folder
        temp = Path(tempfile.gettempdir())
    splits.remove_dead_splits(temp)  # left by imports that were killed
    if fmt != "csv" or size < SPLIT_MIN_BYTES or int(threads) < 2:
        return None
    if any(h.strip().lower() == "ordinality" for h in [*mapping.focus.values(), *mapping.extra.values()]):
        return None
    with open(path, "rb") as handle:
        header = handle.readline(1 << 20)
    if not header.endswith(b"\n") or b'"' in header:
        return None
    found = cut_near_middle(path, len(header))
    if found is None:
        return None
    cut, first_rows = found
    folder = splits.new_folder(temp)
    halves = Halves(folder / "first.csv", folder / "second.csv", first_rows)
    try:
        folder.mkdir(parents=True)
        source = os.open(path, os.O_RDONLY)
        try:
            for part, offset, count, prefix in ((halves.first, 0, cut, b""), (halves.second, cut, size - cut, header)):
                target = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    os.write(target, prefix)
                    _copy_range(source, target, offset, count)
                finally:
                    os.close(target)
        finally:
            os.close(source)
    except OSError:
        halves.discard()
        return None
    return halves


def halves_rows_sql(halves: Halves, mapping: HeaderMapping, types: dict[str, str]) -> str:
    """Both halves' rows, numbered as in the whole file."""
    projection = _text_projection(mapping, types, "csv")
    return " UNION ALL ".join(
        f"SELECT CAST(ordinality + {offset} AS BIGINT) AS {ROW_INDEX}, {projection} "
        f"FROM {reader_sql(part, 'csv')} WITH ORDINALITY"
        for part, offset in ((halves.first, 0), (halves.second, int(halves.first_rows)))
    )


class _HalvesUnreadable(Exception):
    """Reading the halves failed: the import is redone from the whole file, so errors name its own lines."""


def _insert_halves(con: duckdb.DuckDBPyConnection, insert_sql: str, import_key: int) -> int:
    """Insert both halves at once, in whatever order DuckDB's threads append them (the rows carry their
    numbers); the rows inserted. Any read error, or numbers that do not run from 1 to the row count (the first
    half's count was fooled), becomes _HalvesUnreadable, for the caller to redo the import from the file."""
    try:
        con.execute("SET preserve_insertion_order = false")
        con.execute(insert_sql, [import_key])
        rows, low, high = con.execute(
            f"SELECT count(*), min({ROW_INDEX}), max({ROW_INDEX}) FROM focus_rows WHERE import_key = ?", [import_key]
        ).fetchall()[0]
    except duckdb.Error as exc:
        raise _HalvesUnreadable(str(exc)) from exc
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("SET preserve_insertion_order = true")
    if rows and (low, high) != (1, rows):  # each half is numbered 1..n: only a wrong offset leaves a gap or overlap
        raise _HalvesUnreadable(f"row numbers {low}..{high} for {rows} rows")
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
) -> list[FileImport]:
    """Import a file's rows for the given billing months, each month replaced in one transaction.

    Per (source, file name, month): the same content again is a no-op; a corrected file replaces exactly
    its own rows; a file whose content was already imported under another name is skipped, not doubled.
    The whole file passes the FOCUS gate first, or nothing is written. Required columns the file lacks
    (OpenChargeback's layout) are filled from the source's `defaults`; without them such a file is refused.
    """
    path = Path(path)
    actor = actor or wh.current_actor()
    months = [month_key(m) for m in months]
    try:
        fmt = file_format(path)
    except ValueError as exc:
        raise ImportRefused(path.name, str(exc)) from None
    if not path.is_file():
        raise ImportRefused(path.name, f"file not found: {path}")
    sha = file_digest(path, con)
    mapping, types = _header_mapping(con, path, fmt)
    try:
        mapping = with_fills(mapping, defaults)
    except NotFocusError as exc:
        raise ImportRefused(path.name, str(exc)) from None
    filled = [f.describe() for f in mapping.fills]
    results: list[FileImport] = []
    pending: list[str] = []
    for month in months:
        previous = con.execute(
            "SELECT file_sha256 FROM import_files WHERE source = ? AND file_name = ? AND billing_month = ?",
            [source, path.name, month],
        ).fetchall()
        if previous and previous[0][0] == sha:
            results.append(FileImport(path.name, source, month, "unchanged", sha, mapping.version,
                                      message="identical to the file already imported", filled=filled))
            continue
        twin = con.execute(
            "SELECT file_name FROM import_files WHERE source = ? AND billing_month = ? AND file_sha256 = ? "
            "AND file_name <> ?",
            [source, month, sha, path.name],
        ).fetchall()
        if twin:
            twin = twin[0]
            results.append(FileImport(path.name, source, month, "duplicate", sha, mapping.version,
                                      message=f"same content as {twin[0]}, already imported; skipped",
                                      filled=filled))
            continue
        pending.append(month)
    if not pending:
        return results

    columns = ", ".join(_quote_ident(c) for c in mapping.stored_columns)

    def rows_sql_of(numbered: bool) -> str:
        return file_rows_sql(path, fmt, mapping, types, numbered=numbered)

    insert_sql = (
        "INSERT INTO focus_rows BY NAME "
        f"SELECT coalesce(_billing_month, 'unknown') AS billing_month, ? AS import_key, {ROW_INDEX}, {columns}, "
        "x_columns FROM ({rows})"
    )
    halves = split_in_halves(con, path, fmt, mapping)

    @functools.cache
    def raw_nul_possible() -> bool:  # a pass over the file: once per import, and only once a gate is passed
        return fmt != "csv" or file_has_nul_byte(path)

    def import_month(month: str) -> FileImport:
        import_id = uuid.uuid4().hex
        try:
            with wh.transaction(con):
                wh.ensure_period_open(con, month, actor, action=f"importing {path.name}")
                # A new key, taken before the replaced import's key is deleted: never the same key in one transaction.
                import_key = con.execute("SELECT coalesce(max(import_key), 0) + 1 FROM imports").fetchall()[0][0]
                replaced = "SELECT import_key FROM imports WHERE billing_month = ? AND source = ? AND file_name = ?"
                con.execute(f"DELETE FROM focus_rows WHERE import_key IN ({replaced})", [month, source, path.name])
                con.execute(f"DELETE FROM imports WHERE import_key IN ({replaced})", [month, source, path.name])
                con.execute(
                    "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [import_key, import_id, month, source, path.name, sha, mapping.version, expected_period,
                     wh.now_utc(), run_id, fills_json(mapping)],
                )
                # The whole file goes in under this import's key, is gated, then trimmed to this month: one
                # pass over the file, and a refusal rolls everything back.
                if halves is None:
                    inserted = _insert_numbered(con, insert_sql, rows_sql_of, [import_key], import_key)
                else:
                    rows_sql = halves_rows_sql(halves, mapping, types)
                    inserted = _insert_halves(con, insert_sql.format(rows=rows_sql), import_key)
                if inserted == 0:
                    raise ImportRefused(path.name, "the file has a header but no data rows")
                new_rows = f"(SELECT * FROM focus_rows WHERE import_key = {int(import_key)})"
                failures = gate_rows(con, new_rows, mapping, max_errors, in_file_order=halves is None) or nul_failures(
                    con, new_rows, mapping, max_errors, raw_nul_possible=raw_nul_possible())
                if failures:
                    raise ImportRefused(
                        path.name, "refused by the FOCUS structure check; nothing was imported", failures
                    )
                con.execute("DELETE FROM focus_rows WHERE import_key = ? AND billing_month <> ?", [import_key, month])
                rows, billed, listed = con.execute(
                    f"""SELECT count(*), coalesce(sum(CAST("BilledCost" AS {wh.MONEY})), 0),
                               coalesce(sum(CAST(coalesce("ListCost", "BilledCost") AS {wh.MONEY})), 0)
                        FROM focus_rows WHERE import_key = ?""",
                    [import_key],
                ).fetchall()[0]
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
            raise _explain_read_error(path.name, exc, path, fmt) from None
        message = "" if rows else "no rows for this month any more; its old rows removed"
        return FileImport(path.name, source, month, status, sha, mapping.version, rows, billed, listed,
                          message=message, filled=filled)

    try:
        for month in pending:
            try:
                results.append(import_month(month))
            except _HalvesUnreadable:
                halves.discard()  # rolled back: read the whole file again, so any error names its own line
                halves = None
                results.append(import_month(month))
    finally:
        if halves is not None:
            halves.discard()
    return results

