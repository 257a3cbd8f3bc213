"""Where each statement's lines come from: per statement and source file, the file's sha256 and its row numbers.

Every statement line keeps the file name, file sha256 and row number of the FOCUS row it was read from. Grouped by
(statement, file), with the rows written as ranges (`2-40, 45`), that lineage is small enough for the `statements`
materialisation's metadata in the Dagster UI while naming every line's file, sha256 and row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ocb_pipelines.statements.lines import Statement

ROW_RANGES = 40  # ranges written out per (statement, file); the rest is counted


@dataclass(frozen=True)
class FileLineage:
    """The lines of one statement that came from one file: the file, its sha256, the rows and what they bill."""

    pi_email: str | None
    project_id: str
    source: str
    file_name: str
    file_sha256: str
    rows: tuple[int, ...]
    billed_total: Decimal

    @property
    def lines(self) -> int:
        return len(self.rows)


def row_ranges(rows: Sequence[int], limit: int = ROW_RANGES) -> str:
    """Sorted row numbers as ranges, `2-40, 45, 50-51`; past `limit` ranges, how many rows are left unnamed."""
    ranges: list[tuple[int, int]] = []
    for row in sorted(set(rows)):
        if ranges and row == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], row)
        else:
            ranges.append((row, row))
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges[:limit])
    if len(ranges) > limit:
        left = sum(b - a + 1 for a, b in ranges[limit:])
        text += f" and {left} more row{'s' if left != 1 else ''}"
    return text


def statement_lineage(statements: Iterable[Statement]) -> list[FileLineage]:
    """One FileLineage per (statement, file), statements in their order, files by name."""
    out: list[FileLineage] = []
    for statement in statements:
        by_file: dict[tuple[str, str, str], list[dict]] = {}
        for line in statement.lines:
            key = (line["source"] or "", line["file_name"] or "", line["file_sha256"] or "")
            by_file.setdefault(key, []).append(line)
        for (source, file_name, sha256), lines in sorted(by_file.items(), key=lambda item: (item[0][1], item[0])):
            out.append(FileLineage(
                statement.pi_email, statement.project_id, source, file_name, sha256,
                tuple(sorted(int(line["file_row_number"]) for line in lines)),
                sum((line["billed_cost"] for line in lines), Decimal(0)),
            ))
    return out
