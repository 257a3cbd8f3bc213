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
from ocb_pipelines.pricing.files import PricingFileError
from ocb_pipelines.pricing.shares import SplitLine, read_splits, splits_in_force
from ocb_pipelines.review.decisions import pending_count
from ocb_pipelines.statements import naming, render, writers
from ocb_pipelines.statements.adjustments import month_origins
from ocb_pipelines.statements.lines import (
    Statement,
    approved_totals,
    load_statements,
    month_approved_total,
)
from ocb_pipelines.statements.pi_history import statement_history
from ocb_pipelines.statements.schemas import StatementGateError, gate_statements
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines.warehouse.schema import ensure_domain
from ocb_pipelines.warehouse.schema import statements as statements_schema
from ocb_pipelines.warehouse.schema.statements import LEGACY_FILE_COLUMNS

HASH_VERSION = "ocb-statement-v1"

# The tables (statements, statement_fund_shares, statement_files) are created and upgraded by the warehouse
# (warehouse/schema/statements.py), with every other domain's, on connect.

STATEMENT_COLUMNS = (
    "billing_month", "pi_email", "project_id", "statement_key", "pdf_path", "csv_path", "content_sha256",
    "pdf_sha256", "csv_sha256", "line_count", "list_total", "discount_total", "billed_total", "credits_total",
    "discount_percent", "currency", "fund_orgs", "references_1", "references_2", "generated_at", "generated_by",
    "run_id",
)  # fmt: skip


class StatementPeriodError(ValueError):
    """Statements are refused for this month (not closed, something pending, or finalized)."""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The statements tables and their upgrade (statements recorded before statement_files), again: rows that
    import-history wrote since the connection was opened get their files."""
    ensure_domain(con, statements_schema)


@dataclass(frozen=True)
class StatementFile:
    """One rendered file of a statement: its format (a writer's name), where it is, its sha256, its MIME type."""

    path: Path
    sha256: str
    mime: str


@dataclass
class Outcome:
    """A statement after rendering: `files` holds one StatementFile per writer (format name -> file)."""

    statement: Statement
    status: str  # rendered | unchanged
    files: dict[str, StatementFile]
    generated_at: datetime | None = None

    def _file(self, name: str) -> StatementFile:
        return self.files.get(name) or StatementFile(Path(), "", "")

    @property
    def pdf_path(self) -> Path:
        return self._file("pdf").path

    @property
    def csv_path(self) -> Path:
        return self._file("csv").path

    @property
    def pdf_sha256(self) -> str:
        return self._file("pdf").sha256

    @property
    def csv_sha256(self) -> str:
        return self._file("csv").sha256


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
                 "pdf": str(o.pdf_path), "csv": str(o.csv_path),
                 "files": {name: str(f.path) for name, f in o.files.items()}, "lines": o.statement.line_count,
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
            f"billing month {month} has {pending} charge(s) pending review; decide them (`ocb review list -p {month}`;"
            f" in the Dagster UI the queue is in review_decisions' metadata for {month}), close the month, then "
            "generate statements"
        )
    if period.status != "closed" and not preview:
        raise StatementPeriodError(
            f"billing month {month} is {period.status}; close it first (`ocb periods close {month}`): statements are "
            "only generated for a closed month, so they cannot change after they are sent"
        )
    return period.status


@dataclass(frozen=True)
class Renderer:
    """Everything that shapes a PDF besides its lines: templates, configuration values and the funding splits
    (a project's split in force is part of its statements' content hashes, so a changed split re-renders them)."""

    env: Any
    ctx: render.RenderContext
    fingerprint: tuple[str, ...]
    splits: tuple[SplitLine, ...] = ()

    @classmethod
    def from_settings(cls, settings: OcbSettings) -> Renderer:
        ctx = render.context_from(settings)
        env = render.make_env(render.template_dirs(settings.config_path), ctx.currency_symbol)
        templates = render.template_fingerprint(env, render.STATEMENT_TEMPLATE)
        splits: tuple[SplitLine, ...] = ()
        if settings.funding.splits_file is not None:
            try:
                splits = tuple(read_splits(settings.funding.splits_file))
            except PricingFileError as exc:
                raise StatementGateError(f"funding.splits_file refused; nothing was rendered: {exc}",
                                         [str(exc)]) from None
        return cls(env, ctx, (HASH_VERSION, templates, *ctx.fingerprint()), splits)


def current_statements(con: duckdb.DuckDBPyConnection, month: str, renderer: Renderer) -> list[Statement]:
    """The month's statements as they would be rendered now: lines, funds, the 6-month history, adjustments."""
    return load_statements(con, month, context=renderer.fingerprint, splits=splits_in_force(renderer.splits, month),
                           history=statement_history(con, month), origins=month_origins(con, month))


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
    """The month's recorded statements by (PI, project), each with `files`: format -> StatementFile."""
    ensure_tables(con)
    cursor = con.execute(f"SELECT {', '.join(STATEMENT_COLUMNS)} FROM statements WHERE billing_month = ?", [month])
    rows = {(r[1], r[2]): dict(zip(STATEMENT_COLUMNS, r, strict=True)) | {"files": {}} for r in cursor.fetchall()}
    files = con.execute("SELECT pi_email, project_id, format, path, sha256, mime FROM statement_files "
                        "WHERE billing_month = ?", [month]).fetchall()
    for pi, project, name, path, sha, mime in sorted(files, key=lambda f: writers.writer_order(f[2])):
        if (pi, project) in rows:
            rows[(pi, project)]["files"][name] = StatementFile(Path(path), sha, mime)
    return rows


