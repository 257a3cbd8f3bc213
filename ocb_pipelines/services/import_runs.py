"""What one import run did to a billing month, as the warehouse recorded it, and how a refusal is told.

A run of `focus_raw` imports each file whole or not at all (invariant 9), so a batch can end three ways: every
file went in, some were refused and the others went in, or every file was refused. The Dagster run must say
which (issue 21): a refusal fails the run with the refusal as its message (file, row, column and value), and a
partly refused batch names the files that did go in. The text is built here, from what the run recorded in
`audit_events` (the same records `ocb ingest` reports from), so the UI and the CLI never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb

# What to do about a refused file, wherever the import was started: the inbox (sensor, UI) or the command line.
REFUSED_TODO = ("Correct the file and import it again: put it in the inbox folder (focus_inbox_sensor imports it; "
                "or launch ingest_job for the month in the Dagster UI), or run `ocb ingest FILE`.")


@dataclass(frozen=True)
class ImportRunRecord:
    """A run's import into one month: refused files (name -> error) and files that went in (name -> rows
    now in the month; 0 when a corrected file's rows for the month were removed)."""

    month: str
    run_id: str
    refused: dict[str, str] = field(default_factory=dict)
    imported: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.refused


def import_run_record(con: duckdb.DuckDBPyConnection, month: str, run_id: str) -> ImportRunRecord:
    """Read what run `run_id` recorded for `month`: its import and import_refused audit events."""
    refused: dict[str, str] = {}
    imported: dict[str, int] = {}
    for action, subject, details in con.execute(
        "SELECT action, subject, details FROM audit_events WHERE run_id = ? AND period = ? "
        "AND action IN ('import', 'import_refused') ORDER BY event_id",
        [run_id, month],
    ).fetchall():
        facts = json.loads(details) if details else {}
        if action == "import_refused":
            refused[subject] = facts.get("error", "refused")
        else:
            imported[subject] = int(facts.get("rows") or 0)
    return ImportRunRecord(month, run_id, refused, imported)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def refusal_text(month: str, refused: Mapping[str, str], imported: Mapping[str, int] | None = None) -> str:
    """The message of an import run that refused files: each refusal in full first (file, row, column and
    value), then what went in (or that nothing did) and what to do."""
    imported = imported or {}
    lines = [error for error in refused.values()]
    if imported:
        went_in = ", ".join(f"{name} ({_plural(rows, 'row')})" for name, rows in imported.items())
        lines.append(f"{_plural(len(refused), 'file')} refused (nothing of {'it' if len(refused) == 1 else 'them'} "
                     f"went in); imported into {month}: {went_in}.")
    else:
        lines.append(f"No file of this run went in: {month} is unchanged.")
    lines.append(REFUSED_TODO)
    return "\n".join(lines)
