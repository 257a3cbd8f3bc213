"""What a month was priced with (pricing_runs), and what it would be priced with now: whether pricing it again
would change anything, and in words what changed.

A month's pricing depends on the inputs (files, rules, currency, tag keys: inputs.pricing_inputs), its usage
imports (which files, which import of each) and, for credit rules, what earlier months applied of each credit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb

from ocb_pipelines.core.money import exact_text
from ocb_pipelines.core.pricing_config import SubsidyRule

USAGE_VERSIONS = ("slurm-sacct", "storage-usage")  # imports.focus_version of the usage imports pricing reads
FEES_VERSION = "fees"
SUBSIDY_VERSION = "subsidy-rules"
PRICED_VERSIONS = (*USAGE_VERSIONS, FEES_VERSION, SUBSIDY_VERSION)  # imports whose focus_rows pricing writes

INPUT_NAMES = {"rates": "the rates file", "fees": "the fees file", "accounts": "the accounts file",
               "subsidies": "the subsidy rules (pricing.subsidies)", "currency": "the currency (currency.code)",
               "tag_mapping": "the tag keys (tag_mapping)"}


def versions_sql(versions: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in versions)


@dataclass(frozen=True)
class PricedRun:
    """The last pricing of a month: the inputs' digest and what went in."""

    inputs_sha256: str
    inputs: dict[str, Any]


def month_state(con: duckdb.DuckDBPyConnection, month: str, rules: list[SubsidyRule]) -> dict[str, Any]:
    """The month's own inputs: its usage imports (source, file, sha256, import id) and, per credit rule in force,
    what earlier months applied of it."""
    usage = [list(row) for row in con.execute(
        f"SELECT source, file_name, file_sha256, import_id FROM imports WHERE billing_month = ? "
        f"AND focus_version IN ({versions_sql(USAGE_VERSIONS)}) ORDER BY source, file_name, import_id",
        [month]).fetchall()]
    credits = {}
    for rule in rules:
        if rule.kind == "credit" and rule.applies_in(month):
            (applied,) = con.execute(
                "SELECT coalesce(sum(amount), 0) FROM subsidy_applications WHERE rule_id = ? AND billing_month < ?",
                [rule.id, month]).fetchall()[0]
            credits[rule.id] = exact_text(applied)
    return {"usage": usage, "credits_before": credits}


def last_run(con: duckdb.DuckDBPyConnection, month: str) -> PricedRun | None:
    rows = con.execute(
        "SELECT inputs_sha256, inputs FROM pricing_runs WHERE billing_month = ? ORDER BY priced_at DESC, rowid DESC "
        "LIMIT 1", [month]).fetchall()
    if not rows:
        return None
    sha, inputs = rows[0]
    return PricedRun(sha, json.loads(inputs) if isinstance(inputs, str) else dict(inputs))


def changes(last: PricedRun | None, sha: str, described: dict[str, Any], state: dict[str, Any]) -> list[str]:
    """In words, what differs between the month's last pricing and now (empty: pricing again changes nothing)."""
    if last is None:
        return ["it was never priced"]
    found = []
    if last.inputs_sha256 != sha:
        for key, name in INPUT_NAMES.items():
            before, now = last.inputs.get(key), described.get(key)
            if before != now:
                file = f" ({(now or before or {}).get('file')})" if isinstance(now or before, dict) else ""
                found.append(f"{name}{file}")
        if not found:
            found.append("the pricing inputs")
    if last.inputs.get("usage") != state["usage"]:
        found.append("its usage imports (a usage file was imported since)")
    if last.inputs.get("credits_before", {}) != state["credits_before"]:
        found.append("the credits earlier months applied")
    return found
