"""Review decisions: an append-only record of approve / reject / correct, checked and written with their audit.

Plain functions over a DuckDB connection (no Dagster): the review service, the review-sheet runs and the
`review_decisions` asset's Launchpad config all record decisions through `record_decisions` (bulk selections:
review/bulk.py). What the decisions amount to (the queue, the statuses, stale decisions) is review/state.py;
its names are importable from here too, as callers have always imported them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

from ocb_pipelines.core import patterns
from ocb_pipelines.core.money import exact_text
from ocb_pipelines.core.review_reasons import EMAIL_RE
from ocb_pipelines.review.state import (
    DECISIONS,
    STALE_REASON,
    STATE_COLUMNS,
    STATE_SQL,
    STATUSES,
    charge_id_table,
    charge_states,
    queue_conditions,
    stale_explanation,
    state_relation_sql,
)
from ocb_pipelines.review.summary import ReviewSummary, pending_count, summarize_review
from ocb_pipelines.warehouse import database as wh

__all__ = [  # the state's names stay importable from here (periods, ledger, statements, the CLI read them)
    "CORRECTABLE", "DECISIONS", "STALE_REASON", "STATE_COLUMNS", "STATE_SQL", "STATUSES", "Decision",
    "DecisionError", "ReviewSummary", "charge_states", "check_decisions", "clean_value", "current_attribution",
    "insert_decisions", "month_decisions", "normalize_decision", "origin_decisions", "pending_count",
    "record_decisions", "select_charge_ids", "stale_explanation", "state_relation_sql", "summarize_review",
    "with_origin",
]  # fmt: skip
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
    project: str | None = None,
    service: str | None = None,
    text: str | None = None,
) -> list[str]:
    """The charges a bulk decision applies to.

    `--id` names charges directly (any charge of the month, e.g. to reject an unflagged one or to
    change one's mind); filters (those of the queue: source, reason, PI, project, service, free text) and
    `--all` take the charges still pending review. A call with no selector is refused, so a slip of the
    keyboard never approves a whole month.
    """
    if not (ids or source or reason or pi or project or service or (text or "").strip() or everything):
        raise DecisionError(["say which charges: --id ID, --source, --reason, --pi, or --all for the whole queue"],
                            header="no charges selected")
    statuses = None if ids else ("pending",)
    where, params = queue_conditions(ids, source, reason, pi, statuses, project=project, text=text, service=service)
    found = [r[0] for r in con.execute(
        f"SELECT charge_id FROM ({state_relation_sql(where, statuses)}) ORDER BY charge_id", {"month": month, **params}
    ).fetchall()]  # fmt: skip
    missing = sorted(set(ids) - set(found))
    if missing:
        raise DecisionError([f"charge {c}: no such charge in billing month {month}" for c in missing])
    return found


RAW_ROW_PRESENT = "(raw row present)"  # current_attribution's row_hash of a charge no decision pins a row_hash for


def current_attribution(
    con: duckdb.DuckDBPyConnection, month: str, decisions: Sequence[Decision]
) -> dict[str, tuple[Any, Any, Any, Any]]:
    """Each decided charge's row_hash, pi_email, project_id and fund_org as validated now (absent: no such charge).

    The row_hash is None when a later import replaced the charge's raw row. It is an md5 of the raw row only for
    the decisions that pin one (a review sheet's), else RAW_ROW_PRESENT: a bulk decision of a whole month's queue
    then reads no raw row, not every column of each (a third of its time at a million lines)."""
    # A raw row is there while its import's record is (an import's rows go with it: review.state's `decided`).
    with charge_id_table(con, {d.charge_id for d in decisions}) as chosen:
        found = con.execute(
            f"""SELECT v.charge_id, i.import_key IS NOT NULL, v.pi_email, v.project_id, v.fund_org
                FROM validated_lines v SEMI JOIN {chosen} k ON k.charge_id = v.charge_id
                LEFT JOIN imports i ON i.import_id = v.import_id AND i.billing_month = v.billing_month
                WHERE v.billing_month = ?""", [month]).fetchall()
    pinned = {d.charge_id for d in decisions if d.row_hash is not None}
    hashes: dict[str, Any] = {}
    if pinned:
        with charge_id_table(con, pinned) as chosen:
            hashes = dict(con.execute(
                f"""SELECT v.charge_id, {wh.RAW_ROW_HASH} FROM validated_lines v
                    SEMI JOIN {chosen} k ON k.charge_id = v.charge_id {wh.RAW_ROW_JOIN}
                    WHERE v.billing_month = ?""", [month]).fetchall())
    return {c: ((hashes.get(c) if c in hashes else RAW_ROW_PRESENT) if there else None, pi, p, f)
            for c, there, pi, p, f in found}


def check_decisions(
    con: duckdb.DuckDBPyConnection,
    month: str,
    decisions: Sequence[Decision],
    *,
    fund_org_patterns: Sequence[str] = (),
    current: Mapping[str, tuple[Any, Any, Any, Any]] | None = None,
) -> list[str]:
    """Every problem with a batch of decisions (empty when all can be recorded). `current`: their
    current_attribution, when the caller has it already."""
    problems: list[str] = []
    current = current_attribution(con, month, decisions) if current is None else current
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
                            f"{month} again (`ocb ingest` does, or materialise charges_validated for {month} in the "
                            "Dagster UI) and decide on the new data")
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
    fixes = [d.corrections() for d in decisions]
    batch = [{"seq": i, "charge_id": d.charge_id, "row_hash": d.row_hash, "decision": d.decision,
              "note": d.note.strip(), "origin": d.origin, **{f: fixes[i].get(f) for f in CORRECTABLE}}
             for i, d in enumerate(decisions)]
    con.register("decision_batch", pa.Table.from_pylist(batch, schema=_BATCH_SCHEMA))
    try:
        # The decided lines' raw rows only (the charges_validated view would hash every line of the month first).
        rows = con.execute(
            f"""INSERT INTO review_decisions (billing_month, charge_id, row_hash, decision, note, actor, decided_at,
                   via, origin, pi_email, project_id, fund_org, billed_cost, review_reasons, run_id, import_id)
               SELECT v.billing_month, v.charge_id, coalesce(b.row_hash, {wh.RAW_ROW_HASH}), b.decision, b.note,
                      $actor, $now, $via, b.origin, b.pi_email, b.project_id, b.fund_org, v.billed_cost,
                      v.review_reasons, $run_id, v.import_id
               FROM decision_batch b JOIN validated_lines v ON v.billing_month = $month AND v.charge_id = b.charge_id
               {wh.RAW_ROW_JOIN}
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
                   "billed_cost": billed, "reasons": list(reasons or []), **fixes[i]}
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
    origin: str | None = None,
) -> list[int]:
    """Check and append decisions in one transaction: all are recorded, or none (DecisionError).

    Refused for a closed or finalized month (PeriodLockedError, whose message says what to do). `origin` is
    stamped on each decision that has none (after the checks, so problems still name the charge alone).
    """
    decisions = list(decisions)
    if not decisions:
        raise DecisionError(["no charges matched; nothing to decide"], header="no decisions")
    with wh.transaction(con):
        wh.ensure_period_open(con, month, actor or "unknown", action="recording review decisions")
        problems = check_decisions(con, month, decisions, fund_org_patterns=fund_org_patterns)
        if problems:
            raise DecisionError(problems)
        return insert_decisions(con, month, with_origin(decisions, origin), actor=actor, via=via, run_id=run_id)