def file_list(files: dict[str, StatementFile]) -> list[dict[str, str]]:
    """A statement's files as plain values: {format, path, sha256, mime}, in writer order."""
    return [{"format": name, "path": str(f.path), "sha256": f.sha256, "mime": f.mime}
            for name, f in sorted(files.items(), key=lambda item: writers.writer_order(item[0]))]


def _planned(base: Path, s: Statement) -> dict[str, Path]:
    return {w.name: naming.statement_file(base, s.billing_month, s.pi_email, s.project_id, w.suffix)
            for w in writers.WRITERS}


def _unchanged(row: dict[str, Any] | None, statement: Statement, paths: dict[str, Path]) -> bool:
    """Same content, and every format's file is where it was recorded with the recorded sha256."""
    if not row or row["content_sha256"] != statement.content_sha256:
        return False
    recorded = row["files"]
    return all(name in recorded and recorded[name].path == path and render.file_sha256(path) == recorded[name].sha256
               for name, path in paths.items())


def _remove_files(row: dict[str, Any], base: Path) -> None:
    root = base.resolve()
    for f in row["files"].values():
        path = f.path.resolve()
        if path.is_relative_to(root) and path.is_file():  # only files we made, under the output folder
            path.unlink()


def render_statements(statements: Sequence[Statement], renderer: Renderer, base: Path, *, generated_at: datetime,
                      existing: dict | None = None, workers: int = render.RENDER_WORKERS) -> list[Outcome]:
    """Write every format (writers.WRITERS) of the statements that need it; skip the unchanged ones."""
    existing = existing or {}
    outcomes: list[Outcome] = []
    todo: list[tuple[Statement, dict[str, Path]]] = []
    for s in statements:
        paths = _planned(base, s)
        row = existing.get((s.pi_email, s.project_id))
        if _unchanged(row, s, paths):
            outcomes.append(Outcome(s, "unchanged", {n: row["files"][n] for n in paths},  # type: ignore[index]
                                    row["generated_at"]))  # type: ignore[index]
        else:
            todo.append((s, paths))
    progress.report("render_start", total=len(todo), unchanged=len(outcomes))
    with render.RenderPool(workers, len(todo)) as pool:  # workers start while the writers build HTML and CSVs
        # Every file's content first: a template the sandbox refuses (TemplateRefused) stops before any is written.
        contents = [
            [(w, w.write(s, writers.Page(renderer.env, renderer.ctx, generated_at,
                                         {n: p.name for n, p in paths.items()})), paths[w.name])
             for w in writers.WRITERS]
            for s, paths in todo
        ]
        waiting: dict[str, Outcome] = {}
        left: dict[int, int] = {}
        for (s, _paths), files in zip(todo, contents, strict=True):
            outcome = Outcome(s, "rendered", {}, generated_at)
            outcomes.append(outcome)
            for w, content, path in files:
                if isinstance(content, writers.Deferred):
                    pool.submit(content.make, content.argument, str(path))
                    waiting[str(path)] = outcome
                    left[id(outcome)] = left.get(id(outcome), 0) + 1
                    outcome.files[w.name] = StatementFile(path, "", w.mime)
                else:
                    outcome.files[w.name] = StatementFile(path, render.write_atomic(path, content), w.mime)
            if not left.get(id(outcome)):
                progress.report("statement_rendered", path=str(next(iter(outcome.files.values())).path))
        for path, sha in pool.results():
            outcome = waiting[path]
            name = next(n for n, f in outcome.files.items() if str(f.path) == path)
            outcome.files[name] = StatementFile(Path(path), sha, outcome.files[name].mime)
            left[id(outcome)] -= 1
            if not left[id(outcome)]:
                progress.report("statement_rendered", path=path)
    outcomes.sort(key=lambda o: (o.statement.pi_email or "", o.statement.project_id))
    return outcomes


def _row(o: Outcome, currency: str, actor: str, run_id: str | None) -> list[Any]:
    s = o.statement
    legacy = {name: o.files.get(name) for name in LEGACY_FILE_COLUMNS}
    stem = naming.statement_stem(s.billing_month, s.pi_email, s.project_id)
    return [s.billing_month, s.pi_email, s.project_id, stem, *(str(f.path) if f else "" for f in legacy.values()),
            s.content_sha256, *(f.sha256 if f else "" for f in legacy.values()), s.line_count, s.list_total,
            s.discount_total, s.billed_total, s.credits_total, s.discount_percent, currency,
            [f.fund_org for f in s.funds], s.references_1, s.references_2, o.generated_at, actor, run_id]


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
        con.execute("DELETE FROM statement_files WHERE billing_month = ?", [month])
        if outcomes:
            con.executemany(
                f"INSERT INTO statements ({', '.join(STATEMENT_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in STATEMENT_COLUMNS)})",
                [_row(o, currency, actor, run_id) for o in outcomes],
            )
            shares = [[month, o.statement.pi_email, o.statement.project_id, f.fund_org, f.percent, f.list_total,
                       f.billed_total, f.lines] for o in outcomes for f in o.statement.funds]
            con.executemany("INSERT INTO statement_fund_shares VALUES (?, ?, ?, ?, ?, ?, ?, ?)", shares)
            con.executemany("INSERT INTO statement_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [[month, o.statement.pi_email, o.statement.project_id, name, str(f.path), f.sha256,
                              f.mime] for o in outcomes for name, f in o.files.items()])
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
    """The recorded statements of a month, with their fund shares and files (plain values, for delivery and the
    CLI): `files` lists {format, path, sha256, mime} in writer order."""
    rows = sorted(existing_rows(con, month).values(), key=lambda r: (r["pi_email"], r["project_id"]))
    for r in rows:
        r["files"] = file_list(r["files"])
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
