"""Exporting a month's journal: period rule, loading, gate, rendering, writing, recording (no Dagster).

`export_journal(con, settings, month, fmt)` is what the `gl_journal` asset runs for the GL journal, and what
the journal export service (services/journal.py, `ocb export-journal -f ...`) runs for the listing layouts:

1. Period rule: the month must be closed or finalized, with nothing pending review, and its
   charges_approved must be current (its count and total equal what the review state says is
   billable). An open month is refused with the command that closes it.
2. Build the journal (ledger.journal) or a listing (ledger.layouts) from the approved charges
   (ledger.loading), refusing with every culprit when the journal would not balance.
3. Pandera gate (ledger.schemas), then render: `gl` from the Jinja template, `standard`, `summary`
   and `openchargeback` (OpenChargeback's default columns: ledger.layouts) with csv.writer. Every cell
   passes ledger.csv_safety, and the rendered text is re-read and refused if any cell could still run
   as a formula or the columns are ragged.
4. Write without ever overwriting (ledger.targets): `journal_<format>_<period>.csv` in the journal folder;
   when that name exists, `journal_<format>_<period>_2.csv`, `_3`, ... (an atomic hard link, so two exports can
   never take the same name or leave half a file). An output that names a file (ledger.targets:
   `-o journal.csv`) is written as exactly that file, and refused when that name is taken. When the
   newest recorded export of that month and format has exactly the same bytes and its file is
   unchanged on disk (in that folder, or at that file name), nothing new is written and the export
   is reported (and audited) as "unchanged": accounting never gets a duplicate to import by accident.
5. Record it: a `journal_exports` row and an audit event `journal_export` (file, sha256, line count,
   totals). A refusal is audited as `journal_export_refused` with its problems.

Templates are looked up by name (`journal.template`) in the config folder's `templates/` first, then
in the package default (ocb_pipelines/ledger/templates/; the repository's templates/ links to it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import jinja2
from jinja2.sandbox import SandboxedEnvironment

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.core.money import format_money
from ocb_pipelines.ledger import journal as jr
from ocb_pipelines.ledger import layouts
from ocb_pipelines.ledger.csv_safety import LINE_TERMINATOR, csv_cell, csv_row, unsafe_cells
from ocb_pipelines.ledger.loading import load_charges, load_groups, load_service_groups
from ocb_pipelines.ledger.rules import cut_description, fund_regex_groups
from ocb_pipelines.ledger.schemas import gate_problems
from ocb_pipelines.ledger.targets import (
    output_target,
    sha256_text,
    unchanged_export,
    unrecorded_twin,
    write_exact_file,
    write_new_file,
)
from ocb_pipelines.periods.lifecycle import check_period_key, get_period
from ocb_pipelines.periods.reconcile import MonthNotReconciledError, require_reconciled
from ocb_pipelines.review.decisions import pending_count, summarize_review
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines.warehouse.schema import ensure_domain
from ocb_pipelines.warehouse.schema import ledger as ledger_schema

PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates"

# journal_exports is created by the warehouse (warehouse/schema/ledger.py), with every other domain's table.


class ExportRefused(ValueError):
    """The export was refused (period rule, an unbalanced journal, the gate or an unsafe template)."""

    def __init__(self, period: str, problems: list[str], header: str | None = None):
        self.period = period
        self.problems = problems
        head = header or f"journal for {period} refused; no file was written"
        super().__init__(head + (":\n  - " + "\n  - ".join(problems) if problems else ""))


@dataclass
class ExportResult:
    export_id: int
    period: str
    format: str
    status: str  # written | unchanged
    file_path: Path
    sha256: str
    line_count: int
    charge_count: int
    debit_total: Decimal | None
    credit_total: Decimal | None
    approved_total: Decimal
    approved_exact: Decimal
    template: str | None
    period_status: str
    text: str
    journal: jr.Journal

    def as_dict(self) -> dict[str, Any]:
        return {
            "export_id": self.export_id, "period": self.period, "format": self.format, "status": self.status,
            "file": str(self.file_path), "sha256": self.sha256, "lines": self.line_count,
            "charges": self.charge_count, "debit_total": self.debit_total, "credit_total": self.credit_total,
            "approved_total": self.approved_total, "template": self.template, "period_status": self.period_status,
        }  # fmt: skip

    def details(self) -> dict[str, Any]:
        """What an export reports: its audit record, the gl_journal asset's metadata and `ocb export-journal`."""
        return {
            "format": self.format, "status": self.status, "file": str(self.file_path), "sha256": self.sha256,
            "lines": self.line_count, "charges": self.charge_count, "debit_total": self.debit_total,
            "credit_total": self.credit_total, "approved_total": self.approved_total, "export_id": self.export_id,
            "template": self.template,
        }  # fmt: skip


