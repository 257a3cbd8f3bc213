"""Rendering a month's statements: the commands and queries the CLI, Dagster and the desk share.

Rendering changes the `statements` asset's data, so it runs as a Dagster run (`statements_job`, or
`generate_and_send_job` to email them too) tagged with the actor; what was rendered is then read back from the
warehouse. A preview (dry run) renders every statement into a preview folder and says what would be emailed;
it records, materialises and sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocb_pipelines.delivery.email import DeliveryError, plan_emails, transport_for
from ocb_pipelines.services import deliveries
from ocb_pipelines.services.context import AppContext, RunOutcome
from ocb_pipelines.services.downloads import Download, DownloadUnavailable, recorded_file, safe_filename
from ocb_pipelines.statements.generate import (
    GenerateResult,
    StatementPeriodError,
    ensure_tables,
    file_list,
    generate_statements,
    month_statement_rows,
)
from ocb_pipelines.statements.render import TemplateRefused
from ocb_pipelines.statements.schemas import StatementGateError

STATEMENT_FIELDS = ("statement_key", "pi_email", "project_id", "pdf_path", "csv_path", "billed_total", "list_total",
                    "discount_total", "content_sha256", "generated_at")  # statement_key: the statement's id


class StatementsRefused(ValueError):
    """Statements cannot be rendered for this month (period, gate or template); nothing was written."""


@dataclass(frozen=True)
class RenderReport:
    """A finished render run: its outcome, the `statements` materialisation's metadata (empty when nothing was
    materialised), the month's recorded statements, and the send's report when it also emailed them."""

    month: str
    run: RunOutcome
    metadata: dict[str, Any]
    statements: list[dict[str, Any]]
    send: deliveries.SendReport | None = None

    @property
    def ok(self) -> bool:
        return self.send.ok if self.send is not None else self.run.success


@dataclass(frozen=True)
class Preview:
    """A dry run: every statement rendered into the preview folder, and each PI's email as a send would decide
    it. `note` says why the emails were planned from the preview (no current statements recorded yet)."""

    generated: GenerateResult
    emails: list[dict[str, Any]]
    note: str = ""


def month_statements(ctx: AppContext, month: str) -> list[dict[str, Any]]:
    """The month's recorded statements (one per PI and project), with their fund shares and files in every
    format."""
    with ctx.connection() as con:
        ensure_tables(con)
        rows = month_statement_rows(con, month)
    return [{k: r[k] for k in STATEMENT_FIELDS} | {"funds": r["funds"], "files": r["files"]} for r in rows]


def statement_download(ctx: AppContext, month: str, statement_key: str, fmt: str) -> Download:
    """One file of a recorded statement, found by its id (`statement_key`) and format among the month's recorded
    statements, served from output.pdf_dir only; DownloadUnavailable when there is no such statement or file, or
    the file is not the one recorded."""
    statement = next((s for s in month_statements(ctx, month) if s["statement_key"] == statement_key), None)
    if statement is None:
        raise DownloadUnavailable(f"no statement {statement_key!r} in {month}")
    file = next((f for f in statement["files"] if f["format"] == fmt), None)
    if file is None:
        raise DownloadUnavailable(f"statement {statement_key} of {month} has no {fmt!r} file")
    path = recorded_file(ctx.settings.output.pdf_dir, file["path"], file["sha256"], f"the {fmt} of statement "
                         f"{statement_key}", f"render the statements of {month} again")
    return Download(path, file["mime"], safe_filename(statement_key, Path(file["path"]).suffix))


def render_statements(ctx: AppContext, month: str, *, workers: int = 2, send: bool = False) -> RenderReport:
    """Render the month's statements (closed, nothing pending; only what changed) as a tagged run, and with
    `send` email them in the same run."""
    job = "generate_and_send_job" if send else "statements_job"
    run = ctx.job(job, month, {"ops": {"statements": {"config": {"workers": workers}}}})
    metadata = run.metadata.get("statements", {})
    rows = month_statements(ctx, month) if metadata else []
    report = deliveries.send_report(ctx, month, run) if send else None
    return RenderReport(month, run, metadata, rows, report)


def preview_statements(ctx: AppContext, month: str) -> Preview:
    """Render every statement of the month into `<pdf_dir>/_preview` (an open month too) and decide each PI's
    email; the warehouse, the Dagster instance and the mail server are not touched."""
    with ctx.connection() as con:
        try:
            generated = generate_statements(con, ctx.settings, month, dry_run=True, actor=ctx.actor)
        except (StatementGateError, StatementPeriodError) as exc:
            raise StatementsRefused(str(exc)) from None
        except TemplateRefused as exc:
            raise StatementsRefused(f"{exc}; no statement was rendered") from None
    try:
        return Preview(generated, deliveries.preview_send(ctx, month))
    except DeliveryError as exc:  # no current statements recorded yet: plan from the preview instead
        return Preview(generated, _planned_from_preview(ctx, month, generated), str(exc))


def _planned_from_preview(ctx: AppContext, month: str, generated: GenerateResult) -> list[dict[str, Any]]:
    rows = [
        {"pi_email": o.statement.pi_email, "project_id": o.statement.project_id, "files": file_list(o.files),
         "content_sha256": o.statement.content_sha256, "list_total": o.statement.list_total,
         "discount_total": o.statement.discount_total, "billed_total": o.statement.billed_total,
         "funds": [{"fund_org": f.fund_org, "percent": f.percent} for f in o.statement.funds]}
        for o in generated.outcomes
    ]  # fmt: skip
    try:
        plans = plan_emails(ctx.settings, month, rows)
        transport = transport_for(ctx.settings).name
    except DeliveryError as inner:
        plans, transport = [], f"none ({inner})"
    return [{"to": p.recipient, "subject": p.subject, "status": "would_send", "transport": transport,
             "projects": [s["project_id"] for s in p.statements], "billed_total": p.billed_total,
             "attachments": [a.as_dict() for a in p.attachments]} for p in plans]
