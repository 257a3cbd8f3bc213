"""`ocb import-history`: OpenChargeback's past months, brought in as finalized billing months (no Dagster).

Each closed or finalized month of its billing.db becomes, in one transaction, a finalized month here:

  raw rows     one import per OpenChargeback source (focus_rows, imports, import_files), named
               `billing.db [SOURCE]`, row N being charges.id N; the FOCUS columns it never stored are filled as for
               its files (ingest/legacy_layout.py), a missing charge period or EffectiveCost from the billing
               period and BilledCost
  validated    built by the same SQL as any import (charge ids, money, times), then given OpenChargeback's own
               attribution (pi_email, project_id, fund_org, references) and its own review flag: history is not
               judged again by today's rules, so what it billed is what is billed here
  decisions    review_decisions with OpenChargeback's who and when (via `openchargeback`); charges_approved
  outputs      statements, deliveries and journal exports as it recorded them (history/outputs.py)
  audit        an event for each of those, actor `openchargeback`, at the time it happened there

So imported = approved + pending + rejected holds to the cent (checked before the commit). Open months are skipped:
their files go through `ocb ingest`. A month that already exists here is refused, never merged; a month brought
in before from the same rows is reported unchanged, so a second run changes nothing.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ocb_pipelines.charges.attribution import AttributionRules, validated_select_sql
from ocb_pipelines.charges.validate import gate_validated
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.history import outputs
from ocb_pipelines.history.openchargeback_db import HistoryError, OcbDatabase, OcbMonth
from ocb_pipelines.history.verdicts import ACTOR, ATTRIBUTION, ATTRIBUTION_SCHEMA, DECISION_SCHEMA, verdicts
from ocb_pipelines.ingest.focus import canonical_header
from ocb_pipelines.ingest.importer import gate_rows
from ocb_pipelines.ingest.legacy_layout import SourceDefaults, fills_json, with_fills
from ocb_pipelines.periods.reconcile import MonthNotReconciledError, reconcile, require_reconciled
from ocb_pipelines.review.approve import approved_select_sql, gate_approved
from ocb_pipelines.review.decisions import summarize_review
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines.warehouse.schema.ingest import IMPORTS_INSERT

IMPORTABLE = ("closed", "finalized")
FILE_FORMAT = "openchargeback-sqlite"
# OpenChargeback's 12-column FOCUS subset: what its charges table keeps of each row.
LAYOUT = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ListCost",
          "ContractedCost", "BilledCost", "EffectiveCost", "ResourceId", "ResourceName", "ServiceName", "Tags")


@dataclass
class MonthOutcome:
    period: str
    status: str  # imported | unchanged | skipped | refused
    message: str = ""
    charges: int = 0
    billed_total: Decimal = Decimal(0)
    approved_total: Decimal = Decimal(0)
    pending_total: Decimal = Decimal(0)
    rejected_total: Decimal = Decimal(0)
    decisions: int = 0
    statements: int = 0
    emails: int = 0
    journal_exports: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class HistoryResult:
    database: Path
    schema_version: int | None
    months: list[MonthOutcome]
    unplaced_emails: int = 0

    @property
    def refused(self) -> list[MonthOutcome]:
        return [m for m in self.months if m.status == "refused"]

    def as_dict(self) -> dict[str, Any]:
        return {"ok": not self.refused, "database": str(self.database), "schema_version": self.schema_version,
                "unplaced_emails": self.unplaced_emails, "months": [asdict(m) for m in self.months]}


def rules_for(settings: OcbSettings) -> AttributionRules:
    """The validation SQL's rules: tag keys for the fields OpenChargeback never mapped (cost_center,
    account_code); its own flags and attribution replace the rest afterwards."""
    return AttributionRules(tag_keys=settings.tag_mapping.model_dump(), currency_code=settings.currency.code)


def import_history(con: duckdb.DuckDBPyConnection, settings: OcbSettings, database: str | Path, *,
                   periods: Sequence[str] = (), zone: tzinfo = UTC) -> HistoryResult:
    """Import every closed or finalized month of `database` (or only `periods`), each in its own transaction."""
    with OcbDatabase(database, zone) as db:
        known = {str(p["period"]): p for p in db.periods}
        unknown = sorted(set(periods) - set(known))
        if unknown:
            raise HistoryError(f"{db.path}: no billing period {', '.join(unknown)} (it has "
                               f"{', '.join(known) or 'none'})")
        result = HistoryResult(db.path, db.schema_version, [], len(db.unplaced_emails))
        for period, row in known.items():
            if periods and period not in periods:
                continue
            if row["status"] not in IMPORTABLE:
                result.months.append(MonthOutcome(period, "skipped", f"{row['status']} in OpenChargeback, not a past "
                                                  f"month: import its files with `ocb ingest` instead"))
                continue
            try:
                month = db.month(row)
            except HistoryError as exc:
                result.months.append(MonthOutcome(period, "refused", f"{exc}; nothing of {period} was imported"))
                continue
            result.months.append(import_month(con, settings, db, month))
    return result


def previous_import(con: duckdb.DuckDBPyConnection, period: str) -> dict[str, Any] | None:
    rows = con.execute("SELECT details FROM audit_events WHERE action = 'history_import' AND period = ? "
                       "ORDER BY event_id DESC LIMIT 1", [period]).fetchall()
    return json.loads(rows[0][0]) if rows else None


def _already_here(con: duckdb.DuckDBPyConnection, period: str) -> str | None:
    """Why the month exists in the warehouse already (None when it does not)."""
    status = wh.period_status(con, period)
    counts = [con.execute(f"SELECT count(*) FROM {t} WHERE billing_month = ?", [period]).fetchall()[0][0]
              for t in ("import_files", "validated_lines", "review_decisions")]
    if status is None and not any(counts):
        return None
    return f"{status or 'no period row'}, {counts[0]} imported file(s), {counts[1]} charge(s)"


def import_month(con: duckdb.DuckDBPyConnection, settings: OcbSettings, db: OcbDatabase,
                 month: OcbMonth) -> MonthOutcome:
    """One month in one transaction: all of it, or (refused) none of it."""
    try:
        with wh.transaction(con):
            here = _already_here(con, month.period)
            if here is not None:
                return _existing(con, month, here)
            outcome = _write_month(con, settings, db, month)
    except (HistoryError, duckdb.ConstraintException) as exc:
        return MonthOutcome(month.period, "refused", f"{exc}; nothing of {month.period} was imported")
    return outcome


def _existing(con: duckdb.DuckDBPyConnection, month: OcbMonth, here: str) -> MonthOutcome:
    before = previous_import(con, month.period)
    if before and before.get("digest") == month.digest:
        return MonthOutcome(month.period, "unchanged", f"already imported from OpenChargeback on "
                                                      f"{before.get('imported_at', '?')[:16]}; nothing changed")
    if before:
        return MonthOutcome(month.period, "refused", f"{month.period} was imported from OpenChargeback on "
                            f"{before.get('imported_at', '?')[:16]} and has changed there since; a finalized month "
                            "never changes here, so it is refused, not merged (book corrections in an open month)")
    return MonthOutcome(month.period, "refused", f"billing month {month.period} already exists here ({here}); "
                        "it is refused, not merged: its history stays in OpenChargeback (leave it out with -p, or "
                        "start from a warehouse without it)")


def _source_name(settings: OcbSettings, name: str) -> str:
    known = settings.source(name)
    return known.name.lower() if known else name.strip().lower()


def _text(value: Any) -> str | None:
    """A stored value as the text a FOCUS file would hold (SQLite may keep a number where text was meant)."""
    return None if value is None else str(value)


def _amount_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _register(con: duckdb.DuckDBPyConnection, name: str, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    con.register(name, pa.Table.from_pylist(rows, schema=schema))


def _write_raw(con: duckdb.DuckDBPyConnection, settings: OcbSettings, db: OcbDatabase, month: OcbMonth,
               now: datetime) -> list[dict[str, Any]]:
    """focus_rows, imports and import_files, one import per OpenChargeback source; the imports' audit events."""
    first = f"{month.period}-01"
    last = f"{month.period}-{calendar.monthrange(*map(int, month.period.split('-')))[1]:02d}"
    by_source: dict[int, list[dict[str, Any]]] = {}
    for c in month.charges:
        by_source.setdefault(c["source_id"], []).append(c)
    base = canonical_header(LAYOUT)
    events = []
    for source_id, charges in sorted(by_source.items()):
        ocb_source = db.sources.get(source_id)
        if ocb_source is None:
            raise HistoryError(f"{db.path.name}: charges id {charges[0]['id']}, column source_id, value {source_id}: "
                               "no such source")
        source = _source_name(settings, str(ocb_source["name"]))
        provider = str(ocb_source["display_name"] or ocb_source["name"])
        mapping = with_fills(base, SourceDefaults(source, source, settings.currency.code, provider,
                                                  "OpenChargeback source display_name"))
        fills = {f.column: f.value for f in mapping.fills}
        file_name = f"{db.path.name} [{ocb_source['name']}]"
        key = con.execute("SELECT coalesce(max(import_key), 0) + 1 FROM imports").fetchall()[0][0]
        rows = [{
            "billing_month": month.period, "import_key": key, "file_row_number": c["id"],
            "BillingPeriodStart": first, "BillingPeriodEnd": last,
            "ChargePeriodStart": _text(c["charge_period_start"]) or first,
            "ChargePeriodEnd": _text(c["charge_period_end"]) or last,
            "ListCost": _amount_text(c["list_cost"]), "ContractedCost": _amount_text(c["contracted_cost"]),
            "BilledCost": _amount_text(c["billed_cost"]),
            "EffectiveCost": _amount_text(c["billed_cost"] if c["effective_cost"] is None else c["effective_cost"]),
            "ResourceId": _text(c["resource_id"]), "ResourceName": _text(c["resource_name"]),
            "ServiceName": _text(c["service_name"]), "Tags": _text(c["raw_tags"]), **fills,
        } for c in charges]
        columns = [*LAYOUT, *fills]
        schema = pa.schema([("billing_month", pa.string()), ("import_key", pa.int32()),
                            ("file_row_number", pa.int64()), *((c, pa.string()) for c in columns)])
        _register(con, "history_rows", rows, schema)
        con.execute("INSERT INTO focus_rows BY NAME SELECT * FROM history_rows")
        con.unregister("history_rows")
        failures = gate_rows(con, f"(SELECT * FROM focus_rows WHERE import_key = {int(key)})", base, 20)
        if failures:
            listing = "; ".join(f"charges id {f.row}, column {f.column}, value {f.value!r}: {f.problem}"
                                for f in failures)
            raise HistoryError(f"{db.path.name}: refused by the FOCUS structure check: {listing}")
        sha = hashlib.sha256(f"{month.digest}\x1f{source_id}".encode()).hexdigest()
        import_id = uuid.uuid4().hex
        con.execute(f"{IMPORTS_INSERT} VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, ?)",
                    [key, import_id, month.period, source, file_name, sha, base.version, now, fills_json(mapping)])
        count, billed, listed = con.execute(
            f"""SELECT count(*), coalesce(sum(CAST("BilledCost" AS {wh.MONEY})), 0),
                       coalesce(sum(CAST(coalesce("ListCost", "BilledCost") AS {wh.MONEY})), 0)
                FROM focus_rows WHERE import_key = ?""", [key]).fetchall()[0]
        con.execute("INSERT INTO import_files VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, NULL)",
                    [source, file_name, month.period, sha, str(db.path.resolve()), FILE_FORMAT, base.version, count,
                     billed, listed, now, ACTOR])
    for i in month.imports:
        name = db.sources.get(i["source_id"], {}).get("name")
        events.append((i["imported_at"], "import", i["filename"], {
            "source": name, "rows": i["row_count"], "billed_total": i["total_cost"], "flagged_rows": i["flagged_rows"],
            "flagged_billed": i["flagged_cost"], "openchargeback_import_id": i["id"]}))
    return events