def ensure_journal_schema(con: duckdb.DuckDBPyConnection) -> None:
    """journal_exports, for a connection that may predate it (every connection creates it already)."""
    ensure_domain(con, ledger_schema)


# ------------------------------------------------------------------------------------------------
# Period rule
# ------------------------------------------------------------------------------------------------


def check_exportable(con: duckdb.DuckDBPyConnection, month: str, symbol: str = "$") -> str:
    """The month's status when a journal may be exported; ExportRefused saying what to do otherwise."""
    check_period_key(month)
    period = get_period(con, month)
    if period is None:
        raise ExportRefused(month, [f"billing month {month} does not exist: import its data first (`ocb ingest`)"])
    pending, money = pending_count(con, month)
    if period.status == "open":
        steps = [f"decide the {pending} charge(s) ({format_money(money, symbol)}) pending review "
                 f"(`ocb review list -p {month}`; in the Dagster UI the queue is in review_decisions' metadata "
                 f"for {month})"] if pending else []
        steps.append(f"close it with `ocb periods close {month}`")
        raise ExportRefused(month, [f"billing month {month} is open: a journal is exported only from a closed or "
                                    f"finalized month; {', then '.join(steps)}"])
    if pending:
        raise ExportRefused(month, [f"{pending} charge(s) ({format_money(money, symbol)}) are pending review in "
                                    f"{month}; reopen it (`ocb periods reopen {month} --reason ...`) and decide them"])
    try:  # every raw row validated and counted (a kill or a race may have left some behind)
        require_reconciled(con, month, "exporting its journal", symbol)
    except MonthNotReconciledError as exc:
        raise ExportRefused(month, [str(exc)]) from None
    summary = summarize_review(con, month)
    expected_rows = sum(summary.rows(s) for s in ("unflagged", "approved", "corrected"))
    rows, total = con.execute(
        "SELECT count(*), coalesce(sum(billed_cost), 0) FROM charges_approved WHERE billing_month = ?", [month]
    ).fetchall()[0]
    if rows != expected_rows or Decimal(total) != summary.included_billed:
        raise ExportRefused(month, [
            f"charges_approved for {month} is out of date ({rows} charge(s), {format_money(total, symbol)}; the review "
            f"state says {expected_rows}, {format_money(summary.included_billed, symbol)}): materialise "
            f"charges_approved for {month} (review_job) first"])  # fmt: skip
    return period.status


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------


def template_dirs(settings: OcbSettings) -> list[Path]:
    return [settings.config_path.parent / "templates", PACKAGE_TEMPLATES]


def find_template(settings: OcbSettings) -> Path:
    name = settings.journal.template
    candidates = [Path(name)] if Path(name).is_absolute() else [d / name for d in template_dirs(settings)]
    for path in candidates:
        if path.is_file():
            return path
    raise ExportRefused("-", [f"journal template {name!r} not found; looked in: {', '.join(map(str, candidates))}"],
                        header="journal template missing; no file was written")


def _truncate_desc(value: Any, max_len: int = 35) -> str:
    """OpenChargeback's filter, kept for templates brought over from it."""
    return cut_description("" if value is None else str(value), max_len)


def template_environment(directory: Path) -> SandboxedEnvironment:
    """Sandboxed (a template is user input), strict about undefined names, and CSV-safe by default:
    every `{{ value }}` is neutralised and quoted by `finalize`; `csv_row` renders a whole row."""
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(directory)),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=csv_cell,
    )
    env.filters["csv_row"] = csv_row
    env.filters["csv_cell"] = csv_cell
    env.filters["truncate_desc"] = _truncate_desc
    return env


def render_gl(journal: jr.Journal, settings: OcbSettings) -> tuple[str, Path]:
    path = find_template(settings)
    env = template_environment(path.parent)
    context = {
        "lines": [x.context() for x in journal.lines],
        "period": journal.period,
        "totals": {"debit": journal.debit_total, "credit": journal.credit_total, "approved": journal.approved_total,
                   "lines": len(journal.lines), "charges": journal.charges},
        "currency": settings.currency.code,
        "components": list(journal.component_names),
    }
    context["entries"] = context["lines"]  # OpenChargeback's name
    try:
        text = env.get_template(path.name).render(context)
    except jinja2.TemplateError as exc:
        raise ExportRefused(journal.period, [f"template {path}: {type(exc).__name__}: {exc}"]) from None
    # One line ending throughout (CRLF), whatever the template file uses (inside quoted cells too).
    text = re.sub(r"\r?\n", LINE_TERMINATOR, text)
    return text, path


# ------------------------------------------------------------------------------------------------
# Writing and recording
# ------------------------------------------------------------------------------------------------


def _refuse(con, month: str, fmt: str, actor: str, run_id: str | None, exc: Exception,
            problems: list[str]) -> None:
    with wh.transaction(con):
        wh.record_audit(con, actor=actor, action="journal_export_refused", period=month, run_id=run_id,
                        subject=fmt, details={"format": fmt, "problems": problems[:50], "error": str(exc)[:2000]})


