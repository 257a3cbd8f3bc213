"""The delivery log and the rule that nothing is emailed twice (no Dagster).

Every attempt is one row of `delivery_log` (to, subject, attachments with their sha256, times,
result, error, Message-ID, who and which run). The rule, per (month, recipient, content key, transport):

1. An intent row with status `sending` and a deterministic Message-ID is COMMITTED before the message
   is handed to the SMTP server (or written to the outbox). The outcome (`sent`, `written`, `failed`,
   `unknown`) is recorded after.
2. A later run sends only when no earlier attempt for the same content may have reached the PI:
   `sent`/`written` -> skipped; `sending` (a crash between handing over and logging) or `unknown` (the
   connection broke after the data was handed over) -> skipped as *uncertain* and reported, because it may
   have been delivered; only `failed` (the server said no, or could not be reached) is retried.
   For the outbox, an uncertain attempt is resolved by looking for its .eml file (written atomically).
3. `resend` (an explicit request, with the actor recorded) sends again whatever the log says.

Trade-off: a crash in the window between the commit of the intent and the SMTP hand-over leaves a
`sending` row for a message that was never sent; that PI then gets nothing until an operator resends.
We accept a possible (visible, reported) miss over a possible double send. The Message-ID is the same
for the same content and attempt, so mail logs can tell which it was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import duckdb

from ocb_pipelines.warehouse import database as wh
from ocb_pipelines.warehouse.schema import delivery as delivery_schema
from ocb_pipelines.warehouse.schema import ensure_domain
from ocb_pipelines.warehouse.schema.delivery import CONFIRMATION_COLUMNS

DONE = ("sent", "written")
UNCERTAIN = ("sending", "unknown")
STATUS_FILTERS = (*UNCERTAIN, "uncertain", *DONE, "failed")  # what a listing may keep (uncertain: sending or unknown)

# delivery_log is created and upgraded by the warehouse (warehouse/schema/delivery.py) with every other
# domain's table; CONFIRMATION_COLUMNS are the ones added after the first release.

LOG_COLUMNS = (
    "delivery_id", "billing_month", "pi_email", "recipient", "content_key", "attempt", "message_id", "subject",
    "attachments", "statement_count", "transport", "status", "resend", "resend_reason", "error", "destination",
    "requested_by", "run_id", "started_at", "finished_at", *CONFIRMATION_COLUMNS,
)  # fmt: skip


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The delivery log and its added columns, for a connection that may predate them."""
    ensure_domain(con, delivery_schema)


class DeliveryLogError(ValueError):
    """A change to the delivery log was refused; nothing was changed."""


def confirm_delivered(con: duckdb.DuckDBPyConnection, month: str, message_id: str, *, actor: str,
                      reason: str) -> dict[str, Any]:
    """Record that an uncertain attempt did reach its recipient (the operator found its Message-ID in the mail
    server's log): it becomes `sent` (or `written`), so later sends skip it instead of reporting it forever.

    Only an uncertain attempt can be confirmed: a failed one was refused by the server, and a sent one needs no
    confirmation. The audit trail keeps who, when, why and the status it had."""
    if not (reason or "").strip():
        raise DeliveryLogError("say why you know it was delivered (--reason), e.g. the mail server log line")
    found = [a for a in month_log(con, month) if a["message_id"] == message_id.strip()]
    if not found:
        raise DeliveryLogError(f"no delivery with Message-ID {message_id.strip()} in {month}; "
                               f"`ocb deliveries list -p {month}` shows them")
    attempt = found[-1]
    if attempt["status"] not in UNCERTAIN:
        raise DeliveryLogError(
            f"the delivery {attempt['message_id']} to {attempt['recipient']} is {attempt['status']!r}, not uncertain: "
            "only an interrupted send can be confirmed" + ("; `ocb send` retries failed ones"
                                                             if attempt["status"] == "failed" else ""))
    done = "written" if attempt["transport"] == "outbox" else "sent"
    now = wh.now_utc()
    with wh.transaction(con):
        con.execute(
            "UPDATE delivery_log SET status = ?, finished_at = coalesce(finished_at, ?), confirmed_by = ?, "
            "confirmed_at = ?, confirmed_reason = ? WHERE delivery_id = ?",
            [done, now, actor, now, reason.strip(), attempt["delivery_id"]],
        )
        wh.record_audit(con, actor=actor, action="delivery_confirmed", period=month, subject=attempt["recipient"],
                        details={"message_id": attempt["message_id"], "delivery_id": attempt["delivery_id"],
                                 "was": attempt["status"], "now": done, "reason": reason.strip()})
    return {**attempt, "status": done, "was": attempt["status"], "confirmed_by": actor, "confirmed_at": now,
            "confirmed_reason": reason.strip()}


