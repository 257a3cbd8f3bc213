"""Fixed fees (co-location, support contracts, allocations) as charges of the month they are due in.

Each fee due in the month (FeeLine.bills_in) is one charge at the fees file's line number, under one import per
fee source (file = the fees file), so it keeps its lineage like any imported row. It is attributed through the
accounts file by its project_id (the first account line of that project gives the PI, fund and group); a
project with no account line gets its project tag only, and validation sends the charge to review.
"""

from __future__ import annotations

import json
from datetime import datetime

import duckdb

from ocb_pipelines.pricing.bulk import insert_rows
from ocb_pipelines.pricing.files import AccountLine, FeeLine
from ocb_pipelines.pricing.focus_out import CHARGES_INSERT_TARGET
from ocb_pipelines.pricing.inputs import PricingInputs

FEE_FREQUENCY = {"monthly": "Recurring", "quarterly": "Recurring", "yearly": "Recurring", "once": "One-Time"}


def due_fees(inputs: PricingInputs, month: str) -> list[FeeLine]:
    """The fees charged in the month, in file order."""
    return [fee for fee in inputs.fees if fee.bills_in(month)]


def fee_sources(fees: list[FeeLine]) -> list[str]:
    """The sources the month's fees are booked under (one import each), sorted."""
    return sorted({fee.source for fee in fees})


def _payer(accounts: list[AccountLine], project_id: str) -> AccountLine | None:
    wanted = project_id.casefold()
    return next((a for a in sorted(accounts, key=lambda a: a.line) if a.project_id.casefold() == wanted), None)


def insert_fee_charges(con: duckdb.DuckDBPyConnection, month: str, inputs: PricingInputs, fees: list[FeeLine],
                       import_keys: dict[str, int]) -> None:
    """The due fees into pricing_charges (ChargeCategory Purchase: a fixed fee, not metered usage)."""
    if not fees:
        return
    year, mon = int(month[:4]), int(month[5:])
    start = datetime(year, mon, 1)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1)
    rows = []
    for fee in fees:
        payer = _payer(inputs.accounts, fee.project_id)
        extras = {"x_ocb_fee_line": fee.line, "x_ocb_frequency": fee.frequency,
                  "x_ocb_valid_from": fee.valid_from.isoformat(),
                  "x_ocb_valid_to": fee.valid_to.isoformat() if fee.valid_to else None}
        rows.append([
            import_keys[fee.source], fee.line, fee.source, inputs.fees_file, "fee",
            payer.account if payer else None, payer.pi_email if payer else None,
            payer.project_id if payer else fee.project_id, payer.fund_org if payer else None,
            payer.group.lower() if payer else "", fee.service_name, "Other", f"fee:{fee.project_id}",
            fee.service_name, "Fee", f"{fee.service_name}: {fee.frequency} fee of project {fee.project_id}",
            start, end, start, "Purchase", FEE_FREQUENCY[fee.frequency], "fee", 1, fee.amount, fee.amount,
            fee.amount, fee.amount, _json(extras),
        ])
    insert_rows(
        con, CHARGES_INSERT_TARGET,
        rows,
    )


def _json(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"))
