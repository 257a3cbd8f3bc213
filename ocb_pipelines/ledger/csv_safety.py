"""CSV cells a spreadsheet will neither mis-split nor run as a formula (no Dagster).

Every journal file goes through these functions, whether written by `csv.writer` (standard and summary
formats) or rendered from a user's Jinja template (gl format):

- A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a single quote in
  front, so Excel, LibreOffice and Google Sheets show it as text instead of running it (OWASP CSV
  injection). Amounts (`Decimal`, `int`) are written as plain numbers and never prefixed, so they stay
  numeric: a negative amount `-12.34` is a number, not a formula.
- Cells are quoted by the csv module (a comma, quote or line break inside a value cannot add columns).
- `check_rendered` re-reads the finished text with the csv module and refuses it if any row has a
  different number of columns than the first, or if any cell would still be run as a formula
  (a user's template that writes raw text is caught here, not in the accountant's spreadsheet).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
LINE_TERMINATOR = "\r\n"


class SafeCsv(str):
    """Text that is already one or more properly quoted, neutralised CSV cells (not escaped again)."""

    __slots__ = ()


def neutralise(text: Any) -> str:
    """A text cell a spreadsheet will not run as a formula (a single quote in front when needed)."""
    value = "" if text is None else str(text)
    return "'" + value if value.startswith(FORMULA_CHARS) else value


def number_text(value: Decimal | int) -> str:
    """An amount as a plain decimal number (no exponent, no thousands separator)."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    if isinstance(value, float):
        raise TypeError("amounts are never floats")
    return format(Decimal(value), "f")


def cell_text(value: Any) -> str:
    """The cell's text before quoting: numbers as numbers, everything else neutralised."""
    if value is None:
        return ""
    if isinstance(value, SafeCsv):
        return str(value)
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return number_text(value)
    if isinstance(value, float):
        raise TypeError(f"amounts are never floats (got {value!r})")
    return neutralise(value)


def _quoted(fields: Sequence[str]) -> str:
    # The csv module quotes a field containing a character of its line terminator, so use a real one
    # (a field with a line break must be quoted) and take it off again.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=LINE_TERMINATOR).writerow(fields)
    return buffer.getvalue()[: -len(LINE_TERMINATOR)]


def csv_cell(value: Any) -> SafeCsv:
    """One cell, neutralised and quoted if needed. Jinja's `finalize` hook: every `{{ value }}` in a
    journal template goes through it, so a user's own template is safe by default."""
    if isinstance(value, SafeCsv):
        return value
    return SafeCsv(_quoted([cell_text(value)]))


def csv_row(values: Iterable[Any]) -> SafeCsv:
    """A whole row (without line end): the `csv_row` filter of journal templates."""
    return SafeCsv(_quoted([cell_text(v) for v in values]))


def write_rows(rows: Iterable[Sequence[Any]]) -> str:
    """Rows to CSV text (CRLF line ends, as RFC 4180 and Excel expect), every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=LINE_TERMINATOR)
    for row in rows:
        writer.writerow([cell_text(v) for v in row])
    return buffer.getvalue()


def unsafe_cells(text: str, limit: int = 20) -> list[str]:
    """Why this CSV text is not safe to open in a spreadsheet (empty list: it is).

    Checks that every non-empty row has as many columns as the first and that no cell starts with a
    formula character unless it is a plain number."""
    problems: list[str] = []
    width: int | None = None
    for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        if not row or row == [""]:
            continue
        if width is None:
            width = len(row)
        elif len(row) != width:
            problems.append(f"line {number}: {len(row)} columns, the first line has {width}")
        for column, cell in enumerate(row, start=1):
            if cell.startswith(FORMULA_CHARS) and not PLAIN_NUMBER.match(cell):
                problems.append(f"line {number}, column {column}: {cell[:40]!r} would run as a spreadsheet formula")
        if len(problems) >= limit:
            break
    return problems[:limit]