def with_origin(decisions: Sequence[Decision], origin: str | None) -> list[Decision]:
    """The decisions, each without an origin of its own given `origin` (e.g. the desk request they came from)."""
    return [d if d.origin or not origin else replace(d, origin=origin) for d in decisions]


def origin_decisions(con: duckdb.DuckDBPyConnection, month: str, origin: str) -> tuple[int, Decimal]:
    """How many decisions of the month were recorded from `origin`, and their billed money: whether a request
    (a desk request key) was already applied, read in the warehouse that recorded them."""
    count, billed = con.execute(
        "SELECT count(*), coalesce(sum(billed_cost), 0) FROM review_decisions WHERE billing_month = ? AND origin = ?",
        [month, origin],
    ).fetchall()[0]
    return count, billed


def month_decisions(con: duckdb.DuckDBPyConnection, month: str, *, latest: int | None = None) -> list[dict[str, Any]]:
    """Every decision of the month (or the `latest` ones), oldest first: the append-only log."""
    cursor = con.execute(
        f"""SELECT * FROM (
                SELECT decision_id, charge_id, decision, note, actor, decided_at, via, origin, pi_email, project_id,
                       fund_org, billed_cost, row_hash
                FROM review_decisions WHERE billing_month = ? ORDER BY decision_id DESC
                {f"LIMIT {int(latest)}" if latest else ""}
            ) ORDER BY decision_id""",
        [month],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
