"""Review decisions: an append-only record of approve / reject / correct, and the review state it gives.

Plain functions over a DuckDB connection (no Dagster): the CLI, the review-sheet sensor's runs and the
`review_decisions` asset all record decisions through `record_decisions`.

Keying. A decision is keyed on `charge_id` (stable when the same data is imported again, see
charges/attribution.py) and stores the charge's `row_hash` at decision time. The latest decision of a
charge is its effective one. When the charge's current row_hash differs from the one decided on, the
data changed after the decision: the decision is *stale*, it is not applied, and the charge is back in
the queue with the reason `stale_decision` (the state says which decision and by whom).

Statuses of a charge in a month:
  unflagged  no review reason and no decision: billed as imported
  pending    flagged (or stale decision) and not decided: held back, reported
  approved   approved as imported
  corrected  approved with a new pi_email / project_id / fund_org
  rejected   not billed
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

from ocb_pipelines.charges.attribution import EMAIL_RE
from ocb_pipelines.core import patterns
from ocb_pipelines.core.money import exact_text
from ocb_pipelines.warehouse import database as wh

DECISIONS = ("approve", "reject", "correct")
STATUSES = ("unflagged", "pending", "approved", "corrected", "rejected")
STALE_REASON = "stale_decision"
CORRECTABLE = ("pi_email", "project_id", "fund_org")
_ALIASES = {
    "approve": "approve", "approved": "approve", "ok": "approve",
    "reject": "reject", "rejected": "reject",
    "correct": "correct", "corrected": "correct", "correction": "correct",
}  # fmt: skip


class DecisionError(ValueError):
    """Decisions were refused; nothing was recorded. `problems` has one line per problem."""

    def __init__(self, problems: Sequence[str], header: str = "review decisions refused; nothing was recorded"):
        self.problems = list(problems)
        super().__init__(header + ":\n  - " + "\n  - ".join(self.problems))


@dataclass(frozen=True)
class Decision:
    """One decision on one charge. `row_hash` pins the data the reviewer saw (sheets); default: current."""

    charge_id: str
    decision: str
    note: str
    pi_email: str | None = None
    project_id: str | None = None
    fund_org: str | None = None
    row_hash: str | None = None
    origin: str | None = None

    def corrections(self) -> dict[str, str]:
        return {k: v for k in CORRECTABLE if (v := clean_value(k, getattr(self, k)))}


def normalize_decision(text: str | None) -> str | None:
    """'Approve', 'approved', 'REJECT' ... -> approve / reject / correct; None if not a decision word."""
    return _ALIASES.get((text or "").strip().lower())


def clean_value(field: str, value: Any) -> str | None:
    """Corrections as the validation maps tags: trimmed, PI lower-cased, empty means not given."""
    if value is None:
        return None
    text = str(value).strip()
    if field == "pi_email":
        text = text.lower()
    return text or None


# ------------------------------------------------------------------------------------------------
# The review state of a month
# ------------------------------------------------------------------------------------------------

STATE_SQL = f"""
WITH latest AS (
    SELECT * EXCLUDE (rn) FROM (
        SELECT d.*, row_number() OVER (PARTITION BY charge_id ORDER BY decision_id DESC) AS rn
        FROM review_decisions d WHERE billing_month = $month
    ) WHERE rn = 1
),
decided AS (
    -- The current row_hash of decided charges only (an md5 of the raw row each), not of every charge.
    SELECT v.charge_id, {wh.RAW_ROW_HASH} AS row_hash
    FROM validated_lines v SEMI JOIN latest l ON l.charge_id = v.charge_id {wh.RAW_ROW_JOIN}
    WHERE v.billing_month = $month
),
joined AS (
    SELECT v.*,
        l.decision_id, l.decision, l.actor AS decided_by, l.decided_at, l.note AS decision_note, l.via AS decided_via,
        l.pi_email AS new_pi_email, l.project_id AS new_project_id, l.fund_org AS new_fund_org,
        l.row_hash AS decided_row_hash,
        -- a charge whose raw row was replaced since it was validated has no row_hash: its decision is stale
        l.row_hash IS NOT NULL AND l.row_hash IS DISTINCT FROM d.row_hash AS stale
    FROM charges_validated v LEFT JOIN latest l ON l.charge_id = v.charge_id
        LEFT JOIN decided d ON d.charge_id = v.charge_id
    WHERE v.billing_month = $month
)
SELECT *,
    CASE
        WHEN decision_id IS NULL THEN CASE WHEN needs_review THEN 'pending' ELSE 'unflagged' END
        WHEN stale THEN 'pending'
        WHEN decision = 'approve' THEN 'approved'
        WHEN decision = 'reject' THEN 'rejected'
        ELSE 'corrected'
    END AS review_status,
    CASE WHEN stale THEN list_append(review_reasons, '{STALE_REASON}') ELSE review_reasons END AS queue_reasons
