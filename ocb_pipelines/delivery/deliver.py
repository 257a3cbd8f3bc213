"""Deliver a month's statements: one email per PI, logged, never twice unless asked (no Dagster).

Preconditions: the month is closed or finalized; its statements exist and are current (their content
hashes still match the approved charges, templates and configuration: otherwise "run ocb generate");
every attached file still has the sha256 recorded when it was generated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.delivery import log
from ocb_pipelines.delivery.email import (
    DeliveryError,
    EmailPlan,
    OutboxTransport,
    SendFailed,
    SmtpTransport,
    build_message,
    check_bodies,
    message_id_for,
    plan_emails,
    transport_for,
    wire_bytes,
)
from ocb_pipelines.periods.lifecycle import check_period_key, get_period
from ocb_pipelines.statements.generate import Renderer, current_statements, ensure_tables, month_statement_rows
from ocb_pipelines.warehouse import database as wh


@dataclass
class DeliveryResult:
    month: str
    transport: str
    dry_run: bool = False
    items: list[dict[str, Any]] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i["status"] == status)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Every email not delivered: refused, invalid, interrupted now (unknown) or earlier (uncertain)."""
        return [i for i in self.items if i["status"] in ("failed", "unknown", "invalid", "uncertain")]

    def summary(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in self.items:
            out[i["status"]] = out.get(i["status"], 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.month, "transport": self.transport, "dry_run": self.dry_run,
                "summary": self.summary(), "emails": self.items}


def check_statements_current(con: duckdb.DuckDBPyConnection, settings: OcbSettings, month: str,
                             rows: Sequence[dict[str, Any]]) -> None:
    current = {(s.pi_email, s.project_id): s.content_sha256
               for s in current_statements(con, month, Renderer.from_settings(settings))}
    recorded = {(r["pi_email"], r["project_id"]): r["content_sha256"] for r in rows}
    if current != recorded:
        raise DeliveryError(
            f"the statements of {month} are out of date (the approved charges, a template or the configuration "
            f"changed since they were generated); generate them again first (`ocb generate -p {month}`, or "
            f"materialise statements for {month} in the Dagster UI)"
        )


def delivery_plans(con: duckdb.DuckDBPyConnection, settings: OcbSettings, month: str) -> list[EmailPlan]:
    check_period_key(month)
    ensure_tables(con)
    log.ensure_tables(con)
    period = get_period(con, month)
    if period is None or period.status not in ("closed", "finalized"):
        status = "missing" if period is None else period.status
        raise DeliveryError(f"billing month {month} is {status}; statements are sent for closed months only")
    rows = month_statement_rows(con, month)
    if not rows:
        raise DeliveryError(f"no statements for {month} yet; generate them first (`ocb generate -p {month}`, or "
                            f"materialise statements for {month} in the Dagster UI)")
    if any(str(r["content_sha256"]).startswith("openchargeback:") for r in rows):  # history/outputs.py
        raise DeliveryError(f"the statements of {month} came from OpenChargeback (`ocb import-history`) and were sent "
                            f"there (`ocb deliveries list -p {month}` shows its email log); they are not sent again")
    if period.status != "finalized":
        # A finalized month never changes and is never rendered again: its statements as generated are the record,
        # so a template, configuration or upgrade changed since does not stop them being sent (a resend, a PI's
        # lost email). A closed month can be generated again, so it must be first.
        check_statements_current(con, settings, month, rows)
    return plan_emails(settings, month, rows)


def deliver_month(
    con: duckdb.DuckDBPyConnection,
    settings: OcbSettings,
    month: str,
    *,
    resend_pis: Sequence[str] = (),
    resend_reason: str | None = None,
    dry_run: bool = False,
    actor: str | None = None,
    run_id: str | None = None,
    transport: OutboxTransport | SmtpTransport | None = None,
    on_event: Any = None,
) -> DeliveryResult:
    """Send (or, with dry_run, only decide) every PI's email for the month.

    With `resend_pis`, only those PIs are handled and they are sent again whatever the log says.
    """
    actor = actor or wh.current_actor()
    transport = transport or transport_for(settings)
    plans = delivery_plans(con, settings, month)
    wanted = {p.strip().lower() for p in resend_pis if p.strip()}
    if wanted:
        known = {p.pi_email.lower() for p in plans}
        unknown = sorted(wanted - known)
        if unknown:
            raise DeliveryError(f"no statements in {month} for {', '.join(unknown)}; nothing was sent")
        if not (resend_reason or "").strip():
            raise DeliveryError("a resend needs a reason (--reason)")
        plans = [p for p in plans if p.pi_email.lower() in wanted]
    check_bodies(plans, settings)  # a refused template stops here, before the transport connects
    result = DeliveryResult(month, transport.name, dry_run)
    from_address = settings.email.from_address  # type: ignore[union-attr]
    try:
        for plan in plans:
            item = _deliver_one(con, settings, plan, transport, resend=bool(wanted), resend_reason=resend_reason,
                                dry_run=dry_run, actor=actor, run_id=run_id, from_address=from_address)
            result.items.append(item)
            if on_event:
                on_event(item)
    finally:
        transport.close()
    if not dry_run:
        with wh.transaction(con):
            wh.record_audit(con, actor=actor, action="statements_resend" if wanted else "statements_send",
                            period=month, run_id=run_id, subject=month,
                            details={"transport": transport.name, **result.summary(),
                                     "resend": sorted(wanted), "reason": resend_reason})
    return result


def _deliver_one(con, settings, plan: EmailPlan, transport, *, resend: bool, resend_reason: str | None,
                 dry_run: bool, actor: str, run_id: str | None, from_address: str) -> dict[str, Any]:
    previous = log.attempts(con, plan.billing_month, plan.recipient)
    action, attempt, deciding = log.decide(
        previous, plan.content_key, transport.name, resend=resend,
        delivered=lambda row: transport.delivered(plan, row["attempt"]),
    )
    item: dict[str, Any] = {
        "pi_email": plan.pi_email, "to": plan.recipient, "subject": plan.subject,
        "projects": [s["project_id"] for s in plan.statements], "billed_total": plan.billed_total,
        "attachments": [a.as_dict() for a in plan.attachments], "attempt": attempt, "resend": resend,
    }  # fmt: skip
    if action == "skip_sent":
        item.update(status="already_sent", message_id=deciding["message_id"],  # type: ignore[index]
                    note=f"sent at {deciding['finished_at'] or deciding['started_at']}")  # type: ignore[index]
        return item
    if action == "skip_uncertain":
        item.update(status="uncertain", message_id=deciding["message_id"],  # type: ignore[index]
                    note=(f"attempt {deciding['attempt']} may have been delivered (status {deciding['status']}); "  # type: ignore[index]
                          f"not sent again. Check the mail server log for {deciding['message_id']}: if it is there, "  # type: ignore[index]
                          f"`ocb deliveries confirm -p {plan.billing_month} --message-id {deciding['message_id']} "  # type: ignore[index]
                          f"--reason ...`; if not, `ocb resend --pi {plan.pi_email} -p {plan.billing_month} "
                          f"--reason ...`."))
        return item
    if action == "confirm":
        if not dry_run:
            log.record_outcome(con, deciding["delivery_id"], "written",  # type: ignore[index]
                               destination=str(transport.path_for(plan, deciding["attempt"])))  # type: ignore[index]
        item.update(status="already_sent", message_id=deciding["message_id"],  # type: ignore[index]
                    note="found in the outbox")
        return item
    message_id = message_id_for(plan, attempt, from_address)
    item["message_id"] = message_id
    try:
        msg = build_message(plan, settings, message_id=message_id, date=datetime.now(UTC))
    except DeliveryError as exc:
        item.update(status="invalid", error=str(exc))
        return item
    if dry_run:
        item.update(status="would_send", bytes=len(wire_bytes(msg)))
        return item
    delivery_id = log.record_intent(
        con, month=plan.billing_month, pi_email=plan.pi_email, recipient=plan.recipient,
        content_key=plan.content_key, attempt=attempt, message_id=message_id, subject=plan.subject,
        attachments=item["attachments"], statement_count=len(plan.statements), transport=transport.name,
        resend=resend, resend_reason=resend_reason, actor=actor, run_id=run_id,
    )
    try:
        destination = transport.send(msg, plan, attempt)
    except SendFailed as exc:
        status = "failed" if exc.certain else "unknown"
        log.record_outcome(con, delivery_id, status, error=str(exc))
        item.update(status=status, error=str(exc), delivery_id=delivery_id)
        return item
    status = "written" if transport.name == "outbox" else "sent"
    log.record_outcome(con, delivery_id, status, destination=destination)
    item.update(status=status, destination=destination, delivery_id=delivery_id)
    return item
