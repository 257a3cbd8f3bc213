"""What OpenChargeback sent for a month, recorded where this project keeps its own (no Dagster).

  statements       one row per OpenChargeback statement (PI x project), its total as it was sent; line counts,
                   list prices, funds and references from the month's approved charges. The PDF path is
                   OpenChargeback's; no file is copied or hashed here, and the month is finalized, so these rows are
                   never rendered or sent again.
  delivery_log     one row per email_logs row: success -> sent (SMTP), dev_mode -> written (its file outbox),
                   error -> failed, with who asked, when, the subject and the error
  journal_exports  one row per logged journal export: its format (prefixed `openchargeback-`), file name, rows,
                   total, who and when

Each call returns its audit events (time, action, subject, details) and its warnings.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb

from ocb_pipelines.core.money import format_money, to_cents
from ocb_pipelines.delivery import log
from ocb_pipelines.history.openchargeback_db import NO_PROJECT, OcbMonth, is_true
from ocb_pipelines.ledger.export import ensure_journal_schema
from ocb_pipelines.statements.generate import STATEMENT_COLUMNS, ensure_tables

Event = tuple[datetime | None, str, str | None, dict[str, Any]]
EMAIL_STATUS = {"success": ("sent", "smtp"), "dev_mode": ("written", "outbox"), "error": ("failed", "smtp")}
ZERO = Decimal(0)


def statement_key(pi_email: Any, project_id: Any) -> tuple[str, str]:
    """OpenChargeback's grouping of a statement, normalised as charges are here (PI trimmed and lower-case)."""
    return str(pi_email or "").strip().lower(), (str(project_id).strip() if project_id else "") or NO_PROJECT


