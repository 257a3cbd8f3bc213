"""Reading OpenChargeback's SQLite database (its billing.db), read-only, with Python's own sqlite3 (no Dagster).

The schema is OpenChargeback's `src/openchargeback/db/tables.py` (schema_version 10 in its 0.4.x releases). A
column that an older database lacks is read as NULL; the tables and columns every month needs (billing_periods,
sources, charges) must be there, or the database is refused before anything is imported.

Money. OpenChargeback stores amounts as SQLite REAL, binary floating point. Each one is read back through the
shortest decimal text that gives the same float (Python's repr: 0.1 -> 0.1, 1062.5 -> 1062.5) and rounded half to
even to 12 decimal places, the scale of the warehouse's DECIMAL(38, 12). Every digit a person or an exporter
wrote survives, and the noise of a float sum (0.30000000000000004) becomes 0.3. Integers and decimal text are read
exactly. NaN, infinity, text that is no number and amounts of 10^26 or more are refused, naming the table, row id,
column and value.

Times. OpenChargeback wrote most times with `datetime.now()` (its server's local time, no zone) and a few through
SQLite's CURRENT_TIMESTAMP default, which is UTC (UTC_COLUMNS). Local ones are read in the zone given (UTC unless
told); every time is kept as UTC, like every time in the warehouse.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ocb_pipelines.core.billing_month import is_month_key

SCALE = Decimal("1e-12")
LIMIT = Decimal(10) ** 26  # DECIMAL(38, 12) holds 26 whole digits
WIDE = Context(prec=80)  # quantizing 26 whole digits to 12 places needs more than the default 28
NO_PROJECT = "(no project)"  # what OpenChargeback's statements call a project-less charge's project

TABLES: dict[str, tuple[str, ...]] = {
    "billing_periods": ("id", "period", "status", "opened_at", "closed_at", "closed_by", "finalized_at",
                        "finalized_by", "reopened_at", "reopened_by", "reopen_reason", "notes"),
    "sources": ("id", "name", "display_name", "source_type"),
    "charges": ("id", "billing_period_id", "source_id", "charge_period_start", "charge_period_end", "list_cost",
                "contracted_cost", "billed_cost", "effective_cost", "resource_id", "resource_name", "service_name",
                "pi_email", "project_id", "fund_org", "reference_1", "reference_2", "raw_tags", "needs_review",
                "review_reason", "reviewed_at", "reviewed_by", "imported_at", "rejected_at", "rejected_by",
                "rejection_note"),
    "statements": ("id", "billing_period_id", "pi_email", "project_id", "fund_org", "total_cost", "generated_at",
                   "sent_at", "pdf_path"),
    "email_logs": ("id", "statement_id", "recipient", "subject", "sent_at", "sent_by", "status", "error_message"),
    "journal_exports": ("id", "billing_period_id", "format", "include_flagged", "row_count", "total_cost",
                        "exported_at", "exported_by", "filename"),
    "review_logs": ("id", "billing_period_id", "charge_id", "action", "pi_email", "resource_id", "service_name",
                    "amount", "note", "performed_at", "performed_by"),
    "imports": ("id", "filename", "source_id", "billing_period_id", "row_count", "total_cost", "flagged_rows",
                "flagged_cost", "imported_at"),
}  # fmt: skip
REQUIRED = {"billing_periods": ("id", "period", "status"), "sources": ("id", "name"),
            "charges": ("id", "billing_period_id", "source_id", "billed_cost", "pi_email")}
MONEY_COLUMNS = {"list_cost", "contracted_cost", "billed_cost", "effective_cost", "total_cost", "amount",
                 "flagged_cost"}
TYPED = {t: tuple(c for c in cols if c in MONEY_COLUMNS or c.endswith("_at")) for t, cols in TABLES.items()}
# Written by SQLite's CURRENT_TIMESTAMP (UTC), not by OpenChargeback's datetime.now() (local time).
UTC_COLUMNS = {("charges", "imported_at"), ("imports", "imported_at"), ("journal_exports", "exported_at"),
               ("review_logs", "performed_at")}


class HistoryError(ValueError):
    """The database cannot be read as OpenChargeback's; the message names the file, table, row and value."""


def _where(where: str, problem: str) -> str:
    return f"{where}: {problem}" if where else problem


def to_money(value: Any, where: str = "") -> Decimal | None:
    """An amount as stored by OpenChargeback, exact to 12 places (see the module doc for the rule)."""
    if value is None:
        return None
    amount: Decimal | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        amount = Decimal(value)
    elif isinstance(value, float) and math.isfinite(value):
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            amount = None
    if amount is None or not amount.is_finite():
        raise HistoryError(_where(where, f"value {value!r} is not an amount"))
    amount = amount.quantize(SCALE, rounding=ROUND_HALF_EVEN, context=WIDE)
    if abs(amount) >= LIMIT:
        raise HistoryError(_where(where, f"value {value!r} has more than 26 whole digits"))
    return amount if amount else Decimal(0).quantize(SCALE)  # no -0


def to_time(value: Any, where: str = "", zone: tzinfo = UTC) -> datetime | None:
    """A stored time as naive UTC; `zone` is the zone it was written in."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        moment = datetime.fromisoformat(str(value).strip()) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise HistoryError(_where(where, f"value {value!r} is not a date and time"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC).replace(tzinfo=None)


def is_true(value: Any) -> bool:
    """SQLAlchemy's Boolean on SQLite: 0/1 (text from a hand-made row too)."""
    return str(value).strip().lower() in ("1", "true", "t", "yes")