def _write_target(con, month: str, fmt: str, actor: str, run_id: str | None, target: Path, data: bytes) -> Path:
    """The named output file, or a refusal (audited) when that name is taken: a journal is never overwritten."""
    try:
        return write_exact_file(target, data)
    except FileExistsError:
        exc = ExportRefused(month, [f"{target} already exists and is not this export: a journal file is never "
                                    f"overwritten; remove it, or give -o another file name or a folder (a folder gets "
                                    f"the next free name)"])
        _refuse(con, month, fmt, actor, run_id, exc, exc.problems)
        raise exc from None


def export_journal(
    con: duckdb.DuckDBPyConnection,
    settings: OcbSettings,
    month: str,
    fmt: str = "gl",
    *,
    out_dir: str | Path | None = None,
    actor: str | None = None,
    run_id: str | None = None,
) -> ExportResult:
    """Export the month's journal in `fmt` into out_dir: a folder (default output.journal_dir) or a file name
    (ledger.targets decides which). See the module doc."""
    if fmt not in layouts.FORMATS:
        raise ExportRefused(month, [f"unknown format {fmt!r}; use one of {', '.join(layouts.FORMATS)}"])
    actor = actor or wh.current_actor()
    directory, target = output_target(out_dir, settings.output.journal_dir)
    ensure_journal_schema(con)
    symbol = settings.currency.symbol
    try:
        period_status = check_exportable(con, month, symbol)
        if fmt == "gl":
            journal = jr.build_gl_journal(load_groups(con, settings, month), settings, month)
        elif fmt == "standard":
            journal = layouts.build_standard(load_charges(con, settings, month), settings, month)
        elif fmt == layouts.OPENCHARGEBACK:
            journal = layouts.build_openchargeback(load_service_groups(con, month), month)
        else:
            journal = layouts.build_summary(load_groups(con, settings, month), month)
        required = fund_regex_groups(settings.journal.fund_org_regex) or ("fund",)
        problems = gate_problems(journal, required, settings.journal.account_code_regex,
                                 settings.journal.description_max_length)
        if problems:
            raise ExportRefused(month, problems, header=f"journal for {month} failed its schema; no file was written")
        template_path: Path | None = None
        if fmt == "gl":
            text, template_path = render_gl(journal, settings)
        else:
            text = layouts.render_listing(journal)
        unsafe = unsafe_cells(text)
        if unsafe:
            raise ExportRefused(month, unsafe, header=f"journal for {month} is not safe to open in a spreadsheet "
                                                      f"(check the template); no file was written")
    except (ExportRefused, jr.JournalRefused) as exc:
        _refuse(con, month, fmt, actor, run_id, exc, list(exc.problems))
        raise
    data = text.encode("utf-8")
    sha = sha256_text(data)
    suffix = template_path.suffix if template_path is not None and template_path.suffix else ".csv"
    stem = f"journal_{fmt}_{month}"
    previous = unchanged_export(con, month, fmt, sha, directory, target)
    if target is None:
        twins = [directory / f"{stem}{suffix}", *sorted(directory.glob(f"{stem}_*{suffix}"))]
        path = previous or unrecorded_twin(con, twins, sha) or write_new_file(directory, stem, suffix, data)
    else:
        path = previous or unrecorded_twin(con, [target], sha) or _write_target(con, month, fmt, actor, run_id,
                                                                                  target, data)
    status = "unchanged" if previous else "written"
    gl = fmt == "gl"
    template_sha = sha256_text(template_path.read_bytes()) if template_path else None
    try:
        with wh.transaction(con):
            export_id = con.execute(
                """INSERT INTO journal_exports (billing_month, format, status, file_path, file_sha256, line_count,
                       charge_count, debit_total, credit_total, approved_total, approved_exact, template,
                       template_sha256, period_status, exported_at, exported_by, run_id)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING export_id""",
                [month, fmt, status, str(path), sha, journal.line_count, journal.charges,
                 journal.debit_total if gl else None, journal.credit_total if gl else None,
                 journal.approved_total, journal.approved_exact, str(template_path) if template_path else None,
                 template_sha, period_status, wh.now_utc(), actor, run_id],
            ).fetchall()[0][0]
            result = ExportResult(export_id, month, fmt, status, path, sha, journal.line_count, journal.charges,
                                  journal.debit_total if gl else None, journal.credit_total if gl else None,
                                  journal.approved_total, journal.approved_exact,
                                  str(template_path) if template_path else None, period_status, text, journal)
            wh.record_audit(con, actor=actor, action="journal_export", period=month, run_id=run_id,
                            subject=path.name, details=result.details())
    except BaseException:
        if status == "written":
            path.unlink(missing_ok=True)  # not recorded, so not exported
        raise
    return result
