"""The rule of review_decisions' check: no decision on a charge the month does not have (no Dagster).

Every route that records decisions (ocb review, the desk, review sheets, the Launchpad) refuses an unknown
charge, so a decision whose charge is not among the month's validated charges was either written around those
rules, or its charge has since gone: a corrected file dropped or changed the line. Nothing billed is wrong
(a decision applies only to its own charge, and a charge that changed identity is back in the queue), so the
check warns rather than blocks; the listed decisions show which judgements no longer apply to anything.
"""

from __future__ import annotations

import duckdb

from ocb_pipelines.core.checks import CULPRITS_SHOWN, CheckOutcome
from ocb_pipelines.core.money import format_money

UNKNOWN_SQL = """
SELECT d.decision_id, d.charge_id, d.decision, d.actor, d.via, d.decided_at, d.billed_cost
FROM review_decisions d
WHERE d.billing_month = $month
  AND NOT EXISTS (SELECT 1 FROM validated_lines v WHERE v.billing_month = $month AND v.charge_id = d.charge_id)
ORDER BY d.decision_id
"""


def decisions_on_unknown_charges(con: duckdb.DuckDBPyConnection, month: str, symbol: str = "$") -> CheckOutcome:
    """Every decision of the month names one of its validated charges (see the module doc)."""
    decisions = con.execute("SELECT count(*) FROM review_decisions WHERE billing_month = ?", [month]).fetchall()[0][0]
    count = con.execute(f"SELECT count(*) FROM ({UNKNOWN_SQL})", {"month": month}).fetchall()[0][0]
    figures = {"decisions": decisions, "unknown_charge_decisions": count}
    if not count:
        return CheckOutcome(True, f"{month}: all {decisions:,} decision(s) name a charge of the month", figures)
    rows = con.execute(f"{UNKNOWN_SQL} LIMIT {CULPRITS_SHOWN}", {"month": month}).fetchall()
    culprits = [{"decision": i, "charge": c, "kind": k, "by": a, "via": v, "at": f"{t:%Y-%m-%d %H:%M}",
                 "billed then": format_money(b, symbol) if b is not None else ""}
                for i, c, k, a, v, t, b in rows]
    return CheckOutcome(
        False,
        f"{month}: {count:,} decision(s) name a charge that is not among the month's validated charges (its line "
        f"was dropped or changed by a corrected file, or the decision was written around the review rules); they "
        f"apply to nothing. Nothing billed changes; decide the month's queue again if a charge came back as new "
        f"(`ocb review list -p {month}`)",
        figures, culprits, culprit_count=count, warn_only=True)
