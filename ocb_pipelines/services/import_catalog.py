"""The import history the desk shows: the import catalog, newest first, one page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ocb_pipelines.ingest import catalog
from ocb_pipelines.services.context import AppContext


@dataclass(frozen=True)
class ImportHistory:
    """One page of the catalog (`entries`, newest first) and how many entries match in all."""

    total: int
    entries: list[dict[str, Any]]
    limit: int
    offset: int


def import_history(ctx: AppContext, *, month: str | None = None, limit: int = 50, offset: int = 0) -> ImportHistory:
    """Each file imported (source, file, month, rows, billed, sha256, when, by whom, run); empty before the first
    import (no warehouse yet)."""
    if limit < 1 or offset < 0:
        raise ValueError(f"limit is at least 1 and offset not below 0: limit {limit}, offset {offset}")
    if not ctx.settings.warehouse_path.exists():
        return ImportHistory(0, [], limit, offset)
    with ctx.connection() as con:
        total, entries = catalog.import_history(con, month=month, limit=limit, offset=offset)
    return ImportHistory(total, entries, limit, offset)
