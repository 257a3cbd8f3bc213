"""Markdown and metadata helpers shared by assets (tables rendered safely for the Dagster UI)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from ocb_pipelines.core.money import cents_int, format_money


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Values from files are shown as text, never as markup: escape what markdown would interpret.
    for char in ("\\", "|", "<", ">", "[", "]", "`"):
        text = text.replace(char, "\\" + char)
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "_(none)_"
    columns = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def money_metadata(prefix: str, amount: Any, symbol: str, code: str) -> dict[str, dg.MetadataValue]:
    """An amount as exact text, plus whole cents (an int) for the UI's plots over months."""
    return {
        prefix: dg.MetadataValue.text(format_money(amount, symbol, code)),
        f"{prefix}_cents": dg.MetadataValue.int(cents_int(amount)),
    }


def capped_table(rows: Sequence[Mapping[str, Any]], total: int, what: str, columns: Sequence[str] | None = None,
                 more: str = "") -> str:
    """A markdown table of the first rows of a longer list that says how many it shows out of how many (and where
    the rest are), so a list cut short never passes for the whole of it."""
    if not total:
        return markdown_table(rows, columns)
    note = f"Showing {len(rows)} of {total} {what}" + (f"; {more}" if more and len(rows) < total else "") + "."
    return f"{note}\n\n{markdown_table(rows, columns)}"
