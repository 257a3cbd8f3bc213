"""A large plain CSV cut at a record boundary into two halves that DuckDB reads at once, numbered as the file.

`importer.split_in_halves` decides when to cut and writes the halves; this module finds the cut (outside any
quoted field, counting the records before it), copies byte ranges, and reads the halves back as one relation.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocb_pipelines.ingest.focus import HeaderMapping
from ocb_pipelines.ingest.reading import reader_sql, text_projection
from ocb_pipelines.ingest.schemas import ROW_INDEX


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


def copy_range(source: int, target: int, offset: int, count: int) -> None:
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


def halves_rows_sql(halves: Halves, mapping: HeaderMapping, types: dict[str, str]) -> str:
    """Both halves' rows, numbered as in the whole file."""
    projection = text_projection(mapping, types, "csv")
    return " UNION ALL ".join(
        f"SELECT CAST(ordinality + {offset} AS BIGINT) AS {ROW_INDEX}, {projection} "
        f"FROM {reader_sql(part, 'csv')} WITH ORDINALITY"
        for part, offset in ((halves.first, 0), (halves.second, int(halves.first_rows)))
    )
