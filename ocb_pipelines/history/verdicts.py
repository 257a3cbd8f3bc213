"""OpenChargeback's review state of each charge, as this project records review (no Dagster).

OpenChargeback billed a charge when it was neither flagged (`needs_review`) nor rejected. Here that becomes:
  rejected (rejected_at)                      a `reject` decision, by rejected_by at rejected_at
  unflagged with a review time (reviewed_at)  an `approve` decision, by reviewed_by at reviewed_at
  still flagged                               pending, with its reason
  neither                                     unflagged
The decision's note is the rejection note or the web's review log note; who is `openchargeback` when
OpenChargeback recorded nobody (its CLI's approve-all). Its attribution (pi_email trimmed and lower-cased, the
others trimmed) replaces what today's tag mapping would find, so the history bills what it billed.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ocb_pipelines.history.openchargeback_db import OcbDatabase, OcbMonth, is_true

ACTOR = "openchargeback"
ATTRIBUTION = ("pi_email", "project_id", "fund_org", "reference_1", "reference_2")
ATTRIBUTION_SCHEMA = pa.schema([("file_name", pa.string()), ("file_row_number", pa.int64()),
                                *((f, pa.string()) for f in ATTRIBUTION), ("review_reasons", pa.list_(pa.string()))])
DECISION_SCHEMA = pa.schema([("file_name", pa.string()), ("file_row_number", pa.int64()), ("decision", pa.string()),
                             ("note", pa.string()), ("actor", pa.string()), ("decided_at", pa.timestamp("us")),
                             ("origin", pa.string())])


def verdicts(db: OcbDatabase, month: OcbMonth) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
    """Per charge its attribution and review reasons, its decision (if any), and the review log rows no decision
    used (an approval that a re-import flagged again, say)."""
    logs: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for entry in month.review_logs:
        logs.setdefault((entry["charge_id"], entry["action"]), []).append(entry)
    attribution, decisions = [], []
    file_names = {i: f"{db.path.name} [{s['name']}]" for i, s in db.sources.items()}
    for c in month.charges:
        file_name = file_names[c["source_id"]]
        flagged = is_true(c["needs_review"])
        decision = "reject" if c["rejected_at"] else "approve" if c["reviewed_at"] and not flagged else None
        reasons = [c["review_reason"] or "flagged_in_openchargeback"] if flagged or (
            decision and c["review_reason"]) else []
        values = {f: (str(c[f]).strip() or None) if c[f] is not None else None for f in ATTRIBUTION}
        values["pi_email"] = values["pi_email"].lower() if values["pi_email"] else None
        attribution.append({"file_name": file_name, "file_row_number": c["id"], **values, "review_reasons": reasons})
        if decision is None:
            continue
        past = "approved" if decision == "approve" else "rejected"
        log = (logs.get((c["id"], past)) or [None]).pop()  # the latest log row of that action; older ones stay
        rejected = decision == "reject"
        who = c["rejected_by"] if rejected else c["reviewed_by"]
        at = c["rejected_at"] if rejected else c["reviewed_at"]
        note = (c["rejection_note"] if rejected else None) or (log["note"] if log else None) or ""
        decisions.append({"file_name": file_name, "file_row_number": c["id"], "decision": decision,
                          "note": note.strip() or f"{past} in OpenChargeback",
                          "actor": (who or (log["performed_by"] if log else None) or ACTOR).strip() or ACTOR,
                          "decided_at": at or (log["performed_at"] if log else None),
                          "origin": f"{file_name} charges id {c['id']}"})
    unused = [e for entries in logs.values() for e in entries]
    return attribution, decisions, unused