AUDIT_SCHEMA = pa.schema([("seq", pa.int64()), ("occurred_at", pa.timestamp("us")), ("action", pa.string()),
                          ("subject", pa.string()), ("details", pa.string())])


def _write_month(con: duckdb.DuckDBPyConnection, settings: OcbSettings, db: OcbDatabase,
                 month: OcbMonth) -> MonthOutcome:
    now = wh.now_utc()
    events = _write_raw(con, settings, db, month, now)
    con.execute(f"INSERT INTO validated_lines BY NAME {validated_select_sql(rules_for(settings))}",
                {"month": month.period, "validated_at": now, "run_id": None})
    attribution, decisions, unused_logs = verdicts(db, month)
    _register(con, "history_attribution", attribution, ATTRIBUTION_SCHEMA)
    con.execute(
        f"""UPDATE validated_lines AS v SET {', '.join(f'{f} = h.{f}' for f in ATTRIBUTION)},
               review_reasons = h.review_reasons, needs_review = len(h.review_reasons) > 0
            FROM history_attribution h
            WHERE v.billing_month = ? AND v.file_name = h.file_name AND v.file_row_number = h.file_row_number""",
        [month.period],
    )
    con.unregister("history_attribution")
    problems = gate_validated(con, month.period)
    if problems:
        raise HistoryError(f"{db.path.name}: its charges for {month.period} failed their schema: {'; '.join(problems)}")
    events += _write_decisions(con, month, decisions)
    events += [(e["performed_at"], "review_approve" if e["action"] == "approved" else "review_reject",
                f"{db.path.name} charges id {e['charge_id']}",
                {"by": e["performed_by"], "note": e["note"], "amount": e["amount"], "in_effect": False,
                 "openchargeback_review_log_id": e["id"]}) for e in unused_logs]
    con.execute(f"INSERT INTO charges_approved BY NAME {approved_select_sql(con)}",
                {"month": month.period, "approved_at": now, "run_id": None})
    problems = gate_approved(con, month.period, summarize_review(con, month.period))
    if problems:
        raise HistoryError(f"{db.path.name}: approved charges of {month.period} failed their schema: "
                           f"{'; '.join(problems)}")
    symbol = settings.currency.symbol
    statement_events, warnings = outputs.write_statements(con, month, currency=settings.currency.code,
                                                          symbol=symbol, now=now)
    events += statement_events
    events += outputs.write_deliveries(con, month, database=db.path.name, now=now)
    events += outputs.write_journal_exports(con, month, now=now)
    events += _write_period(con, db, month, now)
    try:
        require_reconciled(con, month.period, "importing its history", symbol)
    except MonthNotReconciledError as exc:
        raise HistoryError(str(exc)) from None
    _write_audit(con, month.period, events, now)
    figures = reconcile(con, month.period)
    outcome = MonthOutcome(
        month.period, "imported", f"{month.status} in OpenChargeback; finalized here", figures.imported_rows,
        figures.imported_billed, figures.approved_billed, figures.pending_billed, figures.rejected_billed,
        len(decisions), len(month.statements), len(month.emails), len(month.journal_exports), warnings)
    wh.record_audit(con, actor=ACTOR, action="history_import", period=month.period, subject=db.path.name, details={
        "database": str(db.path.resolve()), "digest": month.digest, "schema_version": db.schema_version,
        "imported_at": now.isoformat(sep=" "), "imported_by": wh.current_actor(), "openchargeback_status": month.status,
        "charges": outcome.charges, "billed_total": outcome.billed_total, "approved_total": outcome.approved_total,
        "pending_total": outcome.pending_total, "rejected_total": outcome.rejected_total,
        "decisions": outcome.decisions, "statements": outcome.statements, "emails": outcome.emails,
        "journal_exports": outcome.journal_exports, "warnings": warnings})
    return outcome


