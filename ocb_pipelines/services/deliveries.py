"""Sending statements and the delivery log: the commands and queries the CLI, Dagster and the desk share.

A send changes `statement_deliveries`' data, so it runs as a Dagster run (`send_job`) tagged with the actor; what
it did is then read back from `delivery_log`. A dry run is a query: it decides what would be sent and records,
materialises and sends nothing. Confirming an uncertain email is a log change with its audit record (no asset
data: the next send reads the log).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ocb_pipelines.delivery import log
from ocb_pipelines.delivery.deliver import deliver_month
from ocb_pipelines.delivery.email import DeliveryError
from ocb_pipelines.delivery.outcome import counts, month_outcome
from ocb_pipelines.services.context import AppContext, RunOutcome
from ocb_pipelines.statements.generate import ensure_tables, month_statement_rows

SEND_JOB = "send_job"
ATTEMPT_FIELDS = ("recipient", "subject", "status", "message_id", "attempt", "resend", "error", "destination",
                  "started_at", "finished_at")
LOG_FIELDS = ("recipient", "subject", "status", "message_id", "attempt", "transport", "resend", "error", "started_at",
              "finished_at", "confirmed_by", "confirmed_reason")


@dataclass(frozen=True)
class SendReport:
    """Where a send left the month: its run, the attempts it made, and every PI in scope (all PIs of the month,
    or the resent ones). `ok` only when the run succeeded and every PI in scope has the month's email."""

    month: str
    run: RunOutcome
    emails: list[dict[str, Any]] = field(default_factory=list)
    states: list[dict[str, Any]] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        return counts(self.states)

    @property
    def not_delivered(self) -> list[dict[str, Any]]:
        return [r for r in self.states if r["state"] != "delivered"]

    @property
    def ok(self) -> bool:
        return self.run.success and not self.not_delivered


def run_attempts(ctx: AppContext, month: str, run_id: str) -> list[dict[str, Any]]:
    """The email attempts one run made (oldest first), as the CLI and the desk show them."""
    with ctx.connection() as con:
        log.ensure_tables(con)
        rows = log.month_log(con, month, run_id=run_id)
    return [{k: r[k] for k in ATTEMPT_FIELDS} for r in rows]


def pi_states(ctx: AppContext, month: str, pis: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Where each PI's email of the month stands over the configured transport (none before statements exist)."""
    with ctx.connection() as con:
        ensure_tables(con)
        if not month_statement_rows(con, month):
            return []
        return month_outcome(con, month, "outbox" if ctx.settings.dev_mode else "smtp", pis)


def send_report(ctx: AppContext, month: str, run: RunOutcome, pis: Sequence[str] = ()) -> SendReport:
    """What a finished send run did and where every PI in scope stands after it."""
    return SendReport(month, run, run_attempts(ctx, month, run.run_id), pi_states(ctx, month, pis))


def send_statements(ctx: AppContext, month: str, *, resend: Sequence[str] = (),
                    reason: str = "requested by operator") -> SendReport:
    """Email the month's statements not sent yet (and retry failed ones) as a tagged `send_job` run; with
    `resend`, send those PIs' email again on purpose, the reason kept in the log: a resend without a reason is
    refused here (DeliveryError), before any run starts."""
    if resend and not reason.strip():
        raise DeliveryError(f"a resend needs a note saying why the email of {month} is sent again; nothing was sent")
    config = ({"ops": {"statement_deliveries": {"config": {"resend": list(resend), "resend_reason": reason}}}}
              if resend else None)
    return send_report(ctx, month, ctx.job(SEND_JOB, month, config), resend)


def preview_send(ctx: AppContext, month: str, *, resend: Sequence[str] = (),
                 reason: str | None = None) -> list[dict[str, Any]]:
    """What a send would do for each PI (`would_send`, `already_sent`, `uncertain`, `invalid`), deciding exactly
    as a send does; no run, no materialisation, no delivery-log row, no email. Raises DeliveryError when the
    month cannot be sent (not closed, no statements or out of date)."""
    with ctx.connection() as con:
        return deliver_month(con, ctx.settings, month, resend_pis=resend, resend_reason=reason, dry_run=True,
                             actor=ctx.actor).items


def list_deliveries(ctx: AppContext, month: str, status: str | None = None) -> list[dict[str, Any]]:
    """Every email attempt of the month, oldest first; `status` keeps one status (`uncertain`: sending or
    unknown)."""
    if status is not None and status not in log.STATUS_FILTERS:
        raise ValueError(f"unknown delivery status {status!r}; one of {', '.join(log.STATUS_FILTERS)}")
    with ctx.connection() as con:
        log.ensure_tables(con)
        rows = log.month_log(con, month)
    wanted = log.UNCERTAIN if status == "uncertain" else (status,) if status else None
    return [{k: r[k] for k in LOG_FIELDS} for r in rows if wanted is None or r["status"] in wanted]


def confirm_delivery(ctx: AppContext, month: str, message_id: str, reason: str) -> dict[str, Any]:
    """Mark an uncertain email as delivered (the mail server's log shows it arrived), as this context's actor,
    so later sends skip it. Raises log.DeliveryLogError when refused; nothing is changed then."""
    with ctx.connection() as con:
        log.ensure_tables(con)
        done = log.confirm_delivered(con, month, message_id, actor=ctx.actor, reason=reason)
    return {k: done[k] for k in (*LOG_FIELDS, "was")}


__all__ = ["DeliveryError", "SendReport", "confirm_delivery", "list_deliveries", "pi_states", "preview_send",
           "run_attempts", "send_report", "send_statements"]
