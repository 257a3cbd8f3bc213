"""The demo's review decisions: what a reviewer would typically do with the sample month's queue.

Plain rules, no Dagster: a charge with no owner is rejected (in real life the reviewer would find the
PI and correct it), a malformed fund that normalises to a valid one is corrected, everything else
(review-pattern hits, month mismatches) is approved after a look.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from ocb_pipelines.core import patterns
from ocb_pipelines.review.decisions import Decision

NO_OWNER = ("missing_pi_email", "invalid_pi_email", "missing_project", "missing_fund_org", "invalid_tags")


def normalise_fund(fund: str | None) -> str:
    """`chem_100234`, ` CHEM-100234 `, `CHEM100234` -> `CHEM-100234`."""
    text = (fund or "").strip().upper().replace("_", "-")
    return re.sub(r"^([A-Z]+)-?([0-9]+)$", r"\1-\2", text)


def demo_decisions(pending: Iterable[dict[str, Any]], fund_org_patterns: Sequence[str]) -> list[Decision]:
    decisions = []
    for charge in pending:
        reasons = set(charge.get("review_reasons") or [])
        charge_id = charge["charge_id"]
        if reasons & set(NO_OWNER):
            decisions.append(Decision(charge_id, "reject", "demo: no owner in the tags; not billable as sent"))
        elif "invalid_fund_org" in reasons:
            fixed = normalise_fund(charge.get("fund_org"))
            if any(patterns.full_match(p, fixed, ignore_case=True) for p in fund_org_patterns):
                decisions.append(Decision(charge_id, "correct", f"demo: fund written as {charge.get('fund_org')!r}",
                                          fund_org=fixed))
            else:
                decisions.append(Decision(charge_id, "reject", "demo: fund unknown to the grants office"))
        else:
            decisions.append(Decision(charge_id, "approve", "demo: reviewed, billable"))
    return decisions
