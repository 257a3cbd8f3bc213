"""Journal exports, one command for the CLI, the desk and whatever comes next.

The GL journal is the `gl_journal` asset: exporting it runs `journal_job` as a Dagster run tagged with the
actor, so the export shows in the UI's run list and in the asset's history, and its result is read from the
run's materialisation metadata. Every other layout (standard, summary, openchargeback: ledger/layouts.py) is an
export of the closed month's approved charges made here, in one transaction with its audit record: it changes
no asset's data, so it never materialises `gl_journal` (whose latest materialisation stays the GL journal).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ocb_pipelines.ledger import layouts
from ocb_pipelines.ledger.export import ExportRefused, ExportResult, export_journal
from ocb_pipelines.ledger.history import month_exports
from ocb_pipelines.ledger.journal import JournalRefused
from ocb_pipelines.ledger.targets import as_option
from ocb_pipelines.services.context import AppContext
from ocb_pipelines.services.downloads import Download, DownloadUnavailable, recorded_file, safe_filename

GL = "gl"
FORMATS = layouts.FORMATS
MONEY_FIELDS = ("debit_total", "credit_total", "approved_total")


class JournalExportRefused(Exception):
    """The export was refused (or its run failed): `message` says why, `problems` lists every culprit."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class JournalExport:
    """One finished export: the file written (or found unchanged), its figures, and the run that made it (GL)."""

    period: str
    run_id: str | None  # the journal_job run of a GL export; None for a layout export (no run)
    format: str
    status: str  # written | unchanged
    file: str
    sha256: str
    lines: int
    charges: int
    debit_total: Decimal | None
    credit_total: Decimal | None
    approved_total: Decimal
    export_id: int
    template: str | None

    def details(self) -> dict[str, Any]:
        """The export's fields as its audit record holds them (ledger.export.ExportResult.details)."""
        return {k: getattr(self, k) for k in ("format", "status", "file", "sha256", "lines", "charges",
                                              "debit_total", "credit_total", "approved_total", "export_id",
                                              "template")}

    @classmethod
    def from_details(cls, period: str, run_id: str | None, details: dict[str, Any]) -> JournalExport:
        """From ExportResult.details(), or its JSON form in the gl_journal metadata (amounts as exact text)."""
        money = {k: None if details[k] is None else Decimal(str(details[k])) for k in MONEY_FIELDS}
        return cls(period=period, run_id=run_id, format=details["format"], status=details["status"],
                   file=details["file"], sha256=details["sha256"], lines=int(details["lines"]),
                   charges=int(details["charges"]), export_id=int(details["export_id"]),
                   template=details["template"], **money)  # type: ignore[arg-type]


def export_journal_file(ctx: AppContext, month: str, fmt: str = GL, output: str | None = None) -> JournalExport:
    """Export `month`'s journal in `fmt` to `output` (a folder or a file name; default output.journal_dir).

    GL: a run of journal_job (the gl_journal asset) as the context's actor. Other layouts: exported here, from
    the same closed month's approved charges, by the same period rule, gate and never-overwrite rule.
    Raises JournalExportRefused with every culprit when the month or the journal does not allow it."""
    out = as_option(output) if output else ""  # relative to the caller's folder, whichever process writes
    if fmt == GL:
        return _export_gl(ctx, month, out)
    with ctx.connection() as con:
        try:
            result: ExportResult = export_journal(con, ctx.settings, month, fmt, out_dir=out or None,
                                                  actor=ctx.actor)
        except (ExportRefused, JournalRefused) as exc:
            raise JournalExportRefused(str(exc), list(exc.problems)) from None
    return JournalExport.from_details(month, None, result.details())


def _export_gl(ctx: AppContext, month: str, out: str) -> JournalExport:
    """Materialise gl_journal for the month; the run's metadata is the export's result."""
    run = ctx.job("journal_job", month, run_config={
        "ops": {"gl_journal": {"config": {"output_dir": out}}}})
    if not run.success:
        lines = [line for line in run.error.strip().splitlines() if line.strip()]
        raise JournalExportRefused(run.error, [line.strip().removeprefix("- ") for line in lines[1:]])
    return JournalExport.from_details(month, run.run_id, run.metadata["gl_journal"]["export"])


def export_history(ctx: AppContext, month: str) -> list[dict[str, Any]]:
    """Every recorded export of the month, newest first: format, status, file name, sha256, lines, charges,
    totals, who exported it, when, and the run (GL). The file's folder is left out: the desk serves it by id."""
    with ctx.connection() as con:
        rows = month_exports(con, month)
    return [{k: v for k, v in r.items() if k != "file_path"} | {"file_name": Path(r["file_path"]).name}
            for r in rows]


def export_download(ctx: AppContext, month: str, export_id: int) -> Download:
    """The file of one recorded export, found by its id, served from output.journal_dir only and only while it
    holds the recorded bytes; DownloadUnavailable otherwise (an export written with `-o` elsewhere, a file gone
    or changed)."""
    with ctx.connection() as con:
        rows = month_exports(con, month, export_id)
    if not rows:
        raise DownloadUnavailable(f"no journal export {export_id} in {month}")
    row = rows[0]
    path = recorded_file(ctx.settings.output.journal_dir, row["file_path"], row["file_sha256"],
                         f"journal export {export_id} ({row['format']})", f"export the journal of {month} again")
    media = "text/csv" if path.suffix.lower() == ".csv" else "text/plain"
    return Download(path, media, safe_filename(f"journal_{row['format']}_{month}_{export_id}", path.suffix))