def _lines(con: duckdb.DuckDBPyConnection, month: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows = con.execute(
        f"""SELECT coalesce(pi_email, ''), coalesce(project_id, '{NO_PROJECT}'), count(*),
                   sum(coalesce(list_cost, billed_cost)), sum(billed_cost),
                   coalesce(sum(billed_cost) FILTER (WHERE billed_cost < 0), 0),
                   list(DISTINCT fund_org ORDER BY fund_org) FILTER (WHERE fund_org IS NOT NULL),
                   list(DISTINCT reference_1 ORDER BY reference_1) FILTER (WHERE reference_1 IS NOT NULL),
                   list(DISTINCT reference_2 ORDER BY reference_2) FILTER (WHERE reference_2 IS NOT NULL)
            FROM charges_approved WHERE billing_month = ? GROUP BY 1, 2""",
        [month],
    ).fetchall()
    names = ("lines", "list", "billed", "credits", "funds", "refs1", "refs2")
    return {(r[0], r[1]): dict(zip(names, r[2:], strict=True)) for r in rows}


def write_statements(con: duckdb.DuckDBPyConnection, month: OcbMonth, *, currency: str, symbol: str,
                     now: datetime) -> tuple[list[Event], list[str]]:
    ensure_tables(con)
    lines = _lines(con, month.period)
    events: list[Event] = []
    warnings: list[str] = []
    rows = []
    for s in month.statements:
        pi, project = statement_key(s["pi_email"], s["project_id"])
        sent_total: Decimal = s["total_cost"]
        got = lines.pop((pi, project), None) or {"lines": 0, "list": ZERO, "billed": ZERO, "credits": ZERO,
                                                 "funds": [], "refs1": [], "refs2": []}
        list_total = got["list"]
        if to_cents(got["billed"]) != to_cents(sent_total):
            warnings.append(f"statement {pi} / {project} says {format_money(sent_total, symbol)}, its approved "
                            f"charges sum to {format_money(got['billed'], symbol)} (changed in OpenChargeback after "
                            "the statement was generated); the statement is kept as sent")
            list_total = sent_total  # the list price of what was sent is not known: no discount shown
        discount = list_total - sent_total
        percent = (discount / list_total * 100).quantize(Decimal("0.1")) if list_total > 0 else Decimal(0)
        funds = [s["fund_org"]] if s["fund_org"] else list(got["funds"] or [])
        rows.append([month.period, pi, project, f"openchargeback-{s['id']}", s["pdf_path"] or "", "",
                     f"openchargeback:statements.id={s['id']}", "", "", got["lines"], list_total, discount,
                     sent_total, got["credits"], percent, currency, funds, list(got["refs1"] or []),
                     list(got["refs2"] or []), s["generated_at"] or now, "openchargeback", None])
        events.append((s["generated_at"], "statements_generate", f"{pi} / {project}", {
            "statement_id": s["id"], "billed_total": sent_total, "fund_org": s["fund_org"], "pdf": s["pdf_path"],
            "sent_at": s["sent_at"]}))
    if rows:
        con.executemany(f"INSERT INTO statements ({', '.join(STATEMENT_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(STATEMENT_COLUMNS))})", rows)
    for (pi, project), got in sorted(lines.items()):
        warnings.append(f"{got['lines']} approved charge(s) of {pi or '(no PI)'} / {project} "
                        f"({format_money(got['billed'], symbol)}) have no statement in OpenChargeback")
    return events, warnings


def write_deliveries(con: duckdb.DuckDBPyConnection, month: OcbMonth, *, database: str,
                     now: datetime) -> list[Event]:
    log.ensure_tables(con)
    per_pi = Counter(statement_key(s["pi_email"], None)[0] for s in month.statements)
    attempts: Counter[str] = Counter()
    events: list[Event] = []
    for e in sorted(month.emails, key=lambda e: (e["sent_at"] or now, e["id"])):
        recipient = str(e["recipient"]).strip()
        pi = recipient.lower()
        attempts[pi] += 1
        status, transport = EMAIL_STATUS.get(str(e["status"]), ("failed", "smtp"))
        at = e["sent_at"] or now
        con.execute(
            "INSERT INTO delivery_log (billing_month, pi_email, recipient, content_key, attempt, message_id, subject, "
            "attachments, statement_count, transport, status, resend, resend_reason, error, destination, "
            "requested_by, run_id, started_at, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, ?, false, NULL, ?, NULL, ?, NULL, ?, ?)",
            [month.period, pi, recipient, f"openchargeback:email_logs.id={e['id']}", attempts[pi],
             f"<openchargeback.email_logs.{e['id']}@{database}>", e["subject"] or "", per_pi[pi], transport, status,
             e["error_message"], e["sent_by"] or "openchargeback", at, at],
        )
        events.append((e["sent_at"], "statements_send", recipient, {
            "status": e["status"], "subject": e["subject"], "by": e["sent_by"], "error": e["error_message"],
            "email_log_id": e["id"]}))
    return events


def write_journal_exports(con: duckdb.DuckDBPyConnection, month: OcbMonth, *, now: datetime) -> list[Event]:
    ensure_journal_schema(con)
    events: list[Event] = []
    for j in month.journal_exports:
        total = j["total_cost"] if j["total_cost"] is not None else ZERO
        rows = int(j["row_count"] or 0)
        fmt = f"openchargeback-{j['format'] or 'standard'}"
        con.execute(
            "INSERT INTO journal_exports (billing_month, format, status, file_path, file_sha256, line_count, "
            "charge_count, debit_total, credit_total, approved_total, approved_exact, template, template_sha256, "
            "period_status, exported_at, exported_by, run_id) "
            "VALUES (?, ?, 'written', ?, '', ?, ?, NULL, NULL, ?, ?, NULL, NULL, 'unknown', ?, ?, NULL)",
            [month.period, fmt, j["filename"] or "", rows, rows, to_cents(total), total, j["exported_at"] or now,
             j["exported_by"] or "openchargeback"],
        )
        events.append((j["exported_at"], "journal_export", j["filename"], {
            "format": fmt, "rows": rows, "total": total, "include_flagged": is_true(j["include_flagged"]),
            "by": j["exported_by"], "journal_export_id": j["id"]}))
    return events


def details_json(details: dict[str, Any]) -> str:
    """Audit details as JSON: amounts as exact text, times as ISO text."""
    def value(v: Any) -> Any:
        if isinstance(v, Decimal):
            return format(v, "f")
        if isinstance(v, datetime):
            return v.isoformat(sep=" ")
        return str(v)
    return json.dumps(details, default=value)
