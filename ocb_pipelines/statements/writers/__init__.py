"""Statement formats as a list of writers (no Dagster): a new format is one module and one entry in WRITERS.

A writer is a name (`pdf`), a file suffix (`.pdf`), a MIME type for the email attachment and a `write`
function. `write(statement, page)` runs in the rendering process, before any file of the month is written
(so a template the sandbox refuses stops everything first), and returns the file's bytes, or a `Deferred`:
bytes a picklable function makes later in a rendering worker process (the PDF: WeasyPrint is slow).

Generation (statements/generate.py) names, renders, records (`statement_files`), re-renders and removes every
format in WRITERS the same way; delivery attaches every recorded file; the CLI lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocb_pipelines.statements.lines import Statement


@dataclass(frozen=True)
class Page:
    """What a writer may use besides the statement: the (sandboxed) templates, the configuration values printed
    on it, the generation time and this statement's file name in every format (a PDF names its CSV)."""

    env: Any
    ctx: Any  # render.RenderContext
    generated_at: datetime
    file_names: Mapping[str, str]


@dataclass(frozen=True)
class Deferred:
    """Bytes made by `make(argument)` in a rendering worker process (both must pickle: module-level names)."""

    make: Callable[[Any], bytes]
    argument: Any


@dataclass(frozen=True)
class StatementWriter:
    """One statement format."""

    name: str
    suffix: str
    mime: str
    write: Callable[[Statement, Page], bytes | Deferred]


def _writers() -> list[StatementWriter]:
    from ocb_pipelines.statements.writers import csv, pdf

    return [pdf.WRITER, csv.WRITER]


# The formats every statement is rendered in, in attachment order. Append a writer to add a format.
WRITERS: list[StatementWriter] = _writers()


def writer_order(name: str) -> tuple[int, str]:
    """Sort key of a format: registry order first, formats no longer registered last."""
    names = [w.name for w in WRITERS]
    return (names.index(name), "") if name in names else (len(names), name)
