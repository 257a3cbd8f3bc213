"""Where each PI's email of a month stands after a send (no Dagster): what `ocb send` reports and exits by.

A send is only done when every PI in scope has the month's current content delivered. An attempt that may
or may not have arrived (uncertain), one the server refused (failed) and one never made (not sent: an
invalid address, a run that stopped) all leave the month undelivered: `ocb send` then exits non-zero with
`ok: false`, so a cron job notices, and says what to do for each.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import duckdb

from ocb_pipelines.delivery import log
from ocb_pipelines.delivery.email import content_key
from ocb_pipelines.statements.generate import ensure_tables, month_statement_rows

STATES = ("delivered", "uncertain", "failed", "not_sent")


def month_outcome(con: duckdb.DuckDBPyConnection, month: str, transport: str,
                  pis: Iterable[str] = ()) -> list[dict[str, Any]]:
    """One row per PI of the month's recorded statements (only `pis` when given): the state of the latest
    attempt at the current content over `transport`, with its Message-ID and error."""
    ensure_tables(con)
    log.ensure_tables(con)
    wanted = {p.strip().lower() for p in pis if p.strip()}
    by_pi: dict[str, list[str]] = {}
    for row in month_statement_rows(con, month):
        by_pi.setdefault(row["pi_email"], []).append(row["content_sha256"])
    out = []
    for pi, hashes in sorted(by_pi.items()):
        if wanted and pi.lower() not in wanted:
            continue
        key = content_key(month, pi, hashes)
        tries = [a for a in log.attempts(con, month, pi) if a["content_key"] == key and a["transport"] == transport]
        last = tries[-1] if tries else None
        state = ("not_sent" if last is None else "delivered" if last["status"] in log.DONE
                 else "uncertain" if last["status"] in log.UNCERTAIN else "failed")
        out.append({"pi_email": pi, "state": state, "status": last["status"] if last else None,
                    "attempt": last["attempt"] if last else None, "message_id": last["message_id"] if last else None,
                    "error": last["error"] if last else None})
    return out


def counts(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    totals = dict.fromkeys(STATES, 0)
    for r in rows:
        totals[r["state"]] += 1
    return totals


def next_steps(month: str, rows: Iterable[dict[str, Any]]) -> list[str]:
    """What the operator does about each PI not delivered, one line each."""
    steps = []
    for r in rows:
        if r["state"] == "uncertain":
            steps.append(f"{r['pi_email']}: attempt {r['attempt']} ({r['message_id']}) may have arrived; look for it "
                         f"in the mail server's log. There: `ocb deliveries confirm -p {month} --message-id "
                         f"'{r['message_id']}' --reason '...'`. Not there: `ocb resend -p {month} --pi "
                         f"{r['pi_email']} --reason '...'`")
        elif r["state"] == "failed":
            steps.append(f"{r['pi_email']}: failed ({r['error'] or 'refused'}); fix the cause, then "
                         f"`ocb send -p {month}` retries it")
        elif r["state"] == "not_sent":
            steps.append(f"{r['pi_email']}: not sent (see the error above); fix the cause, then `ocb send -p {month}`")
    return steps
