"""What a candidate review.flag_patterns entry would flag in a month, before anyone edits the configuration.

The test is the real rule's own SQL (charges.attribution.pattern_hit_sql: RE2, found anywhere in the service,
resource id or resource name, ignoring case), run over the month's validated charges, whose service_name,
resource_id and resource_name are the raw row's ServiceName, ResourceId and ResourceName.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb

from ocb_pipelines.charges.attribution import pattern_hit_sql
from ocb_pipelines.core.patterns import check

CHARGE_COLUMNS = ("service_name", "resource_id", "resource_name")  # the charge's names for FLAGGED_COLUMNS


@dataclass(frozen=True)
class PatternPreview:
    """Every charge of `month` the pattern matches: how many and their billed money, how many of them no rule
    flags yet (`new_*`: the ones the pattern would add to the queue), and the first `charges`, largest first."""

    month: str
    pattern: str
    count: int = 0
    billed: Decimal = Decimal(0)
    new_count: int = 0
    new_billed: Decimal = Decimal(0)
    charges: list[dict[str, Any]] = field(default_factory=list)


def pattern_preview(con: duckdb.DuckDBPyConnection, month: str, pattern: str, *, limit: int = 100) -> PatternPreview:
    """The month's charges `pattern` would flag. A pattern RE2 cannot compile raises PatternError (ValueError)
    naming it, before any query runs."""
    check(pattern)
    hit = pattern_hit_sql(pattern, CHARGE_COLUMNS)
    count, billed, new_count, new_billed = con.execute(
        f"SELECT count(*), coalesce(sum(billed_cost), 0), count(*) FILTER (WHERE NOT needs_review), "
        f"coalesce(sum(billed_cost) FILTER (WHERE NOT needs_review), 0) "
        f"FROM charges_validated WHERE billing_month = ? AND ({hit})", [month]
    ).fetchall()[0]
    cursor = con.execute(
        f"SELECT charge_id, source, service_name, resource_id, resource_name, pi_email, project_id, billed_cost, "
        f"review_reasons FROM charges_validated WHERE billing_month = ? AND ({hit}) "
        f"ORDER BY billed_cost DESC, charge_id LIMIT ?", [month, limit]
    )
    names = [d[0] for d in cursor.description]
    charges = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return PatternPreview(month, pattern, count, billed, new_count, new_billed, charges)