def _write_decisions(con: duckdb.DuckDBPyConnection, month: OcbMonth,
                     decisions: list[dict[str, Any]]) -> list[tuple]:
    if not decisions:
        return []
    _register(con, "history_decisions", decisions, DECISION_SCHEMA)
    rows = con.execute(
        """INSERT INTO review_decisions (billing_month, charge_id, row_hash, decision, note, actor, decided_at, via,
               origin, billed_cost, review_reasons)
           SELECT v.billing_month, v.charge_id, v.row_hash, d.decision, d.note, d.actor, d.decided_at, 'openchargeback',
               d.origin, v.billed_cost, v.review_reasons
           FROM history_decisions d JOIN charges_validated v ON v.billing_month = ? AND v.file_name = d.file_name
               AND v.file_row_number = d.file_row_number
           ORDER BY d.decided_at, d.file_row_number
           RETURNING decision_id, charge_id, decision, actor, decided_at, note, origin, billed_cost, review_reasons""",
        [month.period],
    ).fetchall()
    con.unregister("history_decisions")
    if len(rows) != len(decisions):
        raise HistoryError(f"{len(decisions) - len(rows)} review decision(s) of {month.period} found no charge")
    return [(at, f"review_{decision}", charge_id, {"decision_id": decision_id, "by": actor, "note": note,
                                                   "via": "openchargeback", "origin": origin, "billed_cost": billed,
                                                   "reasons": list(reasons or [])})
            for decision_id, charge_id, decision, actor, at, note, origin, billed, reasons in rows]