def attempts(con: duckdb.DuckDBPyConnection, month: str, recipient: str) -> list[dict[str, Any]]:
    """Every logged attempt to one recipient in one month, oldest first."""
    rows = con.execute(
        f"SELECT {', '.join(LOG_COLUMNS)} FROM delivery_log WHERE billing_month = ? AND recipient = ? "
        "ORDER BY delivery_id",
        [month, recipient],
    ).fetchall()
    return [dict(zip(LOG_COLUMNS, r, strict=True)) for r in rows]


def month_log(con: duckdb.DuckDBPyConnection, month: str, run_id: str | None = None) -> list[dict[str, Any]]:
    sql = f"SELECT {', '.join(LOG_COLUMNS)} FROM delivery_log WHERE billing_month = ?"
    params: list[Any] = [month]
    if run_id:
        sql += " AND run_id = ?"
        params.append(run_id)
    rows = con.execute(sql + " ORDER BY delivery_id", params).fetchall()
    return [dict(zip(LOG_COLUMNS, r, strict=True)) for r in rows]


def record_intent(
    con: duckdb.DuckDBPyConnection,
    *,
    month: str,
    pi_email: str,
    recipient: str,
    content_key: str,
    attempt: int,
    message_id: str,
    subject: str,
    attachments: Sequence[dict[str, Any]],
    statement_count: int,
    transport: str,
    resend: bool,
    resend_reason: str | None,
    actor: str,
    run_id: str | None,
) -> int:
    """Insert a `sending` row and COMMIT it before anything leaves the machine."""
    with wh.transaction(con):
        delivery_id = con.execute(
            "INSERT INTO delivery_log (billing_month, pi_email, recipient, content_key, attempt, message_id, subject, "
            "attachments, statement_count, transport, status, resend, resend_reason, requested_by, run_id, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'sending', ?, ?, ?, ?, ?) RETURNING delivery_id",
            [month, pi_email, recipient, content_key, attempt, message_id, subject, json.dumps(list(attachments)),
             statement_count, transport, resend, resend_reason, actor, run_id, wh.now_utc()],
        ).fetchall()[0][0]
    return int(delivery_id)


def record_outcome(con: duckdb.DuckDBPyConnection, delivery_id: int, status: str, *, error: str | None = None,
                   destination: str | None = None) -> None:
    with wh.transaction(con):
        con.execute(
            "UPDATE delivery_log SET status = ?, error = ?, destination = ?, finished_at = ? WHERE delivery_id = ?",
            [status, error, destination, wh.now_utc(), delivery_id],
        )


def decide(previous: Sequence[dict[str, Any]], content_key: str, transport: str, *, resend: bool,
           delivered: Any = None) -> tuple[str, int, dict[str, Any] | None]:
    """(action, next attempt number, the attempt that decided it) for one PI's email.

    action: `send`, `skip_sent` (already delivered), `skip_uncertain` (may have been delivered; needs resend),
    or `confirm` (an uncertain outbox attempt whose file exists: mark it written, do not write again).
    `delivered(attempt_row) -> bool` lets a transport resolve an uncertain attempt.
    """
    same = [p for p in previous if p["content_key"] == content_key and p["transport"] == transport]
    next_attempt = max((p["attempt"] for p in same), default=0) + 1
    if resend:
        return "send", next_attempt, None
    done = [p for p in same if p["status"] in DONE]
    if done:
        return "skip_sent", next_attempt, done[-1]
    uncertain = [p for p in same if p["status"] in UNCERTAIN]
    if uncertain:
        last = uncertain[-1]
        if delivered is not None and delivered(last):
            return "confirm", next_attempt, last
        if transport == "outbox":
            return "send", next_attempt, None  # atomic file write: no file means not written
        return "skip_uncertain", next_attempt, last
    return "send", next_attempt, None
