"""Billing-period lifecycle, enforced at the data layer (no Dagster): open -> closed -> finalized.

    open      imports, validation and review decisions allowed (core.warehouse.ensure_period_open)
    closed    nothing may change; statements are generated from the approved charges
    finalized terminal: never changes again

Transitions: open -> closed (nothing pending review, no provisional FOCUS 1.4 rows unless allowed with a
reason), closed -> open (reopen, a reason is required),
closed -> finalized (see `finalize_preconditions`). Anything else is refused with a one-line
PeriodTransitionError. Every change records who and when in billing_periods and an audit event, and
notes are appended (timestamped, with the actor), never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from ocb_pipelines.core.billing_month import BillingMonthError, month_key
from ocb_pipelines.core.money import format_money
from ocb_pipelines.ingest.invoice_check import InvoiceCheck, invoice_checks, invoice_differences, provisional_rows
from ocb_pipelines.periods.reconcile import MonthNotReconciledError, Reconciliation, require_reconciled
from ocb_pipelines.review.decisions import pending_count
from ocb_pipelines.warehouse import database as wh

TRANSITIONS = {("open", "closed"): "close", ("closed", "open"): "reopen", ("closed", "finalized"): "finalize"}


class PeriodTransitionError(ValueError):
    """A status change was refused; the message is one line that says why and what to do."""


@dataclass(frozen=True)
class Period:
    period: str
    status: str
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None
    closed_by: str | None
    finalized_at: datetime | None
    finalized_by: str | None
    reopened_at: datetime | None
    reopened_by: str | None
    reopen_reason: str | None
    notes: str | None

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat(sep=" ") if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


_COLUMNS = ", ".join(Period.__dataclass_fields__)


def check_period_key(period: str) -> str:
    """The `YYYY-MM` key of `period` (core.billing_month's rule), or a PeriodTransitionError naming the value."""
    try:
        return month_key(period)
    except BillingMonthError as exc:
        raise PeriodTransitionError(str(exc)) from None


def get_period(con: duckdb.DuckDBPyConnection, period: str) -> Period | None:
    rows = con.execute(f"SELECT {_COLUMNS} FROM billing_periods WHERE period = ?", [period]).fetchall()
    return Period(*rows[0]) if rows else None


def list_periods(con: duckdb.DuckDBPyConnection) -> list[Period]:
    return [Period(*r) for r in con.execute(f"SELECT {_COLUMNS} FROM billing_periods ORDER BY period").fetchall()]


def _append_note(con: duckdb.DuckDBPyConnection, period: str, actor: str, what: str, text: str | None) -> None:
    """Notes accumulate: one line per change that came with a note (OpenChargeback wiped them)."""
    if not (text or "").strip():
        return
    line = f"[{wh.now_utc():%Y-%m-%d %H:%M} {actor} {what}] {text.strip()}"
    con.execute(
        "UPDATE billing_periods SET notes = CASE WHEN coalesce(notes, '') = '' THEN ? ELSE notes || chr(10) || ? END "
        "WHERE period = ?",
        [line, line, period],
    )


def _require(con: duckdb.DuckDBPyConnection, period: str) -> Period:
    found = get_period(con, check_period_key(period))
    if found is None:
        raise PeriodTransitionError(
            f"billing month {period} does not exist yet; import its data or run `ocb periods open {period}`"
        )
    return found


def _refuse(period: Period, target: str) -> PeriodTransitionError:
    if period.status == target:
        return PeriodTransitionError(f"billing month {period.period} is already {target}")
    if period.status == "finalized":
        return PeriodTransitionError(
            f"billing month {period.period} is finalized and can never change; book corrections in the next open month"
        )
    if (period.status, target) == ("open", "finalized"):
        return PeriodTransitionError(
            f"billing month {period.period} is open; close it first (`ocb periods close {period.period}`), "
            "then generate statements, then finalize"
        )
    return PeriodTransitionError(f"billing month {period.period} cannot go from {period.status} to {target}")


def _audit(con, period: str, actor: str, action: str, before: str | None, after: str, **details: Any) -> None:
    wh.record_audit(con, actor=actor, action=action, period=period, subject=period,
                    details={"from": before, "to": after, **{k: v for k, v in details.items() if v}})


def open_period(con: duckdb.DuckDBPyConnection, period: str, actor: str, notes: str | None = None) -> Period:
    """Create a billing month as open. An existing open month just gets the note; a closed one needs
    `reopen` (with a reason), a finalized one never opens again."""
    check_period_key(period)
    with wh.transaction(con):
        existing = get_period(con, period)
        if existing is None:
            con.execute("INSERT INTO billing_periods (period, status, opened_at, opened_by) VALUES (?, 'open', ?, ?)",
                        [period, wh.now_utc(), actor])
            _append_note(con, period, actor, "opened", notes)
            _audit(con, period, actor, "period_open", None, "open", notes=notes)
        elif existing.status == "open":
            if not (notes or "").strip():
                raise PeriodTransitionError(f"billing month {period} is already open")
            _append_note(con, period, actor, "note", notes)
            _audit(con, period, actor, "period_note", "open", "open", notes=notes)
        elif existing.status == "closed":
            raise PeriodTransitionError(
                f"billing month {period} is closed; reopen it with `ocb periods reopen {period} --reason \"...\"`"
            )
        else:
            raise _refuse(existing, "open")
    return get_period(con, period)  # type: ignore[return-value]


def close_period(con: duckdb.DuckDBPyConnection, period: str, actor: str, notes: str | None = None,
                 currency_symbol: str = "$", *, provisional_reason: str | None = None,
                 invoice_reason: str | None = None) -> Period:
    """open -> closed, only when the month reconciles and no charge is pending review (see `close_reconciled`)."""
    return close_reconciled(con, period, actor, notes, currency_symbol, provisional_reason=provisional_reason,
                            invoice_reason=invoice_reason)[0]


def close_reconciled(con: duckdb.DuckDBPyConnection, period: str, actor: str, notes: str | None = None,
                     currency_symbol: str = "$", *, provisional_reason: str | None = None,
                     invoice_reason: str | None = None) -> tuple[Period, Reconciliation]:
    """open -> closed, with the reconciliation it was closed on. Checked in the closing transaction: every raw
    row of the month validated and imported = approved + pending + rejected to the cent (periods/reconcile.py),
    then no charge pending review (flagged or stale and undecided), then no provisional row (FOCUS 1.4
    BillingPeriodStatus Open: the provider may still change it) unless `provisional_reason` says why the month
    closes anyway, then every imported invoice (FOCUS 1.4 InvoiceDetail) equal to our charges of its InvoiceId to
    the cent (a difference is money a missing or wrong file leaves unbilled, or billed twice) unless
    `invoice_reason` says why. Reasons are kept in the notes and the audit. Every close (CLI, desk, month end)
    passes here."""
    with wh.transaction(con):
        existing = _require(con, period)
        if existing.status != "open":
            raise _refuse(existing, "closed")
        figures = _reconciled(con, period, "closing it", currency_symbol)
        pending, money = pending_count(con, period)
        if pending:
            raise PeriodTransitionError(
                f"billing month {period} has {pending} charge(s) ({format_money(money, currency_symbol)}) pending "
                f"review; decide them first (`ocb review list -p {period}`)"
            )
        provisional = provisional_rows(con, period)
        reason = (provisional_reason or "").strip()
        if provisional.rows and not reason:
            raise PeriodTransitionError(
                f"billing month {period} has {provisional.rows:,} provisional row(s) "
                f"({format_money(provisional.billed, currency_symbol)}) whose BillingPeriodStatus is Open: the "
                f"provider may still change them. Import the provider's final file (BillingPeriodStatus Closed) under "
                f"the same file name to replace them, or close anyway with `ocb periods close {period} "
                f"--allow-provisional --reason \"...\"`"
            )
        differences = invoice_differences(invoice_checks(con, period))
        invoice_why = (invoice_reason or "").strip()
        if differences and not invoice_why:
            raise PeriodTransitionError(
                f"billing month {period}: {describe_invoice_differences(differences, currency_symbol)}. A cost file "
                f"may be missing or wrong: import it, or close anyway with `ocb periods close {period} "
                f"--allow-invoice-difference --reason \"...\"`"
            )
        con.execute("UPDATE billing_periods SET status = 'closed', closed_at = ?, closed_by = ? WHERE period = ?",
                    [wh.now_utc(), actor, period])
        _append_note(con, period, actor, "closed", notes)
        allowed = None
        if provisional.rows:
            allowed = {**provisional.as_dict(), "reason": reason}
            _append_note(con, period, actor, "closed with provisional rows",
                         f"{provisional.rows:,} provisional row(s) "
                         f"({format_money(provisional.billed, currency_symbol)}): {reason}")
        differing = None
        if differences:
            differing = {"invoices": [c.as_dict() for c in differences], "reason": invoice_why}
            _append_note(con, period, actor, "closed with invoice differences",
                         f"{describe_invoice_differences(differences, currency_symbol)}: {invoice_why}")
        _audit(con, period, actor, "period_close", "open", "closed", notes=notes, reconciliation=figures.as_dict(),
               provisional=allowed, invoice_differences=differing)
    return get_period(con, period), figures  # type: ignore[return-value]


def describe_invoice_differences(differences: list[InvoiceCheck], symbol: str = "$", shown: int = 5) -> str:
    """`2 invoice(s) differ from our charges of the same InvoiceId: INV-A (invoice $15.00, ours $15.01, difference
    $0.01), ...`: the first `shown` of them."""
    def one(c: InvoiceCheck) -> str:
        invoice = "no invoice" if c.invoice_total is None else f"invoice {format_money(c.invoice_total, symbol)}"
        return (f"{c.invoice_id} ({invoice}, ours {format_money(c.our_total, symbol)}, difference "
                f"{format_money(c.difference, symbol)})")
    more = f" and {len(differences) - shown} more" if len(differences) > shown else ""
    return (f"{len(differences)} invoice(s) differ from our charges of the same InvoiceId: "
            f"{', '.join(one(c) for c in differences[:shown])}{more}")


def _reconciled(con: duckdb.DuckDBPyConnection, period: str, action: str, symbol: str = "$") -> Reconciliation:
    try:
        return require_reconciled(con, period, action, symbol)
    except MonthNotReconciledError as exc:
        raise PeriodTransitionError(str(exc)) from None


def reopen_period(con: duckdb.DuckDBPyConnection, period: str, actor: str, reason: str | None) -> Period:
    """closed -> open, with a mandatory reason (kept in reopen_reason, the notes and the audit)."""
    if not (reason or "").strip():
        raise PeriodTransitionError(f"reopening {period} needs a reason: --reason \"why\"")
    with wh.transaction(con):
        existing = _require(con, period)
        if existing.status != "closed":
            raise _refuse(existing, "open")
        con.execute(
            "UPDATE billing_periods SET status = 'open', reopened_at = ?, reopened_by = ?, reopen_reason = ? "
            "WHERE period = ?",
            [wh.now_utc(), actor, reason.strip(), period],  # type: ignore[union-attr]
        )
        _append_note(con, period, actor, "reopened", reason)
        _audit(con, period, actor, "period_reopen", "closed", "open", reason=reason.strip())  # type: ignore[union-attr]
    return get_period(con, period)  # type: ignore[return-value]


def finalize_preconditions(con: duckdb.DuckDBPyConnection, period: str) -> list[str]:
    """Why `period` cannot be finalized yet (empty list: it can).

    1. Nothing pending review (re-checked: a closed month cannot gain pending charges through this
       package, but the check is cheap and the rule is the rule).
    2. Statements generated: at least one row of the month in the `statements` table (the warehouse creates
       it with every domain's schema; the statements domain fills it). Read as data, so this package does not
       import the statements domain, which sits above it.
    """
    problems: list[str] = []
    pending, _money = pending_count(con, period)
    if pending:
        problems.append(f"{pending} charge(s) still pending review")
    if not con.execute("SELECT count(*) FROM statements WHERE billing_month = ?", [period]).fetchall()[0][0]:
        problems.append(f"generate statements first: no statements exist for {period} yet")
    return problems


def finalize_period(con: duckdb.DuckDBPyConnection, period: str, actor: str, notes: str | None = None) -> Period:
    """closed -> finalized (terminal), when `finalize_preconditions` finds nothing in the way."""
    with wh.transaction(con):
        existing = _require(con, period)
        if existing.status != "closed":
            raise _refuse(existing, "finalized")
        _reconciled(con, period, "finalizing it")
        problems = finalize_preconditions(con, period)
        if problems:
            raise PeriodTransitionError(f"billing month {period} cannot be finalized: {'; '.join(problems)}")
        con.execute(
            "UPDATE billing_periods SET status = 'finalized', finalized_at = ?, finalized_by = ? WHERE period = ?",
            [wh.now_utc(), actor, period],
        )
        _append_note(con, period, actor, "finalized", notes)
        _audit(con, period, actor, "period_finalize", "closed", "finalized", notes=notes)
    return get_period(con, period)  # type: ignore[return-value]


def require_decisions_allowed(con: duckdb.DuckDBPyConnection, period: str) -> None:
    """Raise PeriodLockedError (which says what to do) unless review decisions may be made for the month."""
    status = wh.period_status(con, period)
    if status in ("closed", "finalized"):
        wh.ensure_period_open(con, period, "check", action="recording review decisions")