def _write_period(con: duckdb.DuckDBPyConnection, db: OcbDatabase, month: OcbMonth, now: datetime) -> list[tuple]:
    """The month's row, finalized, with OpenChargeback's who and when; its status changes as audit events."""
    r = month.row
    events: list[tuple] = [(r["opened_at"], "period_open", month.period, {"from": None, "to": "open"})]
    if r["closed_at"]:
        events.append((r["closed_at"], "period_close", month.period,
                       {"from": "open", "to": "closed", "by": r["closed_by"]}))
    if r["reopened_at"]:
        events.append((r["reopened_at"], "period_reopen", month.period,
                       {"from": "closed", "to": "open", "by": r["reopened_by"], "reason": r["reopen_reason"]}))
    finalized = month.status == "finalized"
    if finalized:
        events.append((r["finalized_at"], "period_finalize", month.period,
                       {"from": "closed", "to": "finalized", "by": r["finalized_by"]}))
    else:
        events.append((now, "period_finalize", month.period, {"from": "closed", "to": "finalized",
                       "by": wh.current_actor(), "reason": "closed in OpenChargeback; finalized on import"}))
    line = (f"[{now:%Y-%m-%d %H:%M} {ACTOR} imported] from {db.path.name}: {month.status} in OpenChargeback"
            + ("" if finalized else f", finalized on import by {wh.current_actor()}"))
    notes = "\n".join(n for n in ((r["notes"] or "").strip(), line) if n)
    con.execute(
        "INSERT INTO billing_periods (period, status, opened_at, opened_by, closed_at, closed_by, finalized_at, "
        "finalized_by, reopened_at, reopened_by, reopen_reason, notes) VALUES (?, 'finalized', ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?)",
        [month.period, r["opened_at"] or now, ACTOR, r["closed_at"] or r["finalized_at"] or now,
         r["closed_by"] or ACTOR,
         (r["finalized_at"] or now) if finalized else now, (r["finalized_by"] or ACTOR) if finalized else ACTOR,
         r["reopened_at"], r["reopened_by"], r["reopen_reason"], notes],
    )
    return events


def _write_audit(con: duckdb.DuckDBPyConnection, period: str, events: list[tuple], now: datetime) -> None:
    """The history's events, actor `openchargeback`, in the order they happened (event ids follow it)."""
    ordered = sorted(events, key=lambda e: e[0] or now)
    rows = [{"seq": i, "occurred_at": at or now, "action": action, "subject": None if subject is None else str(subject),
             "details": outputs.details_json({k: v for k, v in details.items() if v is not None})}
            for i, (at, action, subject, details) in enumerate(ordered)]
    if not rows:
        return
    _register(con, "history_audit", rows, AUDIT_SCHEMA)
    con.execute("INSERT INTO audit_events (occurred_at, actor, action, period, run_id, subject, details) "
                "SELECT occurred_at, ?, action, ?, NULL, subject, CAST(details AS JSON) FROM history_audit "
                "ORDER BY seq",
                [ACTOR, period])
    con.unregister("history_audit")
