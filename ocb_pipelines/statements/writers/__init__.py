"""Statement formats as a list of writers (no Dagster): a new format is one module and one entry in WRITERS.

A writer is a name (`pdf`), a file suffix (`.pdf`), a MIME type for the email attachment and a `write`
function. `write(statement, page)` runs in the rendering process, before any file of the month is written
(so a template the sandbox refuses stops everything first), and returns the file's bytes, or a `Deferred`:
bytes a picklable function makes later in a rendering worker process (the PDF: WeasyPrint is slow).

Generation (statements/generate.py) names, renders, records (`statement_files`), re-renders and removes every
format in WRITERS the same way; delivery attaches every recorded file; the CLI lists them.
"""

from __future__ import annotations

from ocb_pipelines.statements.writers import csv, pdf
from ocb_pipelines.statements.writers.base import Deferred, Page, StatementWriter

__all__ = ["WRITERS", "Deferred", "Page", "StatementWriter", "writer_order"]

# The formats every statement is rendered in, in attachment order. Append a writer to add a format.
WRITERS: list[StatementWriter] = [pdf.WRITER, csv.WRITER]


def writer_order(name: str) -> tuple[int, str]:
    """Sort key of a format: registry order first, formats no longer registered last."""
    names = [w.name for w in WRITERS]
    return (names.index(name), "") if name in names else (len(names), name)
