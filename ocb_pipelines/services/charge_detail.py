"""One charge with its lineage: the file it came from (name, sha256, FOCUS version, row number), its source and
import run, the raw values as the file wrote them (tags and x_ columns too), its attribution, every review reason
in words, its review status and every decision taken on it. The desk's charge page reads it; an auditor asking
"where does this amount come from" gets the answer down to the file's row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from ocb_pipelines.charges.attribution import reason_label
from ocb_pipelines.charges.lookup import charge_months
from ocb_pipelines.review import decisions as rd
from ocb_pipelines.services.context import AppContext

LINEAGE = ("billing_month", "source", "file_name", "file_sha256", "file_row_number", "focus_version",
           "expected_period", "imported_at", "run_id", "import_id", "adjusts_month")
# An adjustment line's origin (late data for a closed month, ingest/late.py): what it corrects, where it came from.
ADJUSTMENT_SQL = (
    "SELECT a.origin_month, a.origin_file, a.origin_row, a.corrects_charge_id, a.kind, a.billed_delta "
    "FROM validated_lines v JOIN imports i ON i.import_id = v.import_id AND i.billing_month = v.billing_month "
    "JOIN adjustment_lines a ON a.booked_month = v.billing_month AND a.source = i.source "
    "AND a.file_name = i.file_name AND a.file_row_number = v.file_row_number "
    "WHERE v.billing_month = ? AND v.charge_id = ?"
)


class ChargeNotFoundError(LookupError):
    """No charge with this id in the billing month."""


@dataclass(frozen=True)
class ChargeDetail:
    """`charge`: the review state (amounts, attribution, status, effective decision); `lineage`: where its row
    came from (None when a later import replaced the row and the month was not validated again); `raw`: the
    row's FOCUS values; `tags` and `x_columns` decoded from the file's JSON; `reasons`: code and words."""

    charge: dict[str, Any]
    lineage: dict[str, Any] | None
    raw: dict[str, Any]
    tags: dict[str, Any] | None
    x_columns: dict[str, Any]
    reasons: list[dict[str, str]]
    decisions: list[dict[str, Any]]
    adjustment: dict[str, Any] | None = None  # an adjustment to a closed month: its origin (ADJUSTMENT_SQL)

    def as_dict(self) -> dict[str, Any]:
        return {"charge": self.charge, "lineage": self.lineage, "raw": self.raw, "tags": self.tags,
                "x_columns": self.x_columns, "reasons": self.reasons, "decisions": self.decisions,
                "adjustment": self.adjustment}


def _json_object(text: Any) -> dict[str, Any] | None:
    """A JSON object from the file's text, or None when it is not one (the charge is then flagged invalid_tags)."""
    if text in (None, ""):
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _raw_row(con: duckdb.DuckDBPyConnection, month: str, charge_id: str) -> dict[str, Any] | None:
    """The charge's raw row in focus_raw (lineage columns included), through the import it was validated from."""
    cursor = con.execute(
        "SELECT r.* FROM validated_lines v JOIN focus_raw r ON r.import_id = v.import_id "
        "AND r.file_row_number = v.file_row_number AND r.billing_month = v.billing_month "
        "WHERE v.billing_month = ? AND v.charge_id = ?",
        [month, charge_id],
    )
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    return dict(zip(names, rows[0], strict=True)) if rows else None


def _plain(value: Any) -> Any:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value


def charge_detail(ctx: AppContext, month: str, charge_id: str) -> ChargeDetail:
    """The charge `charge_id` of `month` with its lineage, raw values, reasons and decisions (oldest first)."""
    with ctx.connection() as con:
        states = rd.charge_states(con, month, ids=[charge_id], statuses=None)
        if not states:
            raise ChargeNotFoundError(f"charge {charge_id}: no such charge in billing month {month}")
        raw = _raw_row(con, month, charge_id)
        decisions = [d for d in rd.month_decisions(con, month) if d["charge_id"] == charge_id]
        cursor = con.execute(ADJUSTMENT_SQL, [month, charge_id])
        origin = cursor.fetchall()
        adjustment = dict(zip([c[0] for c in cursor.description], origin[0], strict=True)) if origin else None
    state = {k: _plain(v) for k, v in states[0].items()}
    if state["stale"]:
        state["stale_explanation"] = rd.stale_explanation(states[0])
    lineage = {k: _plain(raw.pop(k)) for k in LINEAGE} if raw else None
    raw = {k: _plain(v) for k, v in (raw or {}).items()}
    x_columns = _json_object(raw.pop("x_columns", None)) or {}
    return ChargeDetail(
        charge=state, lineage=lineage, raw=raw, tags=_json_object(raw.get("Tags")), x_columns=x_columns,
        reasons=[{"code": r, "label": reason_label(r)} for r in state["queue_reasons"]],
        decisions=[{k: _plain(v) for k, v in d.items()} for d in decisions], adjustment=adjustment,
    )


def charge_month(ctx: AppContext, charge_id: str) -> str | None:
    """The billing month of the charge `charge_id` (the newest, should two hold it); None when no month does."""
    with ctx.connection() as con:
        months = charge_months(con, charge_id)
    return months[0] if months else None
