"""Generate a month's statements incrementally and record them in the `statements` table (no Dagster).

    closed month, nothing pending  ->  approved charges  ->  Statement objects  ->  Pandera gate
    ->  only statements whose content hash changed (or whose files are missing/altered) are rendered
    ->  statements of PI/project pairs that no longer exist are removed (files and rows)
    ->  one transaction replaces the month's rows in `statements` and `statement_fund_shares`

The content hash covers the statement's input lines, the templates as resolved (overrides included)
and the configuration values printed on it; `generated_at` and the PDF's own bytes are not part of it,
so re-rendering identical content never counts as new content for email delivery.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from ocb_pipelines.core import progress
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.periods.lifecycle import check_period_key, get_period
from ocb_pipelines.periods.reconcile import MonthNotReconciledError, require_reconciled
from ocb_pipelines.review.decisions import pending_count
from ocb_pipelines.statements import naming, render
from ocb_pipelines.statements.lines import (
    Statement,
    approved_totals,
    load_statements,
    month_approved_total,
)
from ocb_pipelines.statements.schemas import StatementGateError, gate_statements
from ocb_pipelines.warehouse import database as wh

HASH_VERSION = "ocb-statement-v1"
MONEY = wh.MONEY

STATEMENTS_DDL = f"""
CREATE TABLE IF NOT EXISTS statements (
    billing_month VARCHAR NOT NULL,
    pi_email VARCHAR NOT NULL,
    project_id VARCHAR NOT NULL,
    statement_key VARCHAR NOT NULL,
    pdf_path VARCHAR NOT NULL,
    csv_path VARCHAR NOT NULL,
    content_sha256 VARCHAR NOT NULL,
    pdf_sha256 VARCHAR NOT NULL,
    csv_sha256 VARCHAR NOT NULL,
    line_count BIGINT NOT NULL,
    list_total {MONEY} NOT NULL,
    discount_total {MONEY} NOT NULL,
    billed_total {MONEY} NOT NULL,
    credits_total {MONEY} NOT NULL,
    discount_percent DECIMAL(9, 1) NOT NULL,
    currency VARCHAR NOT NULL,
    fund_orgs VARCHAR[] NOT NULL,
    references_1 VARCHAR[] NOT NULL,
    references_2 VARCHAR[] NOT NULL,
    generated_at TIMESTAMP NOT NULL,
    generated_by VARCHAR NOT NULL,
    run_id VARCHAR,
    PRIMARY KEY (billing_month, pi_email, project_id)
);
CREATE TABLE IF NOT EXISTS statement_fund_shares (
    billing_month VARCHAR NOT NULL,
    pi_email VARCHAR NOT NULL,
    project_id VARCHAR NOT NULL,
    fund_org VARCHAR NOT NULL,
    share_percent DECIMAL(9, 2) NOT NULL,
    list_total {MONEY} NOT NULL,
    billed_total {MONEY} NOT NULL,
    line_count BIGINT NOT NULL,
    PRIMARY KEY (billing_month, pi_email, project_id, fund_org)
);
"""

STATEMENT_COLUMNS = (
    "billing_month", "pi_email", "project_id", "statement_key", "pdf_path", "csv_path", "content_sha256",
    "pdf_sha256", "csv_sha256", "line_count", "list_total", "discount_total", "billed_total", "credits_total",
    "discount_percent", "currency", "fund_orgs", "references_1", "references_2", "generated_at", "generated_by",
    "run_id",
)  # fmt: skip


class StatementPeriodError(ValueError):
    """Statements are refused for this month (not closed, something pending, or finalized)."""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(STATEMENTS_DDL)


@dataclass
class Outcome:
    statement: Statement
    status: str  # rendered | unchanged
    pdf_path: Path
    csv_path: Path
    pdf_sha256: str = ""
    csv_sha256: str = ""
    generated_at: datetime | None = None


@dataclass
class GenerateResult:
    month: str
    outcomes: list[Outcome] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False
    output_dir: Path | None = None

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def billed_total(self) -> Decimal:
        return sum((o.statement.billed_total for o in self.outcomes), Decimal(0))

    @property
    def list_total(self) -> Decimal:
        return sum((o.statement.list_total for o in self.outcomes), Decimal(0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.month,
            "dry_run": self.dry_run,
            "output_dir": str(self.output_dir) if self.output_dir else None,
            "rendered": self.count("rendered"),
            "unchanged": self.count("unchanged"),
            "removed": len(self.removed),
            "seconds": round(self.seconds, 2),
            "list_total": self.list_total,
            "billed_total": self.billed_total,
            "statements": [
                {"pi_email": o.statement.pi_email, "project_id": o.statement.project_id, "status": o.status,
                 "pdf": str(o.pdf_path), "csv": str(o.csv_path), "lines": o.statement.line_count,
                 "list_total": o.statement.list_total, "discount_total": o.statement.discount_total,
                 "billed_total": o.statement.billed_total, "discount_percent": o.statement.discount_percent,
                 "funds": {f.fund_org: str(f.percent) for f in o.statement.funds},
                 "content_sha256": o.statement.content_sha256}
                for o in self.outcomes
            ],
            "removed_statements": self.removed,
        }


def require_statement_period(con: duckdb.DuckDBPyConnection, month: str, *, preview: bool = False) -> str:
    """A month gets statements when it is closed with nothing pending. A preview (dry run) may look at an
    open month too. Returns the status."""
    check_period_key(month)
    period = get_period(con, month)
    if period is None:
        raise StatementPeriodError(f"billing month {month} does not exist; import its data first")
    if period.status == "finalized":
        raise StatementPeriodError(
            f"billing month {month} is finalized: its statements are frozen and cannot be regenerated"
        )
    if not preview:  # every raw row validated and counted (a kill or a race may have left some behind)
        try:
            require_reconciled(con, month, "generating its statements")
        except MonthNotReconciledError as exc:
            raise StatementPeriodError(str(exc)) from None
    pending, _ = pending_count(con, month)
    if pending and not preview:
        raise StatementPeriodError(
            f"billing month {month} has {pending} charge(s) pending review; decide them (`ocb review list -p {month}`)"
            ", close the month, then generate statements"
        )
    if period.status != "closed" and not preview:
        raise StatementPeriodError(
            f"billing month {month} is {period.status}; close it first (`ocb periods close {month}`): statements are "
            "only generated for a closed month, so they cannot change after they are sent"
        )
    return period.status


@dataclass(frozen=True)
class Renderer:
    """Everything that shapes a PDF besides its lines: templates and configuration values."""

    env: Any
    ctx: render.RenderContext
    fingerprint: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: OcbSettings) -> Renderer:
        ctx = render.context_from(settings)
        env = render.make_env(render.template_dirs(settings.config_path), ctx.currency_symbol)
        templates = render.template_fingerprint(env, render.STATEMENT_TEMPLATE)
        return cls(env, ctx, (HASH_VERSION, templates, *ctx.fingerprint()))


def current_statements(con: duckdb.DuckDBPyConnection, month: str, renderer: Renderer) -> list[Statement]:
    return load_statements(con, month, context=renderer.fingerprint)


def gated_statements(con: duckdb.DuckDBPyConnection, month: str, renderer: Renderer) -> list[Statement]:
    statements = current_statements(con, month, renderer)
    problems = gate_statements(statements, approved_totals(con, month), month_approved_total(con, month))
    if problems:
        listing = "\n  - ".join(problems)
        raise StatementGateError(
            f"statements for {month} failed their schema; nothing was rendered:\n  - {listing}", problems
        )
    return statements


def existing_rows(con: duckdb.DuckDBPyConnection, month: str) -> dict[tuple[str, str], dict[str, Any]]:
    ensure_tables(con)
    cursor = con.execute(f"SELECT {', '.join(STATEMENT_COLUMNS)} FROM statements WHERE billing_month = ?", [month])
    rows = cursor.fetchall()
    return {(r[1], r[2]): dict(zip(STATEMENT_COLUMNS, r, strict=True)) for r in rows}


def _unchanged(row: dict[str, Any] | None, statement: Statement, pdf: Path, csv_path: Path) -> bool:
    return bool(
        row
        and row["content_sha256"] == statement.content_sha256
        and row["pdf_path"] == str(pdf)
        and row["csv_path"] == str(csv_path)
        and render.file_sha256(pdf) == row["pdf_sha256"]
        and render.file_sha256(csv_path) == row["csv_sha256"]
    )


def _remove_files(row: dict[str, Any], base: Path) -> None:
    root = base.resolve()
    for key in ("pdf_path", "csv_path"):
        path = Path(row[key]).resolve()
        if path.is_relative_to(root) and path.is_file():  # only files we made, under the output folder
            path.unlink()


def render_statements(statements: Sequence[Statement], renderer: Renderer, base: Path, *, generated_at: datetime,
                      existing: dict | None = None, workers: int = render.RENDER_WORKERS) -> list[Outcome]:
    """Write CSVs and PDFs for the statements that need it; skip the unchanged ones."""
    existing = existing or {}
    outcomes: list[Outcome] = []
    todo: list[tuple[Statement, Path, Path]] = []
    base_url = str(render.DEFAULT_TEMPLATE_DIR)
    for s in statements:
        pdf, csv_path = naming.statement_paths(base, s.billing_month, s.pi_email, s.project_id)
        row = existing.get((s.pi_email, s.project_id))
        if _unchanged(row, s, pdf, csv_path):
            outcomes.append(Outcome(s, "unchanged", pdf, csv_path, row["pdf_sha256"], row["csv_sha256"],  # type: ignore[index]
                                    row["generated_at"]))  # type: ignore[index]
        else:
            todo.append((s, pdf, csv_path))
    progress.report("render_start", total=len(todo), unchanged=len(outcomes))
    with render.PdfRenderer(workers, len(todo)) as pdfs:  # workers start while HTML and CSVs are built
        # Every page's HTML first: a template the sandbox refuses (TemplateRefused) stops before any file is written.
        pages = [render.statement_html(renderer.env, s, renderer.ctx, csv_name=csv_path.name,
                                       generated_at=generated_at) for s, _pdf, csv_path in todo]
        for (s, pdf, csv_path), html in zip(todo, pages, strict=True):
            csv_sha = render.write_atomic(csv_path, render.statement_csv_bytes(s))
            pdfs.submit(html, str(pdf), base_url)
            outcomes.append(Outcome(s, "rendered", pdf, csv_path, "", csv_sha, generated_at))
        shas = pdfs.results()
    for o in outcomes:
        if o.status == "rendered":
            o.pdf_sha256 = shas[str(o.pdf_path)]
    outcomes.sort(key=lambda o: (o.statement.pi_email or "", o.statement.project_id))
    return outcomes


def _row(o: Outcome, currency: str, actor: str, run_id: str | None) -> list[Any]:
    s = o.statement
    return [s.billing_month, s.pi_email, s.project_id, o.pdf_path.stem, str(o.pdf_path), str(o.csv_path),
            s.content_sha256, o.pdf_sha256, o.csv_sha256, s.line_count, s.list_total, s.discount_total,
            s.billed_total, s.credits_total, s.discount_percent, currency, [f.fund_org for f in s.funds],
            s.references_1, s.references_2, o.generated_at, actor, run_id]


def generate_statements(
    con: duckdb.DuckDBPyConnection,
    settings: OcbSettings,
    month: str,
    *,
    run_id: str | None = None,
    actor: str | None = None,
    workers: int = render.RENDER_WORKERS,
    dry_run: bool = False,
    preview_dir: Path | None = None,
) -> GenerateResult:
    """Render what changed and record the month's statements. `dry_run` renders every statement into
    `preview_dir` (default: <pdf_dir>/_preview) and writes nothing to the warehouse."""
    started = time.perf_counter()
    actor = actor or wh.current_actor()
    ensure_tables(con)
    require_statement_period(con, month, preview=dry_run)
    renderer = Renderer.from_settings(settings)
    statements = gated_statements(con, month, renderer)
    now = wh.now_utc()
    if dry_run:
        base = preview_dir or (settings.output.pdf_dir / "_preview")
        outcomes = render_statements(statements, renderer, base, generated_at=now, workers=workers)
        return GenerateResult(month, outcomes, [], time.perf_counter() - started, True, base / month)
    base = settings.output.pdf_dir
    render.remove_stale_temps(naming.month_folder(base, month))  # left by a run killed mid-write
    existing = existing_rows(con, month)
    outcomes = render_statements(statements, renderer, base, generated_at=now, existing=existing, workers=workers)
    keep = {(s.pi_email, s.project_id) for s in statements}
    removed = [row for key, row in existing.items() if key not in keep]
    currency = settings.currency.code
    with wh.transaction(con):
        if wh.period_status(con, month) != "closed":
            raise StatementPeriodError(f"billing month {month} changed status while statements were rendered")
        con.execute("DELETE FROM statements WHERE billing_month = ?", [month])
        con.execute("DELETE FROM statement_fund_shares WHERE billing_month = ?", [month])
        if outcomes:
            con.executemany(
                f"INSERT INTO statements ({', '.join(STATEMENT_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in STATEMENT_COLUMNS)})",
                [_row(o, currency, actor, run_id) for o in outcomes],
            )
            shares = [[month, o.statement.pi_email, o.statement.project_id, f.fund_org, f.percent, f.list_total,
                       f.billed_total, f.lines] for o in outcomes for f in o.statement.funds]
            con.executemany("INSERT INTO statement_fund_shares VALUES (?, ?, ?, ?, ?, ?, ?, ?)", shares)
        result = GenerateResult(month, outcomes, [{"pi_email": r["pi_email"], "project_id": r["project_id"],
                                                  "pdf": r["pdf_path"]} for r in removed])
        wh.record_audit(con, actor=actor, action="statements_generate", period=month, run_id=run_id, subject=month,
                        details={"rendered": result.count("rendered"), "unchanged": result.count("unchanged"),
                                 "removed": len(removed), "billed_total": result.billed_total})
    for row in removed:  # after the commit: a failed transaction leaves the old files in place
        _remove_files(row, base)
    result.seconds = time.perf_counter() - started
    result.output_dir = base / month
    return result


def month_statement_rows(con: duckdb.DuckDBPyConnection, month: str) -> list[dict[str, Any]]:
    """The recorded statements of a month, with their fund shares (for delivery and the CLI)."""
    rows = sorted(existing_rows(con, month).values(), key=lambda r: (r["pi_email"], r["project_id"]))
    shares = con.execute(
        "SELECT pi_email, project_id, fund_org, share_percent, billed_total FROM statement_fund_shares "
        "WHERE billing_month = ? ORDER BY pi_email, project_id, billed_total DESC, fund_org",
        [month],
    ).fetchall()
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for pi, project, fund, pct, billed in shares:
        by_key.setdefault((pi, project), []).append({"fund_org": fund, "percent": pct, "billed_total": billed})
    for r in rows:
        r["funds"] = by_key.get((r["pi_email"], r["project_id"]), [])
    return rows
