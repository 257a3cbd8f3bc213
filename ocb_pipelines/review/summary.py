"""What a month's review state amounts to: counts and money by status, the queue by reason and source, and the
decisions' state with its fingerprint (no Dagster).

Read by the review asset's metadata, the close and the exports, the desk's overview and the history import. The
state itself (each charge with its effective decision, the queue) is review/state.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from ocb_pipelines.review.state import (
    DECIDED_ONLY,
    DECISIONS,
    LINES_STATE_SQL,
    REVIEWED_ONLY,
    STATUSES,
    charge_states,
    state_sql,
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
    # By source and status in one pass over the validated lines (their raw rows are not needed for this).
    grouped = con.execute(
        f"SELECT source, review_status, count(*), coalesce(sum(billed_cost), 0) FROM ({LINES_STATE_SQL}) "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        params,
    ).fetchall()
    by_status: dict[str, tuple[int, Decimal]] = {}
    index: dict[str, dict[str, Any]] = {}
    for src, st, n, b in grouped:
        rows, billed = by_status.get(st, (0, Decimal(0)))
        by_status[st] = (rows + n, billed + b)
        row = index.setdefault(src, {"source": src, **{f"{x}_rows": 0 for x in STATUSES},
                                     **{f"{x}_billed": Decimal(0) for x in STATUSES}})
        row[f"{st}_rows"], row[f"{st}_billed"] = n, b
    by_reason = [
        {"reason": r, "rows": n, "billed": b}
        for r, n, b in con.execute(
            f"""SELECT reason, count(*), sum(billed_cost) FROM (
                    SELECT unnest(queue_reasons) AS reason, billed_cost FROM ({state_sql("validated_lines",
                                                                                          REVIEWED_ONLY)})
                    WHERE review_status = 'pending')
                GROUP BY reason ORDER BY count(*) DESC, reason""",
            params,
        ).fetchall()
    ]
    stale = charge_states(con, month, statuses=None, stale_only=True)  # not every charge of the month into Python
    orphaned, total = con.execute(
        """SELECT count(DISTINCT d.charge_id) FILTER (WHERE v.charge_id IS NULL), count(*)
           FROM review_decisions d LEFT JOIN validated_lines v
             ON v.charge_id = d.charge_id AND v.billing_month = d.billing_month
           WHERE d.billing_month = ?""",
        [month],
    ).fetchall()[0]
    return ReviewSummary(month, by_status, by_reason, list(index.values()), stale, orphaned, total)


def pending_count(con: duckdb.DuckDBPyConnection, month: str) -> tuple[int, Decimal]:
    """Charges still waiting for a decision (flagged or stale), and their billed money."""
    return tuple(con.execute(
        f"SELECT count(*), coalesce(sum(billed_cost), 0) FROM ({state_sql('validated_lines', REVIEWED_ONLY)}) "
        "WHERE review_status = 'pending'",
        {"month": month},
    ).fetchall()[0])  # type: ignore[return-value]



@dataclass(frozen=True)
class DecisionState:
    """The month's decision state: each decided charge's effective decision, counted and summed by decision
    (exact money), the stale ones apart, and a fingerprint of the set (charge, decision id, status)."""

    month: str
    by_decision: dict[str, tuple[int, Decimal]]  # approve / reject / correct: effective (not stale) decisions
    stale: tuple[int, Decimal]
    logged: int  # decisions in the month's append-only log, superseded ones included
    fingerprint: str  # md5 of the decided set: equal states, equal fingerprints

    @property
    def decided_charges(self) -> int:
        return sum(n for n, _ in self.by_decision.values())

    @property
    def decided_billed(self) -> Decimal:
        return sum((b for _, b in self.by_decision.values()), Decimal(0))


def decision_state(con: duckdb.DuckDBPyConnection, month: str) -> DecisionState:
    """What the decisions of the month amount to now, read from the warehouse whatever route they came by."""
    decided = state_sql("validated_lines", DECIDED_ONLY)  # the decided lines only, without their raw rows
    rows = con.execute(
        f"SELECT decision, stale, count(*), sum(billed_cost) FROM ({decided}) WHERE decision_id IS NOT NULL "
        "GROUP BY ALL",
        {"month": month},
    ).fetchall()
    by_decision = {d: (0, Decimal(0)) for d in DECISIONS}
    stale_rows, stale_billed = 0, Decimal(0)
    for decision, stale, count, billed in rows:
        if stale:
            stale_rows, stale_billed = stale_rows + count, stale_billed + billed
        else:
            by_decision[decision] = (count, billed)
    fingerprint, logged = con.execute(
        f"""SELECT (SELECT md5(coalesce(string_agg(concat_ws(':', charge_id, decision_id, review_status), ','
                        ORDER BY charge_id), '')) FROM ({decided}) WHERE decision_id IS NOT NULL),
                   (SELECT count(*) FROM review_decisions WHERE billing_month = $month)""",
        {"month": month},
    ).fetchall()[0]
    return DecisionState(month, by_decision, (stale_rows, stale_billed), logged, fingerprint)
