"""The section "Adjustments to earlier months" of a statement (no Dagster).

Late data for a closed month M is booked as adjustment lines in the next open month N (ingest/late*.py): each is an
ordinary charge of N, and its origin is one `adjustment_lines` row, joined to the charge on
billing_month = booked_month AND source, file_name, file_row_number (the line's own key in N). A statement of N
lists those of its lines apart, each with its origin month, origin file and row, the charge of M it corrects and
its amount, with a subtotal per origin month; the statement's total still includes them (they are charges of N).

The month's adjustment lines are read in one query for all its statements. A warehouse without the table (older
than late data) or a month without adjustments gives none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from ocb_pipelines.ingest.late import ADJUSTMENT_JOIN

ZERO = Decimal(0)
LineKey = tuple[str, str, int]  # (source, file_name, file_row_number) of a charge line in its billing month

ORIGINS_SQL = f"""
SELECT c.source, c.file_name, c.file_row_number, a.origin_month, a.origin_file, a.origin_row, a.corrects_charge_id,
       a.kind
FROM charges_approved c JOIN {ADJUSTMENT_JOIN.format(c="c")}
WHERE c.billing_month = ?
"""  # the late-data import's own join (ingest/late.py), over the month's billed lines

# How the PDF names each kind of adjustment (ingest/late*.py: a new row, a changed amount, a removed row).
PDF_ROWS = 60  # adjustment lines printed on a PDF; the rest are counted (and every line is in the CSV)
KIND_LABELS = {"new": "late charge", "changed": "corrected amount", "removed": "removed charge"}


@dataclass(frozen=True)
class Origin:
    """Where an adjustment line comes from: the month, file and row of the late data, and the charge it corrects."""

    origin_month: str
    origin_file: str
    origin_row: int
    corrects_charge_id: str
    kind: str

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


@dataclass(frozen=True)
class AdjustmentLine:
    """One charge line of a statement that adjusts an earlier month: the line as billed now, and its origin."""

    charge_id: str
    description: str
    list_total: Decimal
    billed_total: Decimal
    origin: Origin

    def hash_text(self) -> str:
        """What the statement's content hash takes from it (the line itself is hashed with the other lines)."""
        o = self.origin
        return (f"adjusts {self.charge_id} {o.origin_month} {o.origin_file}:{o.origin_row} "
                f"{o.corrects_charge_id} {o.kind}")


@dataclass(frozen=True)
class OriginMonth:
    """The adjustment lines of a statement from one origin month, and their subtotal."""

    origin_month: str
    lines: tuple[AdjustmentLine, ...]

    @property
    def billed_total(self) -> Decimal:
        return sum((line.billed_total for line in self.lines), ZERO)

    @property
    def list_total(self) -> Decimal:
        return sum((line.list_total for line in self.lines), ZERO)


def has_table(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' "
                            "AND table_name = 'adjustment_lines'").fetchall()[0][0])


def month_origins(con: duckdb.DuckDBPyConnection, month: str) -> dict[LineKey, Origin]:
    """The origin of every adjustment line booked in `month`, by the line's key in that month."""
    if not has_table(con):
        return {}
    return {(source, file_name, int(row)): Origin(origin_month, origin_file, int(origin_row), corrects, kind)
            for source, file_name, row, origin_month, origin_file, origin_row, corrects, kind
            in con.execute(ORIGINS_SQL, [month]).fetchall()}


def _description(line: Mapping[str, Any]) -> str:
    parts = [str(line.get(c) or "").strip() for c in ("service_name", "resource_name", "charge_description")]
    return " · ".join(p for p in parts if p) or str(line.get("resource_id") or "")


def adjustment_lines(lines: Iterable[Mapping[str, Any]], origins: Mapping[LineKey, Origin]) -> list[AdjustmentLine]:
    """The statement's lines that are adjustment lines, oldest origin month first."""
    if not origins:
        return []
    out = []
    for line in lines:
        origin = origins.get((line["source"], line["file_name"], line["file_row_number"]))
        if origin is not None:
            billed = line["billed_cost"]
            listed = billed if line["list_cost"] is None else line["list_cost"]
            out.append(AdjustmentLine(line["charge_id"], _description(line), listed, billed, origin))
    return sorted(out, key=lambda a: (a.origin.origin_month, a.origin.origin_file, a.origin.origin_row,
                                      a.charge_id))


def by_origin_month(adjustments: Sequence[AdjustmentLine]) -> list[OriginMonth]:
    """The adjustment lines grouped by origin month (oldest first), each group with its subtotal."""
    groups: dict[str, list[AdjustmentLine]] = {}
    for line in adjustments:
        groups.setdefault(line.origin.origin_month, []).append(line)
    return [OriginMonth(month, tuple(lines)) for month, lines in sorted(groups.items())]


def adjustments_total(adjustments: Sequence[AdjustmentLine]) -> Decimal:
    return sum((line.billed_total for line in adjustments), ZERO)


@dataclass(frozen=True)
class ShownMonth:
    """An origin month as the PDF prints it: its first `shown` lines (the CSV has them all) and its subtotal."""

    month: OriginMonth
    shown: tuple[AdjustmentLine, ...]

    @property
    def hidden(self) -> int:
        return len(self.month.lines) - len(self.shown)


def shown_months(adjustments: Sequence[AdjustmentLine], limit: int = PDF_ROWS) -> list[ShownMonth]:
    """The origin months of a statement's adjustments with at most `limit` lines printed in all; every subtotal
    still counts every line."""
    out = []
    left = limit
    for group in by_origin_month(adjustments):
        shown = group.lines[:max(left, 0)]
        left -= len(shown)
        out.append(ShownMonth(group, shown))
    return out
