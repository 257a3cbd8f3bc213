"""Bulk review decisions (--all, --source, --reason, --pi): every charge that can be decided is, the rest stay
pending and are reported by cause (no Dagster).

A month's queue mixes charges that can be approved as they are with some that cannot (no fund_org, no pi_email):
refusing the whole batch for those few made bulk approval all or nothing, and its refusal one line per charge.
Here the decidable ones are recorded in one transaction, the others are counted by cause (`49 have no fund_org,
10 have no pi_email: correct or reject them`), and listings name at most MAX_LISTED charges, then a count.
`strict=True` keeps the all-or-nothing rule. Decisions on named charges (--id) stay all or nothing
(`decisions.record_decisions`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import duckdb

from ocb_pipelines.review.decisions import (
    CORRECTABLE,
    Decision,
    DecisionError,
    check_decisions,
    current_attribution,
    insert_decisions,
    with_origin,
)
from ocb_pipelines.warehouse import database as wh

MAX_LISTED = 20  # a refusal or a report names at most this many charges, then a count
MISSING = "{have} no {fields}"
STILL_MISSING = "would still have no {fields} after the correction"
REPLACED = ("{were} re-imported since the month was validated (validate it again: `ocb ingest` does, or "
            "materialise charges_validated for the month in the Dagster UI)")


def cause_text(cause: str, count: int) -> str:
    """`49 have no fund_org`, `1 has no pi_email`: a cause with its count."""
    return f"{count:,} " + cause.format(have="has" if count == 1 else "have", were="was" if count == 1 else "were")


@dataclass
class BulkOutcome:
    """What a bulk decision recorded, and what it left pending by cause (each charge under one cause)."""

    decision_ids: list[int]
    recorded: list[str]
    held: dict[str, list[str]]

    @property
    def held_ids(self) -> list[str]:
        return [c for ids in self.held.values() for c in ids]

    def summary(self) -> str:
        """`49 have no fund_org, 10 have no pi_email: correct or reject them`."""
        causes = ", ".join(cause_text(c, len(ids)) for c, ids in self.held.items())
        fixable = all(c.startswith(("{have} no ", "would still")) for c in self.held)
        return f"{causes}: " + ("correct or reject them" if fixable else "see `ocb review list` for each")

    def listing(self, limit: int = MAX_LISTED) -> list[str]:
        """One line per cause naming its charges, at most `limit` ids in all, then a count."""
        lines, budget = [], limit
        for cause, ids in self.held.items():
            shown = ids[:budget]
            budget -= len(shown)
            rest = len(ids) - len(shown)
            names = ", ".join(shown) + (f" and {rest:,} more" if shown and rest else "")
            lines.append(f"{cause_text(cause, len(ids))}: {names or f'{rest:,} not listed'}")
        return lines


def held_back(
    con: duckdb.DuckDBPyConnection,
    month: str,
    decisions: Sequence[Decision],
    *,
    fund_org_patterns: Sequence[str] = (),
) -> dict[str, list[str]]:
    """The charges of a bulk batch that cannot be decided as asked, by cause (each charge once): the usual ones
    (no pi_email / project_id / fund_org to approve, still missing after a correction, re-imported since
    validation) by field, anything else `check_decisions` refuses grouped by its words."""
    current = current_attribution(con, month, decisions)
    held: dict[str, list[str]] = {}
    rest: list[Decision] = []
    for d in decisions:
        row_hash, *original = current.get(d.charge_id, (None, None, None, None))
        cause = None
        if d.charge_id in current and row_hash is None:
            cause = REPLACED
        elif d.decision == "approve" and d.charge_id in current:
            missing = [f for f, v in zip(CORRECTABLE, original, strict=True) if not v]
            cause = MISSING.replace("{fields}", " / ".join(missing)) if missing else None
        elif d.decision == "correct" and d.charge_id in current:
            merged = dict(zip(CORRECTABLE, original, strict=True)) | d.corrections()
            missing = [f for f, v in merged.items() if not v]
            cause = STILL_MISSING.replace("{fields}", " / ".join(missing)) if missing else None
        if cause:
            held.setdefault(cause, []).append(d.charge_id)
        else:
            rest.append(d)
    prefix = "charge "
    for line in check_decisions(con, month, rest, fund_org_patterns=fund_org_patterns, current=current):
        charge, _, problem = line.removeprefix(prefix).partition(": ")
        if not line.startswith(prefix) or not problem:
            raise DecisionError([line])  # a problem not about one charge: the batch as a whole is wrong
        if charge in {c for ids in held.values() for c in ids}:
            continue
        generic = problem.replace(charge, "ID").replace("{", "{{").replace("}", "}}")
        held.setdefault(f"refused: {generic}" if generic else "refused", []).append(charge)
    return dict(sorted(held.items(), key=lambda item: (-len(item[1]), item[0])))  # the largest cause first


def record_bulk(
    con: duckdb.DuckDBPyConnection,
    month: str,
    decisions: Iterable[Decision],
    *,
    actor: str,
    via: str,
    run_id: str | None = None,
    fund_org_patterns: Sequence[str] = (),
    strict: bool = False,
    origin: str | None = None,
) -> BulkOutcome:
    """A bulk decision in one transaction: recorded for every charge it can be, the rest left pending and reported
    by cause. `strict`: all or nothing (DecisionError naming at most MAX_LISTED charges, then a count). `origin`:
    stamped on the recorded decisions (decisions.with_origin)."""
    decisions = list(decisions)
    if not decisions:
        raise DecisionError(["no charges matched; nothing to decide"], header="no decisions")
    with wh.transaction(con):
        wh.ensure_period_open(con, month, actor or "unknown", action="recording review decisions")
        outcome = BulkOutcome([], [], held_back(con, month, decisions, fund_org_patterns=fund_org_patterns))
        held = set(outcome.held_ids)
        if held and strict:
            kind = {"approve": "approved", "reject": "rejected", "correct": "corrected"}.get(decisions[0].decision, "")
            raise DecisionError(outcome.listing(), header=(
                f"--strict: {len(held):,} of {len(decisions):,} charge(s) cannot be {kind} ({outcome.summary()}); "
                "nothing was recorded"))
        chosen = [d for d in decisions if d.charge_id not in held]
        if chosen:
            outcome.decision_ids = insert_decisions(con, month, with_origin(chosen, origin), actor=actor, via=via,
                                                    run_id=run_id)
            outcome.recorded = [d.charge_id for d in chosen]
    return outcome
