"""Fixed fees as charges of the months they are due in, with lineage to the fee line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ocb_pipelines.charges.attribution import rules_from
from ocb_pipelines.charges.validate import build_validated
from ocb_pipelines.core.config import OcbSettings
from ocb_pipelines.periods.reconcile import reconcile
from ocb_pipelines.pricing.engine import months_affected, price_month
from ocb_pipelines.warehouse import database as wh
from ocb_pipelines_tests.pricing.pricing_helpers import focus, priced_settings, with_period

FEES = [
    "astro-survey,Rack co-location,250.00,monthly,2025-11-01,2026-02-28,",  # line 2: Nov..Feb
    "bio-lab,Support contract,900,quarterly,2025-12-15,,",  # line 3: Dec, Mar, Jun, ...
    "chem-sim,Allocation,1200.50,once,2026-01-10,,",  # line 4: January only
    "new-lab,Onboarding,75,once,2026-03-01,,facilities",  # line 5: a project in no accounts line, own source
    "astro-survey,Archive,10,yearly,2025-02-01,,",  # line 6: every February
]


@pytest.fixture
def con(workdir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with wh.connect(workdir / "data" / "warehouse.duckdb") as connection:
        yield connection


def fee_rows(con, month: str) -> list[tuple]:
    return [(r["source"], r["file_name"], r["file_row_number"], r["ServiceName"], r["BilledCost"])
            for r in focus(con, month, 'source, file_name, file_row_number, "ServiceName", "BilledCost"')]


def test_fees_are_due_by_their_frequency(settings: OcbSettings, tmp_path: Path, con) -> None:
    priced = priced_settings(settings, tmp_path, rates=[], fees=FEES)
    due = {}
    for month in ("2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04"):
        price_month(con, priced, month)
        due[month] = [(line, cost) for _, _, line, _, cost in fee_rows(con, month)]
    assert due == {
        "2025-11": [(2, "250")],
        "2025-12": [(2, "250"), (3, "900")],
        "2026-01": [(2, "250"), (4, "1200.5")],
        "2026-02": [(2, "250"), (6, "10")],
        "2026-03": [(5, "75"), (3, "900")],  # facilities' import sorts first
        "2026-04": [],
    }


def test_a_fee_is_attributed_through_the_accounts_file_and_keeps_its_line(settings: OcbSettings, tmp_path: Path,
                                                                          con) -> None:
    priced = priced_settings(settings, tmp_path, rates=[], fees=FEES)
    with_period(con, "2026-03")
    summary = price_month(con, priced, "2026-03")
    assert fee_rows(con, "2026-03") == [("facilities", "fees.csv", 5, "Onboarding", "75"),
                                        ("fees", "fees.csv", 3, "Support contract", "900")]
    onboarding, support = focus(con, "2026-03")
    assert json.loads(support["Tags"]) == {"pi_email": "bea@example.edu", "project_id": "bio-lab",
                                           "fund_org": "BIOL-200200"}
    assert json.loads(onboarding["Tags"]) == {"project_id": "new-lab"}  # no account line: the project alone
    assert (support["ChargeCategory"], support["ChargeFrequency"], onboarding["ChargeFrequency"]) == (
        "Purchase", "Recurring", "One-Time")
    assert json.loads(support["x_columns"])["x_ocb_fee_line"] == 3
    assert summary.by_source == [
        {"source": "facilities", "rows": 1, "quantity": 1, "unit": "fee", "list": 75, "billed": 75},
        {"source": "fees", "rows": 1, "quantity": 1, "unit": "fee", "list": 900, "billed": 900}]

    validated = build_validated(con, "2026-03", rules_from(priced))
    assert (validated.rows, validated.flagged_rows, validated.flagged_billed) == (2, 1, Decimal(75))
    figures = reconcile(con, "2026-03")  # the fees' import records carry their totals: the catalog matches
    assert figures.recorded_billed == figures.imported_billed == Decimal(975) and not figures.problems()


def test_months_with_fees_due_are_affected_until_priced(settings: OcbSettings, tmp_path: Path, con) -> None:
    priced = priced_settings(settings, tmp_path, rates=[], fees=["chem-sim,Allocation,100,once,2026-01-10,,"])
    with_period(con, "2025-12")  # the warehouse knows December onwards
    assert months_affected(con, priced) == [{"month": "2026-01", "status": "open", "reason": "it was never priced"}]
    price_month(con, priced, "2026-01")
    assert months_affected(con, priced) == []
    (tmp_path / "fees.csv").write_text("project_id,service_name,amount,frequency,valid_from\n", encoding="utf-8")
    assert months_affected(con, priced) == [{"month": "2026-01", "status": "open",
                                             "reason": "the fees file (fees.csv)"}]
    removed = price_month(con, priced, "2026-01")
    assert removed.priced_rows == 0 and focus(con, "2026-01") == []
    assert con.execute("SELECT count(*) FROM import_files WHERE billing_month = '2026-01'").fetchall()[0][0] == 0