FROM joined
"""


def state_relation_sql(where: str = "TRUE") -> str:
    """The month's state (parameter `$month`) filtered by a SQL condition over its columns."""
    return f"SELECT * FROM ({STATE_SQL}) s WHERE {where}"


def _filters(
    ids: Sequence[str] = (), source: str | None = None, reason: str | None = None, pi: str | None = None,
    statuses: Sequence[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    where, params = ["TRUE"], {}
    if ids:
        where.append("list_contains($ids, charge_id)")
        params["ids"] = list(ids)
    if source:
        where.append("lower(source) = lower($source)")
        params["source"] = source
    if reason:
        where.append("len(list_filter(queue_reasons, lambda x: x = $reason OR starts_with(x, $reason || ':'))) > 0")
        params["reason"] = reason.strip()
    if pi:
        where.append("lower(coalesce(new_pi_email, pi_email, '')) = lower(trim($pi))")
        params["pi"] = pi
    if statuses:
        where.append("list_contains($statuses, review_status)")
        params["statuses"] = list(statuses)
    return " AND ".join(where), params


STATE_COLUMNS = (
    "charge_id", "row_hash", "billing_month", "source", "file_name", "file_row_number", "service_name",
    "resource_id", "pi_email", "project_id", "fund_org", "billed_cost", "list_cost", "billing_currency",
    "review_reasons", "queue_reasons", "review_status", "decision_id", "decision", "decided_by", "decided_at",
    "decision_note", "decided_via", "new_pi_email", "new_project_id", "new_fund_org", "stale", "decided_row_hash",
)  # fmt: skip


def charge_states(
    con: duckdb.DuckDBPyConnection,
    month: str,
    *,
    ids: Sequence[str] = (),
    source: str | None = None,
    reason: str | None = None,
    pi: str | None = None,
    statuses: Sequence[str] | None = ("pending",),
    stale_only: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Charges of the month with their review status (default: the queue), largest money first."""
    where, params = _filters(ids, source, reason, pi, statuses)
    if stale_only:
        where += " AND stale"
    chosen = (
        f"SELECT {', '.join(c for c in STATE_COLUMNS if c != 'row_hash')} FROM ({state_relation_sql(where)}) "
        f"ORDER BY billed_cost DESC, charge_id" + (f" LIMIT {int(limit)}" if limit else "")
    )
    # The row_hash of the chosen charges only: an md5 of each one's raw row, not of every charge of the month.
    picked = ", ".join(f"s.{c}" if c != "row_hash" else f"{wh.RAW_ROW_HASH} AS row_hash" for c in STATE_COLUMNS)
    sql = (
        f"SELECT {picked} FROM ({chosen}) s "
        "JOIN validated_lines v ON v.billing_month = s.billing_month AND v.charge_id = s.charge_id "
        f"{wh.RAW_ROW_JOIN} ORDER BY s.billed_cost DESC, s.charge_id"
    )
    cursor = con.execute(sql, {"month": month, **params})
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def stale_explanation(state: dict[str, Any]) -> str:
    """Which decision went stale and why, in words."""
    return (
        f"decision #{state['decision_id']} ({state['decision']} by {state['decided_by']} at "
        f"{state['decided_at']:%Y-%m-%d %H:%M}) was made on different data (row_hash "
        f"{str(state['decided_row_hash'])[:12]}, now {str(state['row_hash'])[:12]}); decide again"
    )


@dataclass
class ReviewSummary:
    """Counts and money by status, the queue by reason and by source, stale and orphaned decisions."""

    month: str
    by_status: dict[str, tuple[int, Decimal]]
    pending_by_reason: list[dict[str, Any]]
    by_source: list[dict[str, Any]]
    stale: list[dict[str, Any]]
    orphaned_decisions: int
    decisions: int

    def rows(self, status: str) -> int:
        return self.by_status.get(status, (0, Decimal(0)))[0]

    def billed(self, status: str) -> Decimal:
        return self.by_status.get(status, (0, Decimal(0)))[1]

    @property
    def validated_billed(self) -> Decimal:
        return sum((b for _, b in self.by_status.values()), Decimal(0))

    @property
    def included_billed(self) -> Decimal:
        return self.billed("unflagged") + self.billed("approved") + self.billed("corrected")


def summarize_review(con: duckdb.DuckDBPyConnection, month: str) -> ReviewSummary:
    params = {"month": month}
    by_status = {
        s: (n, b) for s, n, b in con.execute(
            f"SELECT review_status, count(*), coalesce(sum(billed_cost), 0) FROM ({STATE_SQL}) GROUP BY 1", params
        ).fetchall()
    }  # fmt: skip
    by_reason = [
        {"reason": r, "rows": n, "billed": b}
        for r, n, b in con.execute(
            f"""SELECT reason, count(*), sum(billed_cost) FROM (
                    SELECT unnest(queue_reasons) AS reason, billed_cost FROM ({STATE_SQL})
                    WHERE review_status = 'pending')
                GROUP BY reason ORDER BY count(*) DESC, reason""",
            params,
        ).fetchall()
    ]
    by_source = [
        {"source": s, **{f"{st}_rows": 0 for st in STATUSES}, **{f"{st}_billed": Decimal(0) for st in STATUSES}}
        for (s,) in con.execute(f"SELECT DISTINCT source FROM ({STATE_SQL}) ORDER BY 1", params).fetchall()
    ]
    index = {row["source"]: row for row in by_source}
    for s, st, n, b in con.execute(
        f"SELECT source, review_status, count(*), sum(billed_cost) FROM ({STATE_SQL}) GROUP BY 1, 2", params
    ).fetchall():
        index[s][f"{st}_rows"] = n
        index[s][f"{st}_billed"] = b
    stale = charge_states(con, month, statuses=None, stale_only=True)  # not every charge of the month into Python
    orphaned, total = con.execute(
        """SELECT count(DISTINCT d.charge_id) FILTER (WHERE v.charge_id IS NULL), count(*)
           FROM review_decisions d LEFT JOIN charges_validated v
             ON v.charge_id = d.charge_id AND v.billing_month = d.billing_month
           WHERE d.billing_month = ?""",
        [month],
    ).fetchall()[0]
    return ReviewSummary(month, by_status, by_reason, by_source, stale, orphaned, total)


def pending_count(con: duckdb.DuckDBPyConnection, month: str) -> tuple[int, Decimal]:
    """Charges still waiting for a decision (flagged or stale), and their billed money."""
    return tuple(con.execute(
        f"SELECT count(*), coalesce(sum(billed_cost), 0) FROM ({STATE_SQL}) WHERE review_status = 'pending'",
        {"month": month},
    ).fetchall()[0])  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------------
# Choosing charges and recording decisions
# ------------------------------------------------------------------------------------------------


def select_charge_ids(
    con: duckdb.DuckDBPyConnection,
    month: str,
    *,
    ids: Sequence[str] = (),
    source: str | None = None,
    reason: str | None = None,
    pi: str | None = None,
    everything: bool = False,
) -> list[str]:
    """The charges a bulk decision applies to.

    `--id` names charges directly (any charge of the month, e.g. to reject an unflagged one or to
    change one's mind); filters and `--all` take the charges still pending review. A call with no
    selector is refused, so a slip of the keyboard never approves a whole month.
    """
    if not (ids or source or reason or pi or everything):
        raise DecisionError(["say which charges: --id ID, --source, --reason, --pi, or --all for the whole queue"],
                            header="no charges selected")
    statuses = None if ids else ("pending",)
    where, params = _filters(ids, source, reason, pi, statuses)
    found = [r[0] for r in con.execute(
        f"SELECT charge_id FROM ({state_relation_sql(where)}) ORDER BY charge_id", {"month": month, **params}
    ).fetchall()]  # fmt: skip
    missing = sorted(set(ids) - set(found))
    if missing:
        raise DecisionError([f"charge {c}: no such charge in billing month {month}" for c in missing])
    return found


def current_attribution(
    con: duckdb.DuckDBPyConnection, month: str, decisions: Sequence[Decision]
) -> dict[str, tuple[Any, Any, Any, Any]]:
    """Each decided charge's row_hash, pi_email, project_id and fund_org as validated now (absent: no such charge)."""
    return {
        c: (h, pi, p, f)
        for c, h, pi, p, f in con.execute(
            "SELECT charge_id, row_hash, pi_email, project_id, fund_org FROM charges_validated "
            "WHERE billing_month = ? AND list_contains(?, charge_id)",
            [month, sorted({d.charge_id for d in decisions})],
        ).fetchall()
    }


def check_decisions(
    con: duckdb.DuckDBPyConnection,
    month: str,
    decisions: Sequence[Decision],
    *,
    fund_org_patterns: Sequence[str] = (),
) -> list[str]:
    """Every problem with a batch of decisions (empty when all can be recorded)."""
    problems: list[str] = []
    current = current_attribution(con, month, decisions)
    seen: set[str] = set()
    for d in decisions:
        where = f"{d.origin}: " if d.origin else ""
        label = f"{where}charge {d.charge_id}"
        if d.charge_id in seen:
            problems.append(f"{label}: decided twice in the same batch")
        seen.add(d.charge_id)
        if d.decision not in DECISIONS:
            problems.append(f"{label}: unknown decision {d.decision!r} (use approve, reject or correct)")
            continue
        if not (d.note or "").strip():
            problems.append(f"{label}: a note is required for every decision (--note \"why\")")
        if d.charge_id not in current:
            problems.append(f"{label}: no such charge in billing month {month}")
            continue
        row_hash, *original = current[d.charge_id]
        if row_hash is None:
            problems.append(f"{label}: its imported row was replaced since the month was validated; validate "
                            f"{month} again (`ocb ingest` does) and decide on the new data")
            continue
        if d.row_hash is not None and d.row_hash != row_hash:
            problems.append(f"{label}: the charge changed since it was shown to the reviewer; look at it again")
        fixes = d.corrections()
        if d.decision != "correct":
            if fixes:
                problems.append(f"{label}: new pi_email/project_id/fund_org given with {d.decision!r}; use correct")
            missing = [f for f, v in zip(CORRECTABLE, original, strict=True) if not v]
            if d.decision == "approve" and missing:
                # Billed as is, it could reach no statement and no journal line: say so now, not at month end.
                problems.append(
                    f"{label}: cannot be approved as is, it has no {' / '.join(missing)}; "
                    f"correct it (`ocb review correct --id {d.charge_id} ...`) or reject it"
                )
            continue
        if not fixes:
            problems.append(f"{label}: a correction needs a new pi_email, project_id or fund_org")
            continue
        merged = dict(zip(CORRECTABLE, original, strict=True)) | fixes
        for field, value in merged.items():
            if not value:
                problems.append(f"{label}: after the correction {field} is still empty; give it too")
        pi = merged["pi_email"]
        if pi and not patterns.full_match(EMAIL_RE, pi):
            problems.append(f"{label}: pi_email {pi!r} is not an email address")
        fund = merged["fund_org"]
        if fund and fund_org_patterns and not any(
                patterns.full_match(p, fund, ignore_case=True) for p in fund_org_patterns):
            problems.append(f"{label}: fund_org {fund!r} does not match review.fund_org_patterns")
    return problems


_BATCH_SCHEMA = pa.schema([("seq", pa.int64()), ("charge_id", pa.string()), ("row_hash", pa.string()),
                           ("decision", pa.string()), ("note", pa.string()), ("origin", pa.string()),
                           *((f, pa.string()) for f in CORRECTABLE)])
_AUDIT_SCHEMA = pa.schema([("seq", pa.int64()), ("action", pa.string()), ("subject", pa.string()),
                           ("details", pa.string())])


def _audit_json(value: Any) -> str:
    """Amounts as exact plain text in the audit details (as warehouse.record_audit writes them)."""
    return exact_text(value) if isinstance(value, Decimal) else str(value)


def insert_decisions(
    con: duckdb.DuckDBPyConnection,
    month: str,
    decisions: Sequence[Decision],
    *,
    actor: str,
    via: str,
    run_id: str | None = None,
) -> list[int]:
    """Append checked decisions with one audit event each (call inside a transaction); their ids in input order.

    Set-based: one INSERT of the decisions and one of their audit events, whatever their number. A statement per
    decision took 38 ms each (a whole month's bulk approval: minutes)."""
    if not (actor or "").strip():
        raise DecisionError(["who decides? the reviewer (actor) is required"])
    if not decisions:
        return []
    now = wh.now_utc()
    batch = [{"seq": i, "charge_id": d.charge_id, "row_hash": d.row_hash, "decision": d.decision,
              "note": d.note.strip(), "origin": d.origin, **{f: d.corrections().get(f) for f in CORRECTABLE}}
             for i, d in enumerate(decisions)]
    con.register("decision_batch", pa.Table.from_pylist(batch, schema=_BATCH_SCHEMA))
    try:
        rows = con.execute(
            """INSERT INTO review_decisions (billing_month, charge_id, row_hash, decision, note, actor, decided_at,
                   via, origin, pi_email, project_id, fund_org, billed_cost, review_reasons, run_id)
               SELECT v.billing_month, v.charge_id, coalesce(b.row_hash, v.row_hash), b.decision, b.note, $actor,
                      $now, $via, b.origin, b.pi_email, b.project_id, b.fund_org, v.billed_cost, v.review_reasons,
                      $run_id
               FROM decision_batch b JOIN charges_validated v ON v.billing_month = $month AND v.charge_id = b.charge_id
               ORDER BY b.seq
               RETURNING charge_id, decision_id, billed_cost, review_reasons""",
            {"actor": actor, "now": now, "via": via, "run_id": run_id, "month": month},
        ).fetchall()
    finally:
        con.unregister("decision_batch")
    found = {charge: (decision_id, billed, reasons) for charge, decision_id, billed, reasons in rows}
    missing = [d.charge_id for d in decisions if d.charge_id not in found]
    if missing or len(rows) != len(decisions):
        raise DecisionError([f"charge {c}: no such charge in billing month {month}" for c in missing] or
                            ["a charge was decided twice in the same batch"])
    events = []
    for i, d in enumerate(decisions):
        decision_id, billed, reasons = found[d.charge_id]
        details = {"decision_id": decision_id, "note": d.note.strip(), "via": via, "origin": d.origin,
                   "billed_cost": billed, "reasons": list(reasons or []), **d.corrections()}
        events.append({"seq": i, "action": f"review_{d.decision}", "subject": d.charge_id,
                       "details": json.dumps(details, default=_audit_json)})
    con.register("decision_events", pa.Table.from_pylist(events, schema=_AUDIT_SCHEMA))
    try:
        con.execute(
            "INSERT INTO audit_events (occurred_at, actor, action, period, run_id, subject, details) "
            "SELECT ?, ?, action, ?, ?, subject, CAST(details AS JSON) FROM decision_events ORDER BY seq",
            [now, actor, month, run_id],
        )
    finally:
        con.unregister("decision_events")
    return [found[d.charge_id][0] for d in decisions]


def record_decisions(
    con: duckdb.DuckDBPyConnection,
    month: str,
    decisions: Iterable[Decision],
    *,
    actor: str,
    via: str,
    run_id: str | None = None,
    fund_org_patterns: Sequence[str] = (),
) -> list[int]:
    """Check and append decisions in one transaction: all are recorded, or none (DecisionError).

    Refused for a closed or finalized month (PeriodLockedError, whose message says what to do).
    """
    decisions = list(decisions)
    if not decisions:
        raise DecisionError(["no charges matched; nothing to decide"], header="no decisions")
    with wh.transaction(con):
        wh.ensure_period_open(con, month, actor or "unknown", action="recording review decisions")
        problems = check_decisions(con, month, decisions, fund_org_patterns=fund_org_patterns)
        if problems:
            raise DecisionError(problems)
        return insert_decisions(con, month, decisions, actor=actor, via=via, run_id=run_id)


def month_decisions(con: duckdb.DuckDBPyConnection, month: str) -> list[dict[str, Any]]:
    """Every decision of the month, oldest first (the append-only log)."""
    cursor = con.execute(
        """SELECT decision_id, charge_id, decision, note, actor, decided_at, via, origin, pi_email, project_id,
                  fund_org, billed_cost, row_hash
           FROM review_decisions WHERE billing_month = ? ORDER BY decision_id""",
        [month],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