@dataclass
class OcbMonth:
    """One billing period of the database, its rows converted (money Decimal, times naive UTC)."""

    period: str
    row: dict[str, Any]
    charges: list[dict[str, Any]]
    statements: list[dict[str, Any]]
    emails: list[dict[str, Any]]
    journal_exports: list[dict[str, Any]]
    review_logs: list[dict[str, Any]]
    imports: list[dict[str, Any]]
    digest: str  # sha256 of the month's rows as stored: a changed month is told from an unchanged one

    @property
    def status(self) -> str:
        return str(self.row["status"])


class OcbDatabase:
    """An open, read-only billing.db (`mode=ro` URI and `query_only`: nothing can be written to it)."""

    def __init__(self, path: str | Path, zone: tzinfo = UTC):
        self.path = Path(path)
        self.zone = zone
        if not self.path.is_file():
            raise HistoryError(f"{self.path}: file not found")
        self.con = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            self._load()
        except BaseException:
            self.con.close()
            raise

    def _load(self) -> None:
        try:
            self.con.execute("PRAGMA query_only = ON")
            self.columns = {t: self._table_columns(t) for t in TABLES}
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"{self.path}: not a SQLite database ({exc})") from None
        problems = [f"no table {table}" if not self.columns[table] else f"{table} lacks {', '.join(lacking)}"
                    for table, needed in REQUIRED.items()
                    if (lacking := [c for c in needed if c not in self.columns[table]])]
        if problems:
            raise HistoryError(f"{self.path}: not OpenChargeback's database ({'; '.join(problems)})")
        self.schema_version = self._schema_version()
        self.sources = {r["id"]: r for r in self._rows("sources")}
        self.periods = sorted(self._rows("billing_periods"), key=lambda r: str(r["period"]))
        for p in self.periods:
            if not is_month_key(str(p["period"])):
                raise HistoryError(f"{self.path}: billing_periods id {p['id']}, column period, value {p['period']!r}: "
                                   "not a billing month (YYYY-MM)")
        self.emails_by_period, self.unplaced_emails = self._place_emails()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> OcbDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _table_columns(self, table: str) -> set[str]:
        return {r[1] for r in self.con.execute(f"PRAGMA table_info({table})").fetchall()}

    def _schema_version(self) -> int | None:
        if not self._table_columns("schema_version"):
            return None
        row = self.con.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def _raw(self, table: str, where: str = "", params: tuple = ()) -> list[tuple]:
        present = self.columns[table]
        if not present:
            return []
        picked = ", ".join(c if c in present else f"NULL AS {c}" for c in TABLES[table])
        return self.con.execute(f"SELECT {picked} FROM {table} {where} ORDER BY id", params).fetchall()

    def _convert(self, table: str, raw: tuple) -> dict[str, Any]:
        row = dict(zip(TABLES[table], raw, strict=True))
        for column in TYPED[table]:
            value = row[column]
            if value is None:
                continue
            try:
                row[column] = (to_money(value) if column in MONEY_COLUMNS else
                               to_time(value, zone=UTC if (table, column) in UTC_COLUMNS else self.zone))
            except HistoryError as exc:  # the place is worked out only for a bad value: a 100k-row month is 1.3M
                raise HistoryError(f"{self.path.name}: {table} id {row['id']}, column {column}: {exc}") from None
        return row

    def _rows(self, table: str, where: str = "", params: tuple = ()) -> list[dict[str, Any]]:
        return [self._convert(table, r) for r in self._raw(table, where, params)]

    def _place_emails(self) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
        """Each email log row's month: its statement's (when that statement is the recipient's: OpenChargeback
        logged the PI's first statement id, stale after a regeneration), else the one month in its subject for
        which the recipient had statements. Rows that fit neither are returned apart."""
        months = {p["id"]: str(p["period"]) for p in self.periods}
        statements = {s["id"]: s for s in self._rows("statements")}
        pis: dict[str, set[str]] = {}
        for s in statements.values():
            pis.setdefault(months.get(s["billing_period_id"], ""), set()).add(str(s["pi_email"]).strip().lower())
        placed: dict[str, list[dict[str, Any]]] = {}
        unplaced = []
        for email in self._rows("email_logs"):
            recipient = str(email["recipient"]).strip().lower()
            statement = statements.get(email["statement_id"])
            month = None
            if statement and str(statement["pi_email"]).strip().lower() == recipient:
                month = months.get(statement["billing_period_id"])
            else:
                named = {m for m in re.findall(r"\d{4}-\d{2}", email["subject"] or "") if recipient in pis.get(m, ())}
                month = named.pop() if len(named) == 1 else None
            (placed.setdefault(month, []) if month else unplaced).append(email)
        return placed, unplaced

    def month(self, period: dict[str, Any]) -> OcbMonth:
        """Every row of one billing period (a billing_periods row of `periods`)."""
        key = (period["id"],)
        raw = {t: self._raw(t, "WHERE billing_period_id = ?", key)
               for t in ("charges", "statements", "journal_exports", "review_logs", "imports")}
        emails = self.emails_by_period.get(str(period["period"]), [])
        digest = hashlib.sha256(json.dumps(
            {"period": self._raw("billing_periods", "WHERE id = ?", key), **raw,
             "email_logs": [list(e.values()) for e in emails]}, sort_keys=True, default=str).encode()).hexdigest()
        rows = {t: [self._convert(t, r) for r in rs] for t, rs in raw.items()}
        return OcbMonth(str(period["period"]), period, rows["charges"], rows["statements"], emails,
                        rows["journal_exports"], rows["review_logs"], rows["imports"], digest)
