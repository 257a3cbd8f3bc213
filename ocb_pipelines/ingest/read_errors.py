"""DuckDB's reader errors in words an operator can act on, with the row and line they happened on.

DuckDB's CSV sniffer, which runs before the read, says only that "it was not possible to detect the CSV
dialect" when a row among the first ones has a field too many or too few (or a `;` for a delimiter), and its
own "line" counts records, not the file's lines, so it is off after a cell that spans lines. On the error path
only (the file is refused anyway), the file is read again with the dialect given (no sniffing), one thread and
DuckDB's reject log, which gives the first bad record's number and why; its line is found by counting record
ends (DuckDB's byte offsets in the log are off by a line for some errors).
Messages never quote the file's content: a line may be megabytes long or hold someone's data.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np


@dataclass(frozen=True)
class BadRecord:
    """The first record the strict CSV read refuses: `row` counts data records (1 = the first after the
    header, as the gate's rows do), `line` the file's lines (1 = the header's first)."""

    row: int
    line: int
    error_type: str
    column: str  # the header's name of the column where it went wrong ('' past the header's last column)
    expected: int  # fields in the header
    found: int | None  # fields on the record, for a wrong field count
    other_delimiter: bool  # the record has a ';', tab or '|' (for a record that has too few fields)

    def where(self) -> str:
        return f"row {self.row} (line {self.line} of the file)"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _header(path: Path, fmt: str) -> list[str]:
    """The header's names (its first line; a byte that is not UTF-8 does not hide how many there are)."""
    opener = gzip.open if fmt == "csv.gz" else open
    try:
        with opener(path, "rb") as handle:
            first = handle.readline(1 << 20).decode("utf-8-sig", errors="replace")
        return next(csv.reader([first.rstrip("\r\n")]), [])
    except (OSError, EOFError, zlib.error, csv.Error):
        return []


def _newlines(path: Path, fmt: str, block_size: int) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Per block of the (uncompressed) file: its offset, its size, where its newlines are and which of them end
    a record. A newline ends a record when an even number of quote characters precede it (RFC 4180 doubles a
    quote inside a quoted value): the rows before the first bad one are well formed, so this finds them. numpy
    does the counting: no loop over rows in Python."""
    opener = gzip.open if fmt == "csv.gz" else open
    parity = offset = 0  # parity: of the quotes before the block
    with opener(path, "rb") as handle:
        while block := handle.read(block_size):
            data = np.frombuffer(block, dtype=np.uint8)
            is_quote = (data == ord('"')).view(np.uint8)
            newline_at = np.flatnonzero(data == ord("\n"))
            ends = (np.bitwise_xor.accumulate(is_quote)[newline_at] ^ parity) == 0 if newline_at.size else (
                np.zeros(0, dtype=bool))
            yield offset, len(block), newline_at, ends
            parity ^= int(np.count_nonzero(is_quote)) & 1
            offset += len(block)


def line_of_row(path: Path, fmt: str, row: int, block_size: int = 8 << 20) -> int:
    """The 1-based line of the file on which data row `row` starts (the header is row 0)."""
    record_ends = newlines = 0
    for _, _, newline_at, ends in _newlines(path, fmt, block_size):
        end_at = newline_at[ends]
        if row > 0 and record_ends + end_at.size >= row:
            last = end_at[row - record_ends - 1]  # the newline that ends the row before
            return newlines + int(np.count_nonzero(newline_at <= last)) + 1
        record_ends += end_at.size
        newlines += newline_at.size
    return newlines + 1 if row > 0 else 1


def first_long_line(path: Path, fmt: str, limit: int, block_size: int = 8 << 20) -> tuple[int, int] | None:
    """(line, row) of the first line longer than `limit` bytes; row 0 is the header."""
    record_ends = newlines = 0
    line_start = 0  # offset of the current line's first byte
    for offset, size, newline_at, ends in _newlines(path, fmt, block_size):
        starts = np.concatenate(([line_start], offset + newline_at[:-1] + 1)) if newline_at.size else (
            np.array([line_start]))
        lengths = (offset + newline_at) - starts[: newline_at.size]
        long = np.flatnonzero(lengths > limit)
        if long.size:
            first = int(long[0])
            return newlines + first + 1, record_ends + int(np.count_nonzero(ends[:first]))
        record_ends += int(np.count_nonzero(ends))
        newlines += newline_at.size
        if newline_at.size:
            line_start = offset + int(newline_at[-1]) + 1
        if offset + size - line_start > limit:  # the line goes on past this block, already too long
            return newlines + 1, record_ends
    return None


def first_bad_record(path: Path, fmt: str, max_line_size: int) -> BadRecord | None:
    """The first record of a CSV that a strict read with the import's dialect refuses; None when the header
    cannot be read or every record passes (the error was about something else)."""
    if fmt not in ("csv", "csv.gz"):
        return None
    header = _header(path, fmt)
    if not header:
        return None
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header))) + "}"
    compression = "gzip" if fmt == "csv.gz" else "none"
    # nullstr is not DuckDB's default '', under which a surplus empty last field passes (reading.reader_sql).
    sql = (
        f"SELECT count(*) FROM read_csv({_literal(str(path))}, auto_detect = false, header = true, delim = ',', "
        f"quote = '\"', escape = '\"', strict_mode = true, columns = {columns}, compression = '{compression}', "
        f"nullstr = 'NULL', max_line_size = {int(max_line_size)}, store_rejects = true, rejects_limit = 1)"
    )
    try:
        with duckdb.connect() as con:
            con.execute("SET threads = 1")  # one reader: the reject logged is the file's first
            con.execute(sql).fetchall()  # the reject log is written as the rows are read
            found = con.execute(
                "SELECT line, column_idx, error_type, error_message, "
                "regexp_matches(csv_line, '[;\\t|]') FROM reject_errors ORDER BY line LIMIT 1"
            ).fetchall()
    except (duckdb.Error, OSError):
        return None
    if not found:
        return None
    line, column_idx, error_type, message, other_delimiter = found[0]
    count = re.search(r"Found: (\d+)", message or "")
    column = header[column_idx - 1] if column_idx and 0 < column_idx <= len(header) else ""
    row = int(line) - 1  # DuckDB's "line" counts records, the header's among them
    try:
        physical = line_of_row(path, fmt, row)
    except (OSError, EOFError, zlib.error):
        physical = row + 1
    return BadRecord(row=row, line=physical, error_type=str(error_type), column=column,
                     expected=len(header), found=int(count.group(1)) if count else None,
                     other_delimiter=bool(other_delimiter))


def _structural_message(bad: BadRecord) -> str | None:
    """What is wrong with the record, or None for an error type not explained here."""
    at = f" in column {bad.column!r}" if bad.column else ""
    if bad.error_type == "TOO MANY COLUMNS":
        return (f"is not a well-formed CSV: {bad.where()} has {bad.found} fields where the header has "
                f"{bad.expected} (a comma inside a value that is not quoted?)")
    if bad.error_type == "MISSING COLUMNS":
        hint = ("; it holds ';', tabs or '|': is the delimiter a comma?" if bad.other_delimiter
                else " (a truncated row, or a line break inside a value that is not quoted?)")
        return (f"is not a well-formed CSV: {bad.where()} has {bad.found} field(s) where the header has "
                f"{bad.expected}{hint}")
    if bad.error_type == "UNQUOTED VALUE":
        return (f"is not a well-formed CSV: {bad.where()}{at} opens a quote that is never closed, or has text "
                f"after a closing quote (unbalanced quotes, or a truncated last row)")
    return None


def read_error_message(exc: Exception, path: Path | None = None, fmt: str | None = None,
                       max_line_size: int = 2 * 1024 * 1024) -> str:
    """Why DuckDB could not read the file, naming the first bad row and line of a CSV where it can."""
    text = str(exc)
    lowered = text.lower()
    size = re.search(r"maximum line size of (\d+) bytes exceeded. actual size:\s*(\d+)", lowered)
    csv_path = path if path is not None and fmt in ("csv", "csv.gz") else None
    if size:
        long = first_long_line(csv_path, str(fmt), max_line_size) if csv_path is not None else None
        where = f" (line {long[0]} of the file, {'the header' if long[1] == 0 else f'row {long[1]}'})" if long else ""
        return (f"a line is {int(size.group(2)) / 1e6:,.1f} MB long{where}, over the "
                f"{int(size.group(1)) / 1e6:,.0f} MB limit: this is not a FOCUS export, or it is damaged")
    line = re.search(r"error on line: (\d+)", lowered)
    where = ""
    if line and int(line.group(1)) > 1:  # DuckDB's "line" counts records, the header's among them
        row = int(line.group(1)) - 1
        where = f" (row {row})"
        if csv_path is not None:
            with contextlib.suppress(OSError, EOFError, zlib.error):
                where = f" (row {row}, line {line_of_row(csv_path, str(fmt), row)} of the file)"
    if path is not None and fmt is not None:
        bad = first_bad_record(path, fmt, max_line_size)
        if bad is not None and (message := _structural_message(bad)):
            return message
    if "not possible to automatically detect the csv" in lowered or "unterminated quote" in lowered:
        return ("is not a well-formed CSV: unbalanced quotes, a truncated last row, or another delimiter than a "
                f"comma{where}")
    if "unicode" in lowered or "utf-8" in lowered or "utf8" in lowered:
        return f"the file is not UTF-8 text{where}; re-export it as UTF-8"
    if "gzip" in lowered or "compress" in lowered or "inflate" in lowered:
        return "the gzip data is damaged or not gzip"
    if "parquet" in lowered or "magic" in lowered:
        return "not a readable Parquet file"
    head = next((t for t in text.split("\n") if t.strip()), text).strip()
    return f"could not be read as CSV: {head[:200]}{where}"
