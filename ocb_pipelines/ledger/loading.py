"""What a journal or a listing is built from: the month's approved charges, summed in the warehouse (no Dagster).

Sums stay exact DECIMAL inside DuckDB; the builders (ledger/journal.py, ledger/layouts.py) only round at the end.
The groups carry their project's funding split in force (`funding.splits_file`), except charges whose fund a
reviewer corrected, and the line of their statement's split allocation (pricing/shares.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb

from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.ledger.journal import ChargeGroup, JournalRefused
from ocb_pipelines.pricing.files import PricingFileError
from ocb_pipelines.pricing.shares import FUND_CORRECTED_SQL, Split, load_splits, split_line_key
from ocb_pipelines.warehouse.schema.adjustments import APPROVED_WITH_ORIGIN

REFERENCE_FIELDS = ("reference_1", "reference_2")


def _reference_column(settings: OcbSettings) -> str:
    field = settings.journal.reference_field
    return field if field in REFERENCE_FIELDS else "NULL"


def month_splits(settings: OcbSettings, month: str) -> dict[str, Split]:
    """The funding splits in force for the month by project_id; a refused splits file refuses the journal."""
    try:
        return load_splits(settings.funding.splits_file, month)
    except PricingFileError as exc:
        raise JournalRefused(month, [f"funding.splits_file: {exc}"]) from None


def load_groups(con: duckdb.DuckDBPyConnection, settings: OcbSettings, month: str) -> list[ChargeGroup]:
    """Approved charges summed in the warehouse by everything the journal groups on (exact DECIMAL sums), each
    group with its project's funding split unless a reviewer corrected its charges' fund. With splits in force,
    also by both references, the split allocation's lines (pricing.shares.split_line_key, as statements)."""
    ref = _reference_column(settings)
    splits = month_splits(settings, month)
    corrected, refs = ((FUND_CORRECTED_SQL, "reference_1, reference_2") if splits else ("FALSE", "NULL, NULL"))
    rows = con.execute(
        f"""SELECT source, fund_org, account_code, {ref} AS reference, pi_email, project_id,
                   {corrected} AS fund_corrected, {refs}, origin_month, sum(billed_cost), count(*)
            FROM ({APPROVED_WITH_ORIGIN}) WHERE billing_month = ?
            GROUP BY ALL ORDER BY ALL""",
        [month],
    ).fetchall()
    groups = []
    for s, f, a, r, p, pr, fixed, r1, r2, origin, b, n in rows:
        split = splits.get((pr or "").strip(" "), []) if (pr or "").strip(" ") else []
        groups.append(ChargeGroup(s, f, a, r, p, pr, Decimal(b), int(n), () if fixed else tuple(split),
                                  split_line_key(s, a, r1, r2, origin) if split else (), origin_month=origin))
    return groups


def load_charges(con: duckdb.DuckDBPyConnection, settings: OcbSettings, month: str) -> list[dict[str, Any]]:
    ref = _reference_column(settings)
    cursor = con.execute(
        f"""SELECT charge_id, source, pi_email, project_id, fund_org, account_code, {ref} AS reference,
                   service_name, resource_id, resource_name, file_name, file_row_number, billed_cost
            FROM charges_approved WHERE billing_month = ?
            ORDER BY source, file_name, file_row_number, charge_id""",
        [month],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def load_service_groups(con: duckdb.DuckDBPyConnection, month: str) -> list[tuple[Any, ...]]:
    """(pi_email, project_id, fund_org, service_name, exact billed sum, charges) of the month's approved charges."""
    return con.execute(
        """SELECT pi_email, project_id, fund_org, service_name, sum(billed_cost), count(*)
           FROM charges_approved WHERE billing_month = ?
           GROUP BY ALL""",
        [month],
    ).fetchall()
