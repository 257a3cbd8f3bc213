"""The rule of statement_deliveries' check: no statement email sent twice without a resend (no Dagster).

The delivery log's own rule (delivery/log.py) is checked on what the log recorded: an attempt that may have
reached its recipient (sent, written, or uncertain: sending, unknown) and was not an explicit resend is a double
send when an earlier attempt of the same content, to the same recipient, by the same transport had already
reached them (sent or written), or may have (an uncertain SMTP attempt; an uncertain outbox attempt without its
file was never written, so writing it again is allowed).
"""

from __future__ import annotations

import duckdb

from ocb_pipelines.core.checks import CULPRITS_SHOWN, CheckOutcome
from ocb_pipelines.delivery.log import DONE, UNCERTAIN

_REACHED = ", ".join(f"'{s}'" for s in (*DONE, *UNCERTAIN))
_DONE = ", ".join(f"'{s}'" for s in DONE)
_UNCERTAIN = ", ".join(f"'{s}'" for s in UNCERTAIN)

DOUBLE_SQL = f"""
SELECT a.delivery_id, a.recipient, a.pi_email, a.attempt, a.status, a.message_id, a.started_at, a.requested_by,
       b.delivery_id AS earlier_id, b.status AS earlier_status, b.message_id AS earlier_message_id
FROM delivery_log a JOIN delivery_log b
  ON b.billing_month = a.billing_month AND b.recipient = a.recipient AND b.content_key = a.content_key
 AND b.transport = a.transport AND b.delivery_id < a.delivery_id
WHERE a.billing_month = $month AND NOT a.resend AND a.status IN ({_REACHED})
  AND (b.status IN ({_DONE}) OR (b.status IN ({_UNCERTAIN}) AND b.transport = 'smtp'))
QUALIFY row_number() OVER (PARTITION BY a.delivery_id ORDER BY b.delivery_id) = 1
ORDER BY a.delivery_id
"""


def double_sends(con: duckdb.DuckDBPyConnection, month: str) -> CheckOutcome:
    """No attempt of the month repeats a delivered (or possibly delivered) email without a resend."""
    logged, sent = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE status IN ({_DONE})) FROM delivery_log WHERE billing_month = ?",
        [month]).fetchall()[0]
    count = con.execute(f"SELECT count(*) FROM ({DOUBLE_SQL})", {"month": month}).fetchall()[0][0]
    figures = {"attempts": logged, "delivered": sent, "double_sends": count}
    if not count:
        return CheckOutcome(True, f"{month}: {logged:,} attempt(s) logged, {sent:,} delivered, none sent twice "
                                  "without a resend", figures)
    rows = con.execute(f"{DOUBLE_SQL} LIMIT {CULPRITS_SHOWN}", {"month": month}).fetchall()
    culprits = [{"delivery": d, "to": to, "attempt": n, "status": st, "message_id": m, "at": f"{t:%Y-%m-%d %H:%M}",
                 "by": by, "earlier delivery": e, "earlier status": es, "earlier message_id": em}
                for d, to, _pi, n, st, m, t, by, e, es, em in rows]
    return CheckOutcome(
        False,
        f"{month}: {count:,} email(s) went to a recipient that already had (or may have had) the same statements, "
        f"without a resend; the PI got them twice. See `ocb deliveries list -p {month}`, and compare the Message-IDs "
        "with the mail server's log",
        figures, culprits, culprit_count=count)
