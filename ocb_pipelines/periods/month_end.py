"""The unattended month end (no Dagster): after the month's import, close it when nothing is left to review.

The monthly schedule imports the month just ended; this decides what happens next. A month is closed by
the actor "schedule" only when the import refused no file and no charge is pending review; otherwise it is
left open and the reason is recorded as an audit event, so `ocb audit -p MONTH` (and the sensor's tick
in the UI) says why the month end stopped and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from ocb_pipelines.core.money import format_money
from ocb_pipelines.periods import lifecycle as lc
from ocb_pipelines.review.decisions import pending_count
from ocb_pipelines.warehouse import database as wh

SCHEDULE_ACTOR = "schedule"


@dataclass(frozen=True)
class MonthEndStep:
    """What the month end does next: `produce` statements and the journal, or `stop` (with why)."""

    month: str
    action: str  # "produce" or "stop"
    reason: str
    closed_now: bool = False

    @property
    def produce(self) -> bool:
        return self.action == "produce"


def month_just_ended(moment: datetime) -> str:
    """The billing month before the one `moment` falls in (YYYY-MM)."""
    year, month = (moment.year, moment.month - 1) if moment.month > 1 else (moment.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def cron_for(day_of_month: int, hour: int) -> str:
    """The cron expression of the month-end schedule (minute 0 of `hour` on `day_of_month`)."""
    if not (1 <= day_of_month <= 28 and 0 <= hour <= 23):
        raise ValueError(f"day_of_month must be 1-28 and hour 0-23, got {day_of_month} and {hour}")
    return f"0 {hour} {day_of_month} * *"


def _refused_files(con: duckdb.DuckDBPyConnection, month: str, run_id: str) -> list[str]:
    rows = con.execute(
        "SELECT DISTINCT subject FROM audit_events WHERE action = 'import_refused' AND period = ? AND run_id = ? "
        "ORDER BY subject",
        [month, run_id],
    ).fetchall()
    return [r[0] for r in rows]


def _stop(con: duckdb.DuckDBPyConnection, month: str, run_id: str, reason: str) -> MonthEndStep:
    wh.record_audit(con, actor=SCHEDULE_ACTOR, action="month_end_stopped", period=month, run_id=run_id,
                    subject=month, details={"reason": reason})
    return MonthEndStep(month, "stop", reason)


def decide_month_end(con: duckdb.DuckDBPyConnection, month: str, import_run_id: str,
                     currency_symbol: str = "$") -> MonthEndStep:
    """After the import run `import_run_id` of `month`: close the month if it is ready, else say why not.

    open, every file imported, nothing pending -> closed now by "schedule", produce the outputs
    closed (by a person, or an earlier month end) -> produce the outputs (rendering and export are idempotent)
    anything else -> stop, with the reason recorded as a `month_end_stopped` audit event
    """
    lc.check_period_key(month)
    period = lc.get_period(con, month)
    if period is None:
        return MonthEndStep(month, "stop", f"nothing was imported for {month}: the inbox has no file with rows in it")
    if period.status == "finalized":
        return _stop(con, month, import_run_id, f"{month} is already finalized; nothing to do")
    refused = _refused_files(con, month, import_run_id)
    if refused:
        return _stop(con, month, import_run_id,
                     f"{len(refused)} file(s) of {month} were refused by the import ({', '.join(refused)}); fix or "
                     f"remove them in the inbox, then run the month end again")
    charges = con.execute("SELECT count(*) FROM charges_validated WHERE billing_month = ?", [month]).fetchall()[0][0]
    if not charges:
        return _stop(con, month, import_run_id,
                     f"{month} has no charges (no inbox file has rows in it); nothing to close")
    if period.status == "closed":
        return MonthEndStep(month, "produce", f"{month} was already closed; producing statements and the journal")
    pending, money = pending_count(con, month)
    if pending:
        return _stop(con, month, import_run_id,
                     f"{pending} charge(s) ({format_money(money, currency_symbol)}) of {month} are pending review; "
                     f"decide them (`ocb review list -p {month}`; in the Dagster UI the queue is in review_decisions' "
                     f"metadata for {month}), then close the month (`ocb periods close {month}`)")
    try:
        _, figures = lc.close_reconciled(con, month, SCHEDULE_ACTOR, currency_symbol=currency_symbol,
                                         notes=f"closed by the month-end schedule after import run {import_run_id}")
    except lc.PeriodTransitionError as exc:  # e.g. rows imported since the run and not validated: never closed
        return _stop(con, month, import_run_id, str(exc))
    reason = f"{month} closed: nothing pending review; {figures.describe(currency_symbol)}"
    return MonthEndStep(month, "produce", reason, closed_now=True)
